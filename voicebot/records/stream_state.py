"""A call's stream state in the shared store: which `start` may begin the call, on any host.

Twilio may send a call's webhook, its media stream and its <Connect> action to different
instances behind a load balancer, so "this call waits for its stream" cannot live in the
memory of the instance that answered the webhook. It is two columns of the call's row
(revision 0002a):

    (no row, or never armed) --/voice arms--> waiting (until stream_deadline)
    waiting --one `start` (compare-and-set)--> streaming --the stream ends--> ended
    waiting, past its deadline: given up (read as ended; written so by the instance that
    answered /voice)

Exactly one `start` wins: the change to streaming is one conditional UPDATE (or upsert),
which returns the row only to the statement that changed it, on SQLite and PostgreSQL
alike. A refused `start` or a refused re-arming writes nothing. A row that has `ended` set
(the call was turned away, or Twilio reported it over) is never armed. Rows are kept as
long as the records (longer than any stream token lives).

StreamStateQueries are CallStore's queries; ResilientStreamStates are ResilientRecords' (a
claim must be answered now: with the records' read deadline; the end of a stream is a
write that waits for nothing and is kept until the database takes it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from voicebot.logs import log_event
from voicebot.records.database import Database
from voicebot.records.schema import calls, iso_time
from voicebot.records.upsert import upsert

log = logging.getLogger("voicebot.calls")

WAITING, STREAMING, ENDED = "waiting", "streaming", "ended"
GIVEN_UP = "given_up"  # a mark: a waiting call whose deadline passed without a stream
NOT_WAITING = "no call is waiting for a stream with this CallSid"

_state, _deadline = calls.c.stream_state, calls.c.stream_deadline


def read_state(row: Any, now: str) -> str | None:
    """waiting | streaming | ended, or None for a call that may still be armed (no row, or
    recorded but never armed)."""
    if row is None:
        return None
    if row.stream_state == WAITING:
        return WAITING if (row.stream_deadline or "") >= now else ENDED
    if row.stream_state in (STREAMING, ENDED):
        return row.stream_state
    return ENDED if row.ended is not None else None


def _changed(conn: sa.Connection, stmt: Any) -> bool:
    """Run an UPDATE or an upsert; True if it wrote the row. (RETURNING, not rowcount: the
    row count of an INSERT .. ON CONFLICT is not reported through psycopg.)"""
    return conn.execute(stmt.returning(calls.c.call_sid)).first() is not None


def refusal(state: str | None) -> str:
    """Why a `start` for a call in `state` may not begin it."""
    return f"this call is already {state}" if state in (STREAMING, ENDED) else NOT_WAITING


class StreamStateQueries:
    """CallStore's stream-state queries (mixed into CallStore, on its Database)."""

    _db: Database

    def stream_state(self, call_sid: str) -> str | None:
        """See read_state."""
        query = sa.select(_state, _deadline, calls.c.ended).where(calls.c.call_sid == call_sid)
        with self._db.transaction("read the stream state", write=False) as conn:
            row = conn.execute(query).first()
        return read_state(row, iso_time(time.time()))

    def arm_stream(self, call_sid: str, deadline: float) -> bool:
        """/voice: the call waits for its stream until `deadline` (epoch seconds). False,
        writing nothing, if its stream has started or ended, or the call has ended."""
        now = iso_time(time.time())
        row = {"call_sid": call_sid, "started": now, "updated": now, "stream_state": WAITING,
               "stream_deadline": iso_time(deadline)}
        armable = sa.or_(sa.and_(_state.is_(None), calls.c.ended.is_(None)),
                         sa.and_(_state == WAITING, _deadline >= now))
        with self._db.transaction("arm the call's stream") as conn:
            return _changed(conn, upsert(conn, calls, row, where=armable, replace=(
                "stream_state", "stream_deadline", "updated")))

    def claim_stream(self, call_sid: str, *, armed_here: bool) -> str | None:
        """A `start`: None if this one begins the call (waiting -> streaming, atomically),
        else why not (nothing written). `armed_here`: this process answered the call's
        /voice, so a call whose arming never reached the database may begin too."""
        now = iso_time(time.time())
        claimable = sa.and_(_state == WAITING, _deadline >= now)
        with self._db.transaction("claim the call's stream") as conn:
            if armed_here:
                claimable = sa.or_(claimable, sa.and_(_state.is_(None),
                                                      calls.c.ended.is_(None)))
                row = {"call_sid": call_sid, "started": now, "updated": now,
                       "stream_state": STREAMING}
                stmt = upsert(conn, calls, row, replace=("stream_state", "updated"),
                              where=claimable)
            else:
                stmt = (calls.update().where(calls.c.call_sid == call_sid, claimable)
                        .values(stream_state=STREAMING, updated=now))
            if _changed(conn, stmt):
                return None
            row = conn.execute(sa.select(_state, _deadline, calls.c.ended)
                               .where(calls.c.call_sid == call_sid)).first()
        return refusal(read_state(row, now))

    def mark_stream(self, call_sid: str, state: str) -> bool:
        """Record what happened to the stream (the write queue's "stream" entries):
        STREAMING (claimed here while the database did not answer), ENDED, or GIVEN_UP (a
        waiting call past its deadline). True if the row changed."""
        now = iso_time(time.time())
        if state == STREAMING:
            where, new = sa.or_(_state.is_(None), _state == WAITING), STREAMING
        elif state == ENDED:
            where, new = sa.or_(_state.is_(None), _state != ENDED), ENDED
        elif state == GIVEN_UP:
            where, new = sa.and_(_state == WAITING, _deadline < now), ENDED
        else:
            raise ValueError(f"unknown stream state {state!r}")
        with self._db.transaction("record the stream state") as conn:
            changed = _changed(conn, calls.update().where(calls.c.call_sid == call_sid, where)
                               .values(stream_state=new, updated=now))
        if state == GIVEN_UP:  # logged here: only the shared state knows which it was
            log_event(log, "call.stream_never_started" if changed
                      else "call.stream_started_elsewhere",
                      logging.WARNING if changed else logging.DEBUG, call_sid=call_sid)
        return changed


class ResilientStreamStates:
    """ResilientRecords' stream states (mixed into it): the claim is answered now, within
    the records' read deadline (RecordsUnavailable otherwise: the caller decides what is
    safe); marks are queued writes, kept and retried like every other record write."""

    _ask: Callable[..., Any]
    _put: Callable[..., int]

    def stream_state(self, call_sid: str) -> str | None:
        return self._ask(lambda store: store.stream_state(call_sid), wait_writes=False)

    def arm_stream(self, call_sid: str, deadline: float) -> bool:
        return self._ask(lambda store: store.arm_stream(call_sid, deadline),
                         wait_writes=False)

    def claim_stream(self, call_sid: str, *, armed_here: bool) -> str | None:
        return self._ask(lambda store: store.claim_stream(call_sid, armed_here=armed_here),
                         wait_writes=False)

    def mark_stream(self, call_sid: str, state: str) -> None:
        self._put({"op": "stream", "call_sid": call_sid, "state": state})
