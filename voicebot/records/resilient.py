"""ResilientRecords: the call records as callers and Twilio need them, whatever the database
does. The database is never a single point of failure for a caller.

It wraps the store (CallStore, through the methods of recorder.RecordStore only) for the
driver's Recorder protocol and for the routes:
- Writes never raise. save, close_call and record_handoff keep the write in memory (a call's
  later save replaces its earlier one) and a writer thread makes it; only a call's last save
  waits, briefly and not while the database refuses writes, so that another process
  answering the <Connect> action can read it. A refused write is logged (once per outage),
  kept, tried again with backoff and appended to the spool (records/spool.py), so a restart
  loses nothing; the spool goes to the database when it is back, and at start-up.
- Reads see the writes not made yet first, so the <Connect> action hangs up a caller who
  heard the goodbye even when the database took nothing. Otherwise they wait for this
  process's earlier writes and ask the database, in a helper thread with a deadline; when
  it fails or is late, what this process wrote last answers, else RecordsUnavailable (the
  routes then answer what is safe). The database comes first, so a record purged or
  erased is not served again from memory.
- A database file removed under the running service is noticed before each write and by
  health(), and the store opened again (records/write_queue.py).
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voicebot.errors import VoicebotError
from voicebot.logs import log_event
from voicebot.records.access import AuditEntry
from voicebot.records.crypto import DataCipher
from voicebot.records.hashing import hash_number
from voicebot.records.recorder import RecordStore
from voicebot.records.spool import Spool
from voicebot.records.stream_state import ResilientStreamStates
from voicebot.records.transcript import CallTranscript
from voicebot.records.write_queue import WriteQueue
from voicebot.records.writes import Key

log = logging.getLogger(__name__)

FINAL_WAIT_S = 0.5  # a call's last save waits this long at most for the database
PROBE_SID = "readyz-probe"


class RecordsUnavailable(VoicebotError):
    """The call records did not answer (in time); what is kept in memory was not enough."""


class ResilientRecords(WriteQueue, ResilientStreamStates):
    """The store behind a write queue, a spool and read deadlines; see the module doc."""

    def __init__(self, store: RecordStore, *, hash_key: bytes, spool_dir: Path | None,
                 reopen: Callable[[], RecordStore] | None = None, db_path: Path | None = None,
                 deadline_s: float = 2.0, pending_max: int = 2000,
                 cipher: DataCipher | None = None) -> None:
        self.deadline_s = deadline_s
        self._hash_key = hash_key
        self._readers = concurrent.futures.ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="records-read")
        super().__init__(store, spool=Spool(spool_dir, cipher) if spool_dir else None,
                         reopen=reopen,
                         db_path=db_path, pending_max=pending_max)

    # ------------------------------------------------------------------ writes (never wait)

    def save(self, transcript: CallTranscript, *, from_number: str | None = None,
             ended: bool = False) -> None:
        """The Recorder protocol: keep the call's latest transcript for writing."""
        caller_hash = hash_number(self._hash_key, from_number) if from_number else None
        seq = self._put({"op": "save", "call_sid": transcript.call_sid,
                         "transcript": transcript.to_dict(), "caller_hash": caller_hash,
                         "ended": ended})
        if ended:
            self._settle(seq)

    def _settle(self, seq: int) -> None:
        """Wait (FINAL_WAIT_S at most, and not while the database is failing) until write
        `seq` is made: for what another host reads next (a call's end, an agent's pairing)."""
        with self._cond:
            self._cond.wait_for(lambda: self._written_seq >= seq
                                or self._failing_since is not None, FINAL_WAIT_S)

    def open_call(self, call_sid: str, *, from_number: str | None, flow_name: str,
                  flow_version: str, variant: str | None = None) -> None:
        """The incoming-call webhook's record (the call exists from its first request)."""
        caller_hash = hash_number(self._hash_key, from_number) if from_number else None
        self._put({"op": "open", "call_sid": call_sid, "flow_name": flow_name,
                   "flow_version": flow_version, "variant": variant,
                   "caller_hash": caller_hash})

    def mark_enqueued(self, call_sid: str, queue: str, *, summary_if_undecided: str) -> None:
        """The <Connect> action put the caller in `queue` (an undecided call becomes a
        transfer with `summary_if_undecided`)."""
        self._put({"op": "enqueued", "call_sid": call_sid, "queue": queue,
                   "summary_if_undecided": summary_if_undecided})

    def close_call(self, call_sid: str, status: str) -> None:
        self._put({"op": "close", "call_sid": call_sid, "status": status})

    def caller_hash(self, number: str) -> str:
        """The keyed hash the records keep for a caller's number (never the number)."""
        return hash_number(self._hash_key, number)

    def describe(self) -> str:
        """Where the records are, for logs."""
        return self.store.describe()

    def record_handoff(self, agent_call_sid: str, call_sid: str, queue_sid: str | None = None,
                       queue_time: int | None = None) -> None:
        # The agent's desktop asks for this caller's context next, maybe from another host.
        self._settle(self._put({"op": "handoff", "agent_call_sid": agent_call_sid,
                                "call_sid": call_sid, "queue_sid": queue_sid,
                                "queue_time": queue_time}))

    def audit(self, entry: AuditEntry) -> None:
        """An audit-log entry: written like the records (never waits, kept while refused)."""
        self._put({"op": "audit", "entry": entry.to_dict()})

    # ------------------------------------------------------------------ reads (deadline)

    def ask(self, read: Callable[[RecordStore], Any], *, wait_writes: bool = False,
            deadline_s: float | None = None) -> Any:
        """`read(store)` within the read deadline (or `deadline_s`; RecordsUnavailable when
        it fails or is late); `wait_writes`: after this process's queued writes are made."""
        return self._ask(read, wait_writes=wait_writes, deadline_s=deadline_s)

    def get(self, call_sid: str) -> CallTranscript | None:
        entry = self._remembered(("save", call_sid), lambda store: store.get(call_sid))
        return CallTranscript.from_dict(entry["transcript"]) if isinstance(entry, dict) \
            else entry

    def call_row(self, call_sid: str) -> dict[str, Any] | None:
        return self._ask(lambda store: store.call_row(call_sid))

    def caller_for_agent(self, agent_call_sid: str) -> str | None:
        entry = self._remembered(("handoff", agent_call_sid),
                                 lambda store: store.caller_for_agent(agent_call_sid))
        return str(entry["call_sid"]) if isinstance(entry, dict) else entry

    def _remembered(self, key: Key, read: Callable[[RecordStore], Any]) -> Any:
        """A write not made yet (the entry), else the database's answer; what this process
        wrote last (the entry) only when the database does not answer. So a record purged
        or erased is not served again from memory while the database is there."""
        with self._cond:
            pending = self._pending.get(key)
        if pending is not None:
            return pending[1]
        try:
            return self._ask(read)
        except RecordsUnavailable:
            with self._cond:
                recent = self._recent.get(key)
            if recent is None:
                raise
            return recent

    def next_waiting(self, queue: str) -> CallTranscript | None:
        """The caller at the head of `queue`, or None (also when the records are out: the
        agent then gets a general briefing rather than none)."""
        try:
            return self._ask(lambda store: store.next_waiting(queue))
        except RecordsUnavailable:
            return None

    # ------------------------------------------------------------------ health

    def health(self) -> tuple[bool, str]:
        """(usable, what to tell people), for /readyz: cheap, bounded by the read deadline."""
        if self._file_identity() != self._identity:
            with self._cond:
                self._reopen_now = True  # the writer opens it again, even with nothing to write
                self._cond.notify_all()
            return False, "the database file was removed or replaced; opening it again"
        with self._cond:
            waiting, failing, error = len(self._pending), self._failing_since, self.last_error
        if failing is not None:
            spool = f"; kept in {self._spool.directory}" if self._spool else ""
            return False, (f"{waiting} record write(s) waiting: the database refuses them "
                           f"since {time.time() - failing:.0f} s ({error}){spool}")
        try:
            self._ask(lambda store: store.call_row(PROBE_SID), wait_writes=False)
        except RecordsUnavailable as exc:
            return False, str(exc)
        return True, "writing" + (f" ({waiting} write(s) in progress)" if waiting else "")

    def close(self) -> None:
        """Make the writes still waiting (for a few seconds), spool the rest, close."""
        super().close()
        self._readers.shutdown(wait=False)

    def _ask(self, read: Callable[[RecordStore], Any], *, wait_writes: bool = True,
             deadline_s: float | None = None) -> Any:
        deadline_s = deadline_s or self.deadline_s
        end = time.monotonic() + deadline_s
        if wait_writes:  # read this process's own writes, unless the database refuses them
            with self._cond:
                target = self._seq
                self._cond.wait_for(lambda: self._written_seq >= target
                                    or self._failing_since is not None,
                                    max(0.0, end - time.monotonic()))
        store = self.store
        try:
            future = self._readers.submit(read, store)
            return future.result(timeout=max(0.01, end - time.monotonic()))
        except concurrent.futures.TimeoutError:
            raise RecordsUnavailable(f"the call records did not answer within "
                                     f"{deadline_s:g} s") from None
        except Exception as exc:  # noqa: BLE001 - any store failure: the callers fail safe
            log_event(log, "records.read_failed", logging.WARNING,
                      error=type(exc).__name__, detail=str(exc)[:200])
            raise RecordsUnavailable(f"the call records cannot be read "
                                     f"({type(exc).__name__}: {str(exc)[:120]})") from None
