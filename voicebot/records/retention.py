"""Retention: what the records keep, and for how long, per kind of data.

- what was said (turn texts, the prompts played): VOICEBOT_RETAIN_TURNS_DAYS (30);
- the agent's summary and the saved context (slot values): VOICEBOT_RETAIN_SUMMARIES_DAYS
  (90);
- the call itself (times, flow, outcome, reason, queue, the keyed hash of the number, who
  took it): VOICEBOT_RETAIN_CALLS_DAYS (365); then nothing of the call is left;
- the audit log: VOICEBOT_RETAIN_AUDIT_DAYS (730).

A call's age is counted from its start. 0 keeps that kind (turns and summaries: as long
as the call). `purge` removes what has expired, or only counts it (`dry_run`); the service
runs it on a schedule, one host at a time (`acquire` takes a lock row in the shared
database, which expires by itself if its holder dies), and `voicebot records purge` on
demand. Removed rows are overwritten on SQLite (secure_delete) and the WAL emptied.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import sqlalchemy as sa

from voicebot.records.database import Database, now_iso
from voicebot.records.erasure import erase_traces
from voicebot.records.schema import audit_log, calls, handoffs, locks, prompts, turns
from voicebot.records.upsert import upsert
from voicebot.settings import Settings

DAY_S = 86400


@dataclass(frozen=True)
class Retention:
    calls_days: int = 365
    turns_days: int = 30
    summaries_days: int = 90
    audit_days: int = 730

    @classmethod
    def from_settings(cls, settings: Settings) -> Retention:
        return cls(settings.retain_calls_days, settings.retain_turns_days,
                   settings.retain_summaries_days, settings.retain_audit_days)


@dataclass
class Purge:
    """What a purge removed (or, dry, would remove)."""

    dry_run: bool
    cutoffs: dict[str, str] = field(default_factory=dict)  # kind -> calls started before
    calls: int = 0  # calls removed whole (with their turns, prompts, hand-offs)
    turns: int = 0  # turn rows of calls kept
    prompts: int = 0
    summaries: int = 0  # calls whose summary and context were cleared
    audit: int = 0
    affected: set[str] = field(default_factory=set, repr=False)  # calls changed (memory)

    @property
    def total(self) -> int:
        return self.calls + self.turns + self.prompts + self.summaries + self.audit

    def lines(self) -> list[str]:
        verb = "would remove" if self.dry_run else "removed"
        out = []
        for kind, count, what in (
                ("calls", self.calls, "calls (metadata, turns, prompts, hand-offs)"),
                ("turns", self.turns, "turn texts"), ("turns", self.prompts, "prompts"),
                ("summaries", self.summaries, "summaries and contexts"),
                ("audit", self.audit, "audit entries")):
            if kind in self.cutoffs:
                out.append(f"{verb} {count} {what} from before {self.cutoffs[kind]}")
        return out or ["every retention period is 0: nothing expires"]

    def detail(self) -> str:
        """For logs and the audit log: counts only."""
        return (f"calls={self.calls} turns={self.turns} prompts={self.prompts} "
                f"summaries={self.summaries} audit={self.audit}")


def _cutoff(days: int, now: float) -> str | None:
    return now_iso(now - days * DAY_S) if days > 0 else None


def purge(db: Database, retention: Retention, *, now: float | None = None,
          dry_run: bool = False) -> Purge:
    """Remove (or count) what has expired; see the module doc."""
    now = time.time() if now is None else now
    done = Purge(dry_run=dry_run)
    cut = {kind: _cutoff(days, now) for kind, days in (
        ("calls", retention.calls_days), ("turns", retention.turns_days),
        ("summaries", retention.summaries_days), ("audit", retention.audit_days))}
    done.cutoffs = {k: v for k, v in cut.items() if v is not None}
    # calls the first step removes whole are not counted again by the others
    kept = calls.c.started >= cut["calls"] if cut["calls"] else sa.true()
    with db.transaction("purge expired records", write=not dry_run) as conn:
        # `affected`: only the calls something is removed from (this round's, not every
        # old call), found before their rows go
        if cut["calls"]:
            old = sa.select(calls.c.call_sid).where(calls.c.started < cut["calls"])
            if not dry_run:
                done.affected.update(conn.execute(old).scalars())
            for table in (handoffs, turns, prompts):
                _remove(conn, table, table.c.call_sid.in_(old), dry_run)
            done.calls = _remove(conn, calls, calls.c.started < cut["calls"], dry_run)
        if cut["turns"]:
            old = sa.select(calls.c.call_sid).where(calls.c.started < cut["turns"], kept)
            if not dry_run:
                for table in (turns, prompts):
                    done.affected.update(conn.execute(sa.select(table.c.call_sid).distinct()
                                                      .where(table.c.call_sid.in_(old)))
                                         .scalars())
            done.turns = _remove(conn, turns, turns.c.call_sid.in_(old), dry_run)
            done.prompts = _remove(conn, prompts, prompts.c.call_sid.in_(old), dry_run)
        if cut["summaries"]:
            stale = sa.and_(calls.c.started < cut["summaries"], kept,
                            sa.or_(calls.c.summary.is_not(None), calls.c.context.is_not(None)))
            if dry_run:
                done.summaries = _count(conn, calls, stale)
            else:
                done.affected.update(conn.execute(
                    sa.select(calls.c.call_sid).where(stale)).scalars())
                done.summaries = conn.execute(
                    calls.update().where(stale).values(summary=None, context=None)).rowcount
        if cut["audit"]:
            done.audit = _remove(conn, audit_log, audit_log.c.at < cut["audit"], dry_run)
    if done.total and not dry_run:
        erase_traces(db, compact=False)
    return done


def _count(conn: sa.Connection, table: sa.Table, where: sa.ColumnElement[bool]) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar()


def _remove(conn: sa.Connection, table: sa.Table, where: sa.ColumnElement[bool],
            dry_run: bool) -> int:
    if dry_run:
        return _count(conn, table, where)
    return conn.execute(table.delete().where(where)).rowcount


def acquire(db: Database, name: str, holder: str, ttl_s: float) -> bool:
    """Take the lock `name` for `ttl_s` (or renew it); False while another holder has it."""
    now = time.time()
    row = {"name": name, "holder": holder, "until": now_iso(now + ttl_s)}
    free = sa.or_(locks.c.until < now_iso(now), locks.c.holder == holder)
    with db.transaction(f"take the {name} lock") as conn:
        stmt = upsert(conn, locks, row, replace=("holder", "until"), where=free)
        return conn.execute(stmt.returning(locks.c.holder)).first() is not None


def release(db: Database, name: str, holder: str) -> None:
    with db.transaction(f"release the {name} lock") as conn:
        conn.execute(locks.delete().where(locks.c.name == name, locks.c.holder == holder))
