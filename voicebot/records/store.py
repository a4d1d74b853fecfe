"""CallStore: the call records in a real SQLite file (WAL), written while the call goes on.

One row per call and one per turn (plus the prompts played), so that the record of a call
survives a restart, an operator can query it with plain SQL, and the `<Connect>` action route
can read the outcome the call session decided. It implements the driver's Recorder protocol
(`save`), rebuilds a CallTranscript from rows (`get`), and closes a call on Twilio's status
callback (`close_call`). The caller's number is stored only as a keyed hash.

Thread safety: one connection guarded by a lock (every call runs in its own thread; writes are
tiny). WAL mode and a busy timeout let several service processes on one host share the file.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from voicebot.errors import SettingsError
from voicebot.records.hashing import hash_number
from voicebot.records.transcript import CallTranscript, PromptRecord, TurnRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_sid     TEXT PRIMARY KEY,
    started      TEXT NOT NULL,
    ended        TEXT,
    status       TEXT,
    flow_name    TEXT,
    flow_version TEXT,
    engine       TEXT,
    outcome      TEXT,
    reason       TEXT,
    queue        TEXT,
    caller_hash  TEXT,
    summary      TEXT,
    context      TEXT,
    path         TEXT
);
CREATE TABLE IF NOT EXISTS turns (
    call_sid      TEXT NOT NULL REFERENCES calls(call_sid),
    seq           INTEGER NOT NULL,
    node          TEXT,
    kind          TEXT,
    prompt        TEXT,
    heard         TEXT,
    confidence    REAL,
    in_grammar    INTEGER,
    intent        TEXT,
    t_start       REAL,
    t_end         REAL,
    t_reply       REAL,
    during_prompt INTEGER,
    PRIMARY KEY (call_sid, seq)
);
CREATE TABLE IF NOT EXISTS prompts (
    call_sid  TEXT NOT NULL REFERENCES calls(call_sid),
    seq       INTEGER NOT NULL,
    node      TEXT,
    kind      TEXT,
    text      TEXT,
    t_sent    REAL,
    t_played  REAL,
    barged_in INTEGER,
    PRIMARY KEY (call_sid, seq)
);
CREATE TABLE IF NOT EXISTS handoffs (
    agent_call_sid TEXT PRIMARY KEY,
    call_sid       TEXT NOT NULL,
    queue_sid      TEXT,
    queue_time     INTEGER,
    at             TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_started ON calls(started);
"""

TERMINAL_STATUSES = ("completed", "busy", "failed", "no-answer", "canceled")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


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
    """SQLite call records. Implements Recorder: save(transcript, *, from_number, ended)."""

    def __init__(self, db_path: Path | str, hash_key: bytes | str) -> None:
        self.db_path = Path(db_path)
        self._key = hash_key.encode("utf-8") if isinstance(hash_key, str) else hash_key
        self._lock = threading.Lock()
        try:
            if str(db_path) != ":memory:":
                self.db_path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(db_path), check_same_thread=False, timeout=10.0,
                                       isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise SettingsError(f"VOICEBOT_DB: cannot open the call records at {db_path}: "
                                f"{exc}") from exc

    # ------------------------------------------------------------------ Recorder protocol

    def save(self, transcript: CallTranscript, *, from_number: str | None = None,
             ended: bool = False, caller_hash: str | None = None) -> None:
        """Upsert the call and replace its turns/prompts with the transcript's (small lists).
        `caller_hash`: the number already hashed (records kept in a spool file)."""
        t = transcript
        if from_number:
            caller_hash = hash_number(self._key, from_number)
        row = {
            "call_sid": t.call_sid, "started": _now(), "ended": _now() if ended else None,
            "flow_name": t.flow_name, "flow_version": t.flow_version, "engine": t.engine,
            "outcome": t.outcome, "reason": t.reason, "queue": t.queue,
            "caller_hash": caller_hash, "summary": t.summary,
            "context": json.dumps(t.context, default=str), "path": json.dumps(t.path),
        }
        turns = [
            (t.call_sid, i, r.node, r.kind, _prompt_before(t, r), r.heard, r.confidence,
             None if r.in_grammar is None else int(r.in_grammar), r.intent, r.t_start,
             r.t_end, r.t_reply, int(r.during_prompt))
            for i, r in enumerate(t.turns)
        ]
        prompts = [
            (t.call_sid, i, p.node, p.kind, p.text, p.t_sent, p.t_played, int(p.barged_in))
            for i, p in enumerate(t.prompts)
        ]
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    """INSERT INTO calls (call_sid, started, ended, flow_name, flow_version,
                         engine, outcome, reason, queue, caller_hash, summary, context, path)
                       VALUES (:call_sid, :started, :ended, :flow_name, :flow_version, :engine,
                         :outcome, :reason, :queue, :caller_hash, :summary, :context, :path)
                       ON CONFLICT(call_sid) DO UPDATE SET
                         ended = COALESCE(calls.ended, excluded.ended),
                         flow_name = excluded.flow_name, flow_version = excluded.flow_version,
                         engine = excluded.engine, outcome = excluded.outcome,
                         reason = excluded.reason, queue = excluded.queue,
                         caller_hash = COALESCE(excluded.caller_hash, calls.caller_hash),
                         summary = excluded.summary, context = excluded.context,
                         path = excluded.path""",
                    row,
                )
                db.execute("DELETE FROM turns WHERE call_sid = ?", (t.call_sid,))
                db.executemany("INSERT INTO turns VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", turns)
                db.execute("DELETE FROM prompts WHERE call_sid = ?", (t.call_sid,))
                db.executemany("INSERT INTO prompts VALUES (?,?,?,?,?,?,?,?)", prompts)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    # ------------------------------------------------------------------ reading

    def get(self, call_sid: str) -> CallTranscript | None:
        """The call's transcript rebuilt from rows (None when there is no such call)."""
        with self._lock:
            cur = self._db.cursor()
            cur.row_factory = sqlite3.Row
            call = cur.execute("SELECT * FROM calls WHERE call_sid = ?", (call_sid,)).fetchone()
            if call is None:
                return None
            turns = cur.execute("SELECT * FROM turns WHERE call_sid = ? ORDER BY seq",
                                (call_sid,)).fetchall()
            prompts = cur.execute("SELECT * FROM prompts WHERE call_sid = ? ORDER BY seq",
                                  (call_sid,)).fetchall()
        return CallTranscript(
            call_sid=call["call_sid"],
            flow_name=call["flow_name"] or "",
            flow_version=call["flow_version"] or "",
            engine=call["engine"] or "",
            prompts=[PromptRecord(text=p["text"], node=p["node"], kind=p["kind"],
                                  t_sent=p["t_sent"], t_played=p["t_played"],
                                  barged_in=bool(p["barged_in"])) for p in prompts],
            turns=[TurnRecord(node=r["node"], kind=r["kind"], heard=r["heard"] or "",
                              confidence=r["confidence"], in_grammar=_bool(r["in_grammar"]),
                              intent=r["intent"], t_start=r["t_start"], t_end=r["t_end"],
                              t_reply=r["t_reply"], during_prompt=bool(r["during_prompt"]))
                   for r in turns],
            path=json.loads(call["path"] or "[]"),
            outcome=call["outcome"],
            reason=call["reason"],
            queue=call["queue"],
            summary=call["summary"] or "",
            context=json.loads(call["context"] or "{}"),
        )

    def call_row(self, call_sid: str) -> dict[str, Any] | None:
        """The calls row as a dict (start/end/status/caller hash), for APIs and tests."""
        with self._lock:
            cur = self._db.cursor()
            cur.row_factory = sqlite3.Row
            row = cur.execute("SELECT * FROM calls WHERE call_sid = ?", (call_sid,)).fetchone()
        return dict(row) if row else None

    # ------------------------------------------------------------------ status callback

    def close_call(self, call_sid: str, status: str) -> None:
        """Twilio's status callback: record the final status and the end time.

        A call Twilio ended before any stream (caller hung up during the webhook) still gets a
        row, so every call Twilio reported is accounted for.
        """
        ended = _now() if status in TERMINAL_STATUSES else None
        with self._lock:
            self._db.execute(
                """INSERT INTO calls (call_sid, started, ended, status) VALUES (?, ?, ?, ?)
                   ON CONFLICT(call_sid) DO UPDATE SET status = excluded.status,
                     ended = COALESCE(calls.ended, excluded.ended)""",
                (call_sid, _now(), ended, status),
            )

    # ------------------------------------------------------------------ hand-offs

    def record_handoff(self, agent_call_sid: str, call_sid: str, queue_sid: str | None = None,
                       queue_time: int | None = None) -> None:
        """Which caller an agent's call took from a queue (from the <Queue url> request)."""
        with self._lock:
            self._db.execute(
                """INSERT INTO handoffs VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT(agent_call_sid) DO UPDATE SET call_sid = excluded.call_sid,
                     queue_sid = excluded.queue_sid, queue_time = excluded.queue_time,
                     at = excluded.at""",
                (agent_call_sid, call_sid, queue_sid, queue_time, _now()),
            )

    def next_waiting(self, queue: str) -> CallTranscript | None:
        """The caller Twilio will hand the next agent of `queue`: the longest waiting one.

        Twilio dequeues first in, first out; a call waits from the end of its stream (the
        <Connect> action enqueues it) until an agent takes it or Twilio reports it ended.
        """
        terminal = ", ".join("?" * len(TERMINAL_STATUSES))
        with self._lock:
            row = self._db.execute(
                f"""SELECT call_sid FROM calls
                    WHERE outcome = 'transfer' AND queue = ? AND ended IS NOT NULL
                      AND (status IS NULL OR status NOT IN ({terminal}))
                      AND call_sid NOT IN (SELECT call_sid FROM handoffs)
                    ORDER BY ended, started LIMIT 1""",
                (queue, *TERMINAL_STATUSES),
            ).fetchone()
        return self.get(row[0]) if row else None

    def caller_for_agent(self, agent_call_sid: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT call_sid FROM handoffs WHERE agent_call_sid = ?",
                                   (agent_call_sid,)).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        with self._lock:
            self._db.close()
