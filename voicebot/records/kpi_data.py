"""What the KPIs are computed from: the facts of each call and turn in a period, read from
the columns that hold no caller's words (times, nodes, outcomes, results, confidences,
survey answers, the keyed caller hash), so reports read nothing sealed and need no audit.

A period is [since, until) on the call's start. "7d", "24h" or "30m" mean that long before
`until` (default now); otherwise an ISO date or time ("2025-01-31", "2025-01-31T08:00").
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa

from voicebot.errors import VoicebotError
from voicebot.records.browse import call_result, path_of
from voicebot.records.database import Database, from_iso, now_iso
from voicebot.records.schema import calls, handoffs, turns

REPEAT_WINDOW_S = 7 * 86400  # a caller calling again this soon: the first call did not solve it
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([mhdw])$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class PeriodError(VoicebotError):
    """A period that cannot be read ("7d", "24h", or an ISO date or time)."""


def parse_time(text: str, *, before: float) -> float:
    """"7d" (before `before`) or an ISO date/time, as seconds since the epoch."""
    text = text.strip()
    relative = _RELATIVE.match(text)
    if relative:
        return before - float(relative.group(1)) * _UNIT_S[relative.group(2)]
    try:
        return from_iso(text)
    except ValueError:
        raise PeriodError(f"{text!r} is not a period: give 7d, 24h, 30m, 2w or an ISO date "
                          "or time (2025-01-31, 2025-01-31T08:00)") from None


@dataclass(frozen=True)
class Scope:
    """The calls a report is about: started in [since, until), of a flow, version, variant."""

    since: str
    until: str
    flow: str = ""
    version: str = ""
    variant: str = ""

    @classmethod
    def parse(cls, since: str = "7d", until: str | None = None, *, flow: str = "",
              version: str = "", variant: str = "", now: float | None = None) -> Scope:
        now = time.time() if now is None else now
        end = parse_time(until, before=now) if until else now
        start = parse_time(since, before=end)
        if start >= end:
            raise PeriodError(f"the period starts ({now_iso(start)}) after it ends "
                              f"({now_iso(end)})")
        return cls(now_iso(start), now_iso(end), flow, version, variant)

    def to_dict(self) -> dict[str, str]:
        return {"since": self.since, "until": self.until, "flow": self.flow,
                "version": self.version, "variant": self.variant}


@dataclass(frozen=True)
class CallFacts:
    call_sid: str
    started: float
    ended: float | None
    flow: str
    version: str
    variant: str | None
    result: str  # browse.call_result
    reason: str | None
    last_node: str | None
    caller_hash: str | None
    csat: int | None
    queue_wait_s: float | None  # taken by an agent after this long in the queue

    @property
    def bot_s(self) -> float | None:
        return None if self.ended is None else max(0.0, self.ended - self.started)


@dataclass(frozen=True)
class TurnFacts:
    call_sid: str
    node: str
    kind: str
    result: str | None
    confidence: float | None
    gap_s: float | None  # end of the turn -> the bot's first audio back


@dataclass
class Facts:
    calls: list[CallFacts] = field(default_factory=list)
    turns: list[TurnFacts] = field(default_factory=list)
    # caller hash -> the starts of every call of theirs from `since` to `until` + 7 days
    contacts: dict[str, list[float]] = field(default_factory=dict)


def read_facts(db: Database, scope: Scope) -> Facts:
    c = calls.c
    where = [c.started >= scope.since, c.started < scope.until]
    for value, column in ((scope.flow, c.flow_name), (scope.version, c.flow_version),
                          (scope.variant, c.flow_variant)):
        if value:
            where.append(column == value)
    query = (sa.select(c.call_sid, c.started, c.ended, c.flow_name, c.flow_version,
                       c.flow_variant, c.outcome, c.reason, c.path, c.caller_hash, c.csat,
                       c.enqueued, handoffs.c.queue_time, handoffs.c.at)
             .select_from(calls.outerjoin(handoffs, handoffs.c.call_sid == c.call_sid))
             .where(*where).order_by(c.started))
    t = turns.c
    turn_query = (sa.select(t.call_sid, t.node, t.kind, t.result, t.confidence, t.t_end,
                            t.t_reply)
                  .select_from(turns.join(calls, calls.c.call_sid == t.call_sid))
                  .where(*where).order_by(t.call_sid, t.seq))
    facts = Facts()
    with db.transaction("read the KPI facts", write=False) as conn:
        seen: set[str] = set()
        for r in conn.execute(query):
            if r.call_sid in seen:  # a caller taken twice (a redial of the agent): once
                continue
            seen.add(r.call_sid)
            facts.calls.append(_call(r))
        for r in conn.execute(turn_query):
            gap = r.t_reply - r.t_end if r.t_reply is not None and r.t_end is not None \
                and r.t_reply >= r.t_end else None
            facts.turns.append(TurnFacts(r.call_sid, r.node or "?", r.kind or "?", r.result,
                                         r.confidence, gap))
        facts.contacts = _contacts(conn, facts.calls, scope)
    return facts


def _call(r: sa.Row) -> CallFacts:
    wait = None
    if r.queue_time is not None:
        wait = float(r.queue_time)
    elif r.at is not None and (r.enqueued or r.ended):
        wait = max(0.0, from_iso(r.at) - from_iso(r.enqueued or r.ended))
    path = path_of(r.path)
    return CallFacts(
        call_sid=r.call_sid, started=from_iso(r.started),
        ended=from_iso(r.ended) if r.ended else None, flow=r.flow_name or "?",
        version=r.flow_version or "?", variant=r.flow_variant,
        result=call_result(r.outcome, r.reason, r.ended), reason=r.reason,
        last_node=path[-1] if path else None, caller_hash=r.caller_hash, csat=r.csat,
        queue_wait_s=wait)


def _contacts(conn: sa.Connection, found: list[CallFacts], scope: Scope
              ) -> dict[str, list[float]]:
    """Every call of the period's callers up to a week after it ends (repeat calls)."""
    hashes = sorted({f.caller_hash for f in found if f.caller_hash})
    out: dict[str, list[float]] = defaultdict(list)
    for i in range(0, len(hashes), 500):
        chunk = hashes[i:i + 500]
        query = (sa.select(calls.c.caller_hash, calls.c.started)
                 .where(calls.c.caller_hash.in_(chunk), calls.c.started >= scope.since,
                        calls.c.started < now_iso(from_iso(scope.until) + REPEAT_WINDOW_S)))
        for caller, started in conn.execute(query):
            out[caller].append(from_iso(started))
    return {k: sorted(v) for k, v in out.items()}
