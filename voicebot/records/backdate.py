"""Calls written as if they had happened at other times: the store stamps every write with
the present, so a demo database (and a test's hand-counted fixtures) set the times of a call
afterwards, here, in one place."""

from __future__ import annotations

from voicebot.records.database import Database, now_iso
from voicebot.records.schema import calls, handoffs


def set_times(db: Database, call_sid: str, *, started: float, ended: float | None = None,
              enqueued: float | None = None, taken: float | None = None,
              updated: float | None = None) -> None:
    """Give a call its start and end (the end of the bot's part), when it was put in a
    queue, when an agent took it and when its record was last written (seconds since the
    epoch; None: not so, or for `updated` the latest of the others)."""
    last = updated or max(t for t in (started, ended, enqueued, taken) if t is not None)
    values = {"started": now_iso(started), "ended": now_iso(ended) if ended else None,
              "enqueued": now_iso(enqueued) if enqueued else None, "updated": now_iso(last)}
    with db.transaction("set the call's times") as conn:
        conn.execute(calls.update().where(calls.c.call_sid == call_sid).values(**values))
        if taken is not None:
            conn.execute(handoffs.update().where(handoffs.c.call_sid == call_sid)
                         .values(at=now_iso(taken)))
