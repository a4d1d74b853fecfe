"""The call records as the people watching the line read them: calls in progress, callers
waiting in each queue, a searchable list of calls, and the calls worth a supervisor's look.

Everything comes from the shared database (several hosts serve one line, and the driver
saves a call after every turn), never from one process's memory. Lists are made from the
columns that hold no caller's words (times, nodes, outcomes, confidences, results); what a
caller said is read only through the store's `get` (which opens what is sealed), for the
calls shown, and the caller of these functions writes the audit entry for each.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from voicebot.records.database import Database, from_iso, now_iso
from voicebot.records.recorder import RecordStore
from voicebot.records.schema import calls, handoffs, reviews, turns
from voicebot.records.store import TERMINAL_STATUSES
from voicebot.records.transcript import TurnRecord

MAX_CALL_S = 4 * 3600  # older calls never counted as live or waiting (a lost status callback)
STALE_S = 15 * 60  # a call in progress not written for this long lost its host
FAILED_RESULTS = ("no_match", "low_confidence", "no_input")
LOW_CONFIDENCE = 0.5  # a spoken turn below this is worth a look
LOOP_TURNS = 2  # failed turns at one node that make a loop worth a look
LONG_CALL_S = 180.0  # the bot's part of a call longer than this is worth a look


def call_result(outcome: str | None, reason: str | None, ended: str | None) -> str:
    """What became of a call: contained (the bot finished it with the caller's business
    done), handed_over (to a person), abandoned (the caller hung up before either), or
    in_progress."""
    if outcome == "transfer":
        return "handed_over"
    if outcome == "hangup" and reason == "completed":
        return "contained"
    if outcome is None and ended is None:
        return "in_progress"
    return "abandoned"


def _open() -> Any:
    """Twilio has not reported the call over."""
    return sa.or_(calls.c.status.is_(None), calls.c.status.not_in(TERMINAL_STATUSES))


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return max(0.0, from_iso(end) - from_iso(start))


# ------------------------------------------------------------------ live


@dataclass(frozen=True)
class LiveCall:
    call_sid: str
    started: str
    in_call_s: float
    flow: str
    version: str
    variant: str | None
    node: str | None  # None: the stream has not started yet
    turns: int
    heard: str | None  # the last thing the caller said
    confidence: float | None
    quiet_s: float  # since the record was last written


@dataclass(frozen=True)
class WaitingCaller:
    call_sid: str
    queue: str
    position: int  # 1: the next caller an agent of the queue takes
    waited_s: float
    reason: str | None
    summary: str
    intent: str | None
    slots: dict[str, Any] = field(default_factory=dict)
    said: tuple[str, ...] = ()  # the last things the caller said, oldest first


def live_calls(store: RecordStore, now: float | None = None) -> list[LiveCall]:
    """Calls the bot is on now, oldest first (contents read through store.get)."""
    now = time.time() if now is None else now
    query = (sa.select(calls.c.call_sid, calls.c.started, calls.c.updated)
             .where(calls.c.ended.is_(None), _open(),
                    calls.c.started >= now_iso(now - MAX_CALL_S),
                    sa.func.coalesce(calls.c.updated, calls.c.started) >= now_iso(now - STALE_S))
             .order_by(calls.c.started))
    with store.database.transaction("list the calls in progress", write=False) as conn:
        rows = conn.execute(query).all()
    out = []
    for sid, started, updated in rows:
        t = store.get(sid)
        if t is None:
            continue
        last = t.turns[-1] if t.turns else None
        out.append(LiveCall(
            call_sid=sid, started=started, in_call_s=now - from_iso(started),
            flow=t.flow_name, version=t.flow_version, variant=t.flow_variant,
            node=t.path[-1] if t.path else None, turns=len(t.turns), heard=heard_text(last),
            confidence=last.confidence if last else None,
            quiet_s=now - from_iso(updated or started)))
    return out


def heard_text(turn: TurnRecord | None) -> str | None:
    """A caller's turn in words: what was heard, the keys pressed, or silence."""
    if turn is None:
        return None
    if turn.kind == "no_input":
        return "(silence)"
    if turn.kind == "dtmf":
        return f"(pressed {turn.heard})"
    return turn.heard


def _waiting_since() -> Any:
    return sa.func.coalesce(calls.c.enqueued, calls.c.ended)


def _waiting(now: float) -> list[Any]:
    """Handed over, not taken by an agent, not over: in a queue (as next_waiting says)."""
    return [calls.c.outcome == "transfer", calls.c.ended.is_not(None), _open(),
            calls.c.call_sid.not_in(sa.select(handoffs.c.call_sid)),
            _waiting_since() >= now_iso(now - MAX_CALL_S)]


def queue_lengths(db: Database, now: float | None = None) -> dict[str, int]:
    """How many callers wait in each queue (no contents read)."""
    now = time.time() if now is None else now
    query = (sa.select(calls.c.queue, sa.func.count()).where(*_waiting(now))
             .group_by(calls.c.queue))
    with db.transaction("count the waiting callers", write=False) as conn:
        return {str(queue): int(n) for queue, n in conn.execute(query)}


def waiting_callers(store: RecordStore, now: float | None = None
                    ) -> dict[str, list[WaitingCaller]]:
    """Per queue, the callers waiting for a person in the order agents take them (Twilio
    dequeues first in, first out), with what the agent is told about each."""
    now = time.time() if now is None else now
    since = _waiting_since()
    query = (sa.select(calls.c.call_sid, calls.c.queue, since).where(*_waiting(now))
             .order_by(calls.c.queue, since, calls.c.started))
    with store.database.transaction("list the waiting callers", write=False) as conn:
        rows = conn.execute(query).all()
    out: dict[str, list[WaitingCaller]] = {}
    for sid, queue, waiting_since in rows:
        t = store.get(sid)
        if t is None:
            continue
        ctx = t.context or {}
        said = tuple(str(turn.get("heard")) for turn in ctx.get("turns", [])
                     if turn.get("kind") == "speech" and turn.get("heard"))
        line = out.setdefault(queue or "?", [])
        line.append(WaitingCaller(
            call_sid=sid, queue=queue or "?", position=len(line) + 1,
            waited_s=max(0.0, now - from_iso(waiting_since)), reason=t.reason,
            summary=t.summary, intent=ctx.get("intent"), slots=dict(ctx.get("slots") or {}),
            said=said[-3:]))
    return out


# ------------------------------------------------------------------ the list of calls


@dataclass(frozen=True)
class CallRow:
    call_sid: str
    started: str
    ended: str | None
    status: str | None
    flow: str | None
    version: str | None
    variant: str | None
    outcome: str | None
    reason: str | None
    queue: str | None
    result: str  # call_result()
    duration_s: float | None
    turns: int
    csat: int | None


@dataclass(frozen=True)
class CallFilter:
    """What the list of calls is narrowed to; empty fields narrow nothing."""

    since: str | None = None
    until: str | None = None
    call_sid: str = ""  # a prefix
    result: str = ""  # call_result()
    reason: str = ""
    queue: str = ""
    flow: str = ""
    version: str = ""
    variant: str = ""
    reviewed: str = ""  # "yes", "no", or a verdict

    def where(self) -> list[Any]:
        c = calls.c
        conds: list[Any] = []
        for value, column in ((self.reason, c.reason), (self.queue, c.queue),
                              (self.flow, c.flow_name), (self.version, c.flow_version),
                              (self.variant, c.flow_variant)):
            if value:
                conds.append(column == value)
        if self.since:
            conds.append(c.started >= self.since)
        if self.until:
            conds.append(c.started < self.until)
        if self.call_sid:
            conds.append(c.call_sid.startswith(self.call_sid, autoescape=True))
        conds += _result_where(self.result) + _reviewed_where(self.reviewed)
        return conds


def _result_where(result: str) -> list[Any]:
    c = calls.c
    contained = sa.and_(c.outcome == "hangup", c.reason == "completed")
    return {
        "": [], "handed_over": [c.outcome == "transfer"], "contained": [contained],
        "in_progress": [c.outcome.is_(None), c.ended.is_(None)],
        "abandoned": [sa.or_(c.outcome.is_not(None), c.ended.is_not(None)),
                      sa.or_(c.outcome.is_(None), c.outcome != "transfer"), ~contained],
    }.get(result, [sa.false()])


def _reviewed_where(reviewed: str) -> list[Any]:
    if not reviewed:
        return []
    any_review = sa.select(reviews.c.call_sid)
    if reviewed == "yes":
        return [calls.c.call_sid.in_(any_review)]
    if reviewed == "no":
        return [calls.c.call_sid.not_in(any_review)]
    newest = sa.select(sa.func.max(reviews.c.id)).group_by(reviews.c.call_sid)
    return [calls.c.call_sid.in_(sa.select(reviews.c.call_sid).where(
        reviews.c.id.in_(newest), reviews.c.verdict == reviewed))]


def list_calls(db: Database, where: CallFilter, *, page: int = 1, per_page: int = 50
               ) -> tuple[list[CallRow], int]:
    """One page of the calls (newest first) and how many there are in all."""
    turn_count = (sa.select(sa.func.count()).where(turns.c.call_sid == calls.c.call_sid)
                  .scalar_subquery())
    c = calls.c
    query = (sa.select(c.call_sid, c.started, c.ended, c.status, c.flow_name, c.flow_version,
                       c.flow_variant, c.outcome, c.reason, c.queue, c.csat, turn_count)
             .where(*where.where()).order_by(c.started.desc(), c.call_sid)
             .limit(per_page).offset(max(0, page - 1) * per_page))
    total = sa.select(sa.func.count()).select_from(calls).where(*where.where())
    with db.transaction("list the calls", write=False) as conn:
        rows = conn.execute(query).all()
        count = int(conn.execute(total).scalar() or 0)
    return [CallRow(call_sid=r[0], started=r[1], ended=r[2], status=r[3], flow=r[4],
                    version=r[5], variant=r[6], outcome=r[7], reason=r[8], queue=r[9],
                    csat=r[10], turns=int(r[11] or 0), result=call_result(r[7], r[8], r[2]),
                    duration_s=_seconds(r[1], r[2])) for r in rows], count


def choices(db: Database) -> dict[str, list[str]]:
    """The values the filters can take: flows, versions, variants, reasons, queues."""
    columns = {"flow": calls.c.flow_name, "version": calls.c.flow_version,
               "variant": calls.c.flow_variant, "reason": calls.c.reason,
               "queue": calls.c.queue}
    out: dict[str, list[str]] = {}
    with db.transaction("list the filters", write=False) as conn:
        for name, column in columns.items():
            values = conn.execute(sa.select(column).where(column.is_not(None)).distinct())
            out[name] = sorted(str(v) for (v,) in values)
    return out


# ------------------------------------------------------------------ worth a look


@dataclass(frozen=True)
class WorthALook:
    call: CallRow
    why: tuple[str, ...]  # "lowest confidence 0.31", "3 failed turns at main_menu", ...


def review_queue(db: Database, *, since: str, limit: int = 100) -> list[WorthALook]:
    """Finished calls since `since`, not reviewed yet, that a supervisor should look at:
    a spoken turn heard with low confidence, a loop of failed turns at one node, a caller
    who hung up mid-flow, a long call. Newest first."""
    where = CallFilter(since=since, reviewed="no")
    rows, _ = list_calls(db, where, per_page=2000)
    finished = {r.call_sid: r for r in rows if r.result != "in_progress"}
    if not finished:
        return []
    query = (sa.select(turns.c.call_sid, turns.c.node, turns.c.kind, turns.c.confidence,
                       turns.c.result)
             .where(turns.c.call_sid.in_(list(finished))).order_by(turns.c.call_sid,
                                                                    turns.c.seq))
    with db.transaction("find the calls worth a look", write=False) as conn:
        per_call: dict[str, list[Any]] = {}
        for row in conn.execute(query):
            per_call.setdefault(row.call_sid, []).append(row)
    out = []
    for sid, row in finished.items():
        why = _why(row, per_call.get(sid, []))
        if why:
            out.append(WorthALook(row, tuple(why)))
    return out[:limit]


def _why(row: CallRow, turn_rows: list[Any]) -> list[str]:
    why = []
    spoken = [t.confidence for t in turn_rows if t.kind == "speech" and t.confidence is not None]
    if spoken and min(spoken) < LOW_CONFIDENCE:
        why.append(f"heard with confidence {min(spoken):.2f}")
    failed: dict[str, int] = {}
    for t in turn_rows:
        if t.result in FAILED_RESULTS:
            failed[t.node] = failed.get(t.node, 0) + 1
    loops = [f"{n} failed turns at {node}" for node, n in failed.items() if n >= LOOP_TURNS]
    why += loops
    if row.result == "abandoned":
        why.append("caller hung up mid-flow")
    if row.duration_s is not None and row.duration_s > LONG_CALL_S:
        why.append(f"long call ({row.duration_s / 60:.1f} min with the bot)")
    return why


def path_of(text: str | None) -> list[str]:
    """The nodes a call visited, from the calls row's JSON."""
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return [str(n) for n in value] if isinstance(value, list) else []
