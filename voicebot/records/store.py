"""CallStore: the call records, written while the call goes on, shared by every host.

One row per call and one per turn (plus the prompts played), in SQLite (the embedded
default: a file, no set-up) or PostgreSQL (VOICEBOT_DATABASE_URL: several hosts behind a load
balancer share it). Everything a later request of a call needs is here rather than in one
process's memory, so any instance can answer any of a call's Twilio requests: the outcome
and queue for the <Connect> action, the context saved after every turn (so a call whose host
died still reaches a person with what it said), the queue order and summary for the agent's
briefing, which agent took which caller.

It implements the driver's Recorder protocol (`save`), rebuilds a CallTranscript from rows
(`get`), and closes a call on Twilio's status callback (`close_call`). The caller's number is
stored only as a keyed hash. Errors: StoreUnavailable when the database cannot be reached or
written now (the next use reconnects), SchemaMismatch when it needs `voicebot db upgrade`,
StoreError otherwise (voicebot.records.errors).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from voicebot.records import migrate
from voicebot.records.database import Database, location_for
from voicebot.records.hashing import hash_number
from voicebot.records.schema import calls, handoffs, prompts, turns
from voicebot.records.transcript import CallTranscript, PromptRecord, TurnRecord
from voicebot.records.upsert import upsert

TERMINAL_STATUSES = ("completed", "busy", "failed", "no-answer", "canceled")


def _now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


def _bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def _prompt_before(transcript: CallTranscript, turn: TurnRecord) -> str | None:
    """The prompt the caller was answering: the last one sent at the turn's node before it."""
    best: PromptRecord | None = None
    for p in transcript.prompts:
        if turn.t_start is not None and p.t_sent > turn.t_start:
            break
        if p.node == turn.node:
            best = p
    return best.text if best else None


class CallStore:
    """Call records in SQLite or PostgreSQL. Implements Recorder: save(transcript, ...).

    `location`: a SQLite file path, or a postgresql:// URL. A SQLite file is created (0600)
    and upgraded to the newest schema; a PostgreSQL database must already be at it
    (`voicebot db upgrade`), unless `upgrade=True`. Opening raises StoreUnavailable when the
    database cannot be reached (voicebot.records.opening waits and retries).
    """

    def __init__(self, location: Path | str, hash_key: bytes | str, *,
                 upgrade: bool | None = None, pool_size: int = 10,
                 timeout_s: float = 5.0) -> None:
        self.location = location_for(location)
        self.db_path = self.location.sqlite_path  # None for PostgreSQL
        self._key = hash_key.encode("utf-8") if isinstance(hash_key, str) else hash_key
        self._db = Database(self.location, pool_size=pool_size, timeout_s=timeout_s)
        try:
            if upgrade if upgrade is not None else self.location.backend == "sqlite":
                state = migrate.schema_state(self._db)
                if not state.up_to_date and state.upgradable:
                    migrate.upgrade(self._db)
            migrate.check(self._db)
        except BaseException:
            self._db.close()
            raise

    @property
    def backend(self) -> str:
        """"sqlite" or "postgresql"."""
        return self.location.backend

    def describe(self) -> str:
        """Where the records are, for logs (a PostgreSQL password is hidden)."""
        return self.location.describe()

    # ------------------------------------------------------------------ Recorder protocol

    def save(self, transcript: CallTranscript, *, from_number: str | None = None,
             ended: bool = False, caller_hash: str | None = None) -> None:
        """Upsert the call and replace its turns/prompts with the transcript's (small lists).
        `caller_hash`: the number already hashed (records kept in a spool file)."""
        t = transcript
        now = _now()
        if from_number:
            caller_hash = hash_number(self._key, from_number)
        row = {
            "call_sid": t.call_sid, "started": now, "ended": now if ended else None,
            "flow_name": t.flow_name, "flow_version": t.flow_version, "engine": t.engine,
            "outcome": t.outcome, "reason": t.reason, "queue": t.queue,
            "caller_hash": caller_hash,
            "summary": t.summary, "context": json.dumps(t.context, default=str),
            "path": json.dumps(t.path), "updated": now,
        }
        turn_rows = [
            {"call_sid": t.call_sid, "seq": i, "node": r.node, "kind": r.kind,
             "prompt": _prompt_before(t, r), "heard": r.heard, "confidence": r.confidence,
             "in_grammar": None if r.in_grammar is None else int(r.in_grammar),
             "intent": r.intent, "t_start": r.t_start, "t_end": r.t_end, "t_reply": r.t_reply,
             "during_prompt": int(r.during_prompt)}
            for i, r in enumerate(t.turns)
        ]
        prompt_rows = [
            {"call_sid": t.call_sid, "seq": i, "node": p.node, "kind": p.kind, "text": p.text,
             "t_sent": p.t_sent, "t_played": p.t_played, "barged_in": int(p.barged_in)}
            for i, p in enumerate(t.prompts)
        ]
        replaced = ("flow_name", "flow_version", "engine", "context", "path", "updated")
        if t.outcome is not None:  # an undecided transcript never erases a decision
            replaced += ("outcome", "reason", "queue", "summary")
        with self._db.transaction("save the call") as conn:
            conn.execute(upsert(conn, calls, row, replace=replaced,
                                keep_first=("ended", "caller_hash")))
            conn.execute(turns.delete().where(turns.c.call_sid == t.call_sid))
            if turn_rows:
                conn.execute(turns.insert(), turn_rows)
            conn.execute(prompts.delete().where(prompts.c.call_sid == t.call_sid))
            if prompt_rows:
                conn.execute(prompts.insert(), prompt_rows)

    # ------------------------------------------------------------------ the webhook

    def open_call(self, call_sid: str, *, from_number: str | None, flow_name: str,
                  flow_version: str, variant: str | None = None,
                  caller_hash: str | None = None) -> None:
        """The incoming-call webhook: the call exists from its first request, with the flow
        (and variant) it was given, whichever host serves its stream. `caller_hash`: the
        number already hashed (records kept in a spool file)."""
        now = _now()
        if from_number:
            caller_hash = hash_number(self._key, from_number)
        row = {"call_sid": call_sid, "started": now, "updated": now, "flow_name": flow_name,
               "flow_version": flow_version, "flow_variant": variant,
               "caller_hash": caller_hash}
        with self._db.transaction("record the incoming call") as conn:
            conn.execute(upsert(conn, calls, row, replace=("updated",), keep_first=(
                "flow_name", "flow_version", "flow_variant", "caller_hash")))

    # ------------------------------------------------------------------ reading

    def get(self, call_sid: str) -> CallTranscript | None:
        """The call's transcript rebuilt from rows (None when there is no such call)."""
        with self._db.transaction("read the call", write=False) as conn:
            call = conn.execute(sa.select(calls).where(calls.c.call_sid == call_sid)).first()
            if call is None:
                return None
            turn_rows = conn.execute(sa.select(turns).where(turns.c.call_sid == call_sid)
                                     .order_by(turns.c.seq)).all()
            prompt_rows = conn.execute(sa.select(prompts).where(prompts.c.call_sid == call_sid)
                                       .order_by(prompts.c.seq)).all()
        return _transcript(call._mapping, [r._mapping for r in turn_rows],
                           [p._mapping for p in prompt_rows])

    def call_row(self, call_sid: str) -> dict[str, Any] | None:
        """The calls row as a dict (start/end/status/caller hash), for APIs and tests."""
        with self._db.transaction("read the call", write=False) as conn:
            row = conn.execute(sa.select(calls).where(calls.c.call_sid == call_sid)).first()
        return dict(row._mapping) if row else None

    # ------------------------------------------------------------------ status callback

    def close_call(self, call_sid: str, status: str) -> None:
        """Twilio's status callback: record the final status and the end time.

        A call Twilio ended before any stream (caller hung up during the webhook) still gets a
        row, so every call Twilio reported is accounted for.
        """
        now = _now()
        row = {"call_sid": call_sid, "started": now, "updated": now, "status": status,
               "ended": now if status in TERMINAL_STATUSES else None}
        with self._db.transaction("close the call") as conn:
            conn.execute(upsert(conn, calls, row, replace=("status", "updated"),
                                keep_first=("ended",)))

    # ------------------------------------------------------------------ queues and agents

    def mark_enqueued(self, call_sid: str, queue: str, *, summary_if_undecided: str) -> None:
        """The <Connect> action put the caller in `queue`.

        A call that nothing decided (its stream's host died mid-call, or there is no record)
        is recorded as handed over for reason "error" with `summary_if_undecided` (built from
        the context saved after its last turn), so the agent's briefing and desktop find it.
        A decided call keeps its outcome, reason and summary.
        """
        now = _now()
        row = {"call_sid": call_sid, "started": now, "ended": now, "updated": now,
               "outcome": "transfer", "reason": "error", "queue": queue, "enqueued": now,
               "summary": summary_if_undecided}
        with self._db.transaction("record the enqueued caller") as conn:
            conn.execute(upsert(conn, calls, row, replace=("queue", "updated"),
                                keep_first=("ended", "enqueued"),
                                if_null=("outcome", ("outcome", "reason", "summary"))))

    def record_handoff(self, agent_call_sid: str, call_sid: str, queue_sid: str | None = None,
                       queue_time: int | None = None) -> None:
        """Which caller an agent's call took from a queue (from the <Queue url> request)."""
        row = {"agent_call_sid": agent_call_sid, "call_sid": call_sid, "queue_sid": queue_sid,
               "queue_time": queue_time, "at": _now()}
        with self._db.transaction("record the hand-off") as conn:
            conn.execute(upsert(conn, handoffs, row,
                                replace=("call_sid", "queue_sid", "queue_time", "at")))

    def next_waiting(self, queue: str) -> CallTranscript | None:
        """The caller Twilio will hand the next agent of `queue`: the longest waiting one.

        Twilio dequeues first in, first out; a call waits from the moment the <Connect> action
        enqueued it (or, without that mark, the end of its stream) until an agent takes it or
        Twilio reports it ended.
        """
        query = (
            sa.select(calls.c.call_sid)
            .where(calls.c.outcome == "transfer", calls.c.queue == queue,
                   calls.c.ended.is_not(None),
                   sa.or_(calls.c.status.is_(None), calls.c.status.not_in(TERMINAL_STATUSES)),
                   calls.c.call_sid.not_in(sa.select(handoffs.c.call_sid)))
            .order_by(sa.func.coalesce(calls.c.enqueued, calls.c.ended), calls.c.started)
            .limit(1))
        with self._db.transaction("find the next waiting caller", write=False) as conn:
            call_sid = conn.execute(query).scalar()
        return self.get(call_sid) if call_sid else None

    def caller_for_agent(self, agent_call_sid: str) -> str | None:
        query = sa.select(handoffs.c.call_sid).where(handoffs.c.agent_call_sid == agent_call_sid)
        with self._db.transaction("read the hand-off", write=False) as conn:
            return conn.execute(query).scalar()

    def close(self) -> None:
        self._db.close()


def _transcript(call: Any, turn_rows: list[Any], prompt_rows: list[Any]) -> CallTranscript:
    return CallTranscript(
        call_sid=call["call_sid"],
        flow_name=call["flow_name"] or "",
        flow_version=call["flow_version"] or "",
        engine=call["engine"] or "",
        prompts=[PromptRecord(text=p["text"], node=p["node"], kind=p["kind"],
                              t_sent=p["t_sent"], t_played=p["t_played"],
                              barged_in=bool(p["barged_in"])) for p in prompt_rows],
        turns=[TurnRecord(node=r["node"], kind=r["kind"], heard=r["heard"] or "",
                          confidence=r["confidence"], in_grammar=_bool(r["in_grammar"]),
                          intent=r["intent"], t_start=r["t_start"], t_end=r["t_end"],
                          t_reply=r["t_reply"], during_prompt=bool(r["during_prompt"]))
               for r in turn_rows],
        path=json.loads(call["path"] or "[]"),
        outcome=call["outcome"],
        reason=call["reason"],
        queue=call["queue"],
        summary=call["summary"] or "",
        context=json.loads(call["context"] or "{}"),
    )
