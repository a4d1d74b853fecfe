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
  process's earlier writes and ask the database, in a helper thread with a deadline:
  RecordsUnavailable when it fails or is late (the routes then answer what is safe).
- A database file removed under the running service (SQLite goes on writing into the deleted
  file, and it is all gone at the next start) is noticed before each write and by health():
  the store is opened again, which makes a new file, and the last records this process
  wrote are written to it again.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voicebot.errors import VoicebotError
from voicebot.logs import log_event
from voicebot.records.hashing import hash_number
from voicebot.records.recorder import RecordStore
from voicebot.records.spool import Spool
from voicebot.records.transcript import CallTranscript
from voicebot.records.writes import Key, apply_entry, entry_key

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.5  # after a failed write; doubles up to RETRY_MAX_S
RETRY_MAX_S = 5.0
RECENT_MAX = 500  # records written last, kept to write again into a database file made anew
REJECTS_MAX = 3  # a write refused this often while others go through is given up (logged)
CLOSE_WAIT_S = 5.0
FINAL_WAIT_S = 0.5  # a call's last save waits this long at most for the database
PROBE_SID = "readyz-probe"



class RecordsUnavailable(VoicebotError):
    """The call records did not answer (in time); what is kept in memory was not enough."""


class ResilientRecords:
    """The store behind a write queue, a spool and read deadlines; see the module doc."""

    def __init__(self, store: RecordStore, *, hash_key: bytes, spool_dir: Path | None,
                 reopen: Callable[[], RecordStore] | None = None, db_path: Path | None = None,
                 deadline_s: float = 2.0, pending_max: int = 2000) -> None:
        self.store = store
        self.deadline_s = deadline_s
        self.pending_max = pending_max
        self._hash_key = hash_key
        self._reopen = reopen
        self._db_path = Path(db_path) if db_path and str(db_path) != ":memory:" else None
        self._identity = self._file_identity()
        self._spool = Spool(spool_dir) if spool_dir else None
        self._cond = threading.Condition()
        self._pending: OrderedDict[Key, tuple[int, dict[str, Any]]] = OrderedDict()
        self._recent: OrderedDict[Key, dict[str, Any]] = OrderedDict()
        self._spooled: dict[Key, int] = {}  # key -> seq of the version in the spool
        self._rejects: dict[Key, int] = {}
        self._seq = 0  # writes queued so far
        self._written_seq = 0  # every write queued up to this one was made (or given up)
        self._retry_at = 0.0
        self._backoff = RETRY_FIRST_S
        self._failing_since: float | None = None
        self.last_error: str | None = None
        self._stale = False  # the store should be opened again before the next write
        self._reopen_now = False
        self._closing = False
        self._readers = concurrent.futures.ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="records-read")
        adopted = self._spool.adopt() if self._spool else []
        for entry in adopted:
            self._put(entry, spooled=True)
        if adopted:
            log_event(log, "records.spool_found", entries=len(adopted))
        self._writer = threading.Thread(target=self._run, name="records-writer", daemon=True)
        self._writer.start()

    # ------------------------------------------------------------------ writes (never wait)

    def save(self, transcript: CallTranscript, *, from_number: str | None = None,
             ended: bool = False) -> None:
        """The Recorder protocol: keep the call's latest transcript for writing."""
        caller_hash = hash_number(self._hash_key, from_number) if from_number else None
        seq = self._put({"op": "save", "call_sid": transcript.call_sid,
                         "transcript": transcript.to_dict(), "caller_hash": caller_hash,
                         "ended": ended})
        if ended:
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

    def describe(self) -> str:
        """Where the records are, for logs."""
        return self.store.describe()

    def record_handoff(self, agent_call_sid: str, call_sid: str, queue_sid: str | None = None,
                       queue_time: int | None = None) -> None:
        self._put({"op": "handoff", "agent_call_sid": agent_call_sid, "call_sid": call_sid,
                   "queue_sid": queue_sid, "queue_time": queue_time})

    def flush(self, timeout: float) -> bool:
        """Wait until every write queued so far is made; False if some are still waiting."""
        with self._cond:
            target = self._seq
            return self._cond.wait_for(lambda: self._written_seq >= target, timeout)

    # ------------------------------------------------------------------ reads (deadline)

    def get(self, call_sid: str) -> CallTranscript | None:
        entry = self._latest(("save", call_sid))
        if entry is not None:
            return CallTranscript.from_dict(entry["transcript"])
        return self._ask(lambda store: store.get(call_sid))

    def call_row(self, call_sid: str) -> dict[str, Any] | None:
        return self._ask(lambda store: store.call_row(call_sid))

    def caller_for_agent(self, agent_call_sid: str) -> str | None:
        entry = self._latest(("handoff", agent_call_sid))
        if entry is not None:
            return str(entry["call_sid"])
        return self._ask(lambda store: store.caller_for_agent(agent_call_sid))

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
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._writer.join(CLOSE_WAIT_S)
        with self._cond:
            left = [(k, s, e) for k, (s, e) in self._pending.items()
                    if self._spooled.get(k) != s]
            self._closing = True
        if left and self._spool:
            self._spool.append([e for _, _, e in left])
        if self._spool:
            self._spool.close()
        self._readers.shutdown(wait=False)
        with contextlib.suppress(Exception):
            self.store.close()

    # ------------------------------------------------------------------ internals

    def _put(self, entry: dict[str, Any], *, spooled: bool = False) -> int:
        key = entry_key(entry)
        with self._cond:
            if entry["op"] == "save":
                before = self._latest_locked(key)
                if before is not None:
                    entry["caller_hash"] = entry.get("caller_hash") or before.get("caller_hash")
                    entry["ended"] = bool(entry.get("ended") or before.get("ended"))
            self._seq += 1
            self._pending[key] = (self._seq, entry)
            if spooled:
                self._spooled[key] = self._seq
            self._trim_locked()
            self._cond.notify_all()
            return self._seq

    def _latest(self, key: Key) -> dict[str, Any] | None:
        with self._cond:
            return self._latest_locked(key)

    def _latest_locked(self, key: Key) -> dict[str, Any] | None:
        pending = self._pending.get(key)
        return pending[1] if pending is not None else self._recent.get(key)

    def _trim_locked(self) -> None:
        """Beyond pending_max, forget the oldest writes (those in the spool first)."""
        while len(self._pending) > self.pending_max:
            victim = next((k for k, (s, _) in self._pending.items()
                           if self._spooled.get(k) == s), next(iter(self._pending)))
            in_spool = self._spooled.pop(victim, None) == self._pending.pop(victim)[0]
            if not in_spool:
                log_event(log, "records.dropped", logging.ERROR, call_sid=victim[1],
                          write=victim[0], why="too many records waiting and no spool")

    def _ask(self, read: Callable[[RecordStore], Any], *, wait_writes: bool = True) -> Any:
        end = time.monotonic() + self.deadline_s
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
                                     f"{self.deadline_s:g} s") from None
        except Exception as exc:  # noqa: BLE001 - any store failure: the callers fail safe
            log_event(log, "records.read_failed", logging.WARNING,
                      error=type(exc).__name__, detail=str(exc)[:200])
            raise RecordsUnavailable(f"the call records cannot be read "
                                     f"({type(exc).__name__}: {str(exc)[:120]})") from None

    def _file_identity(self) -> tuple[int, int] | None:
        if self._db_path is None:
            return None
        try:
            st = os.stat(self._db_path)
        except OSError:
            return (-1, -1)
        return st.st_dev, st.st_ino

    # ------------------------------------------------------------------ the writer thread

    def _due_locked(self) -> bool:
        if self._closing:
            return True
        return (bool(self._pending) or self._reopen_now) and time.monotonic() >= self._retry_at

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._due_locked():
                    wait = (self._retry_at - time.monotonic()
                            if self._pending or self._reopen_now else None)
                    self._cond.wait(None if wait is None else max(0.01, wait))
                if self._closing and not self._pending:
                    return
                batch, target = list(self._pending.items()), self._seq
                self._reopen_now = False
            done = self._write(batch)
            if self._closing and not done:
                return  # one last try was made; close() spools the rest
            if done:
                with self._cond:
                    if self._written_seq < target:
                        self._written_seq = target
                    self._cond.notify_all()

    def _write(self, batch: list[tuple[Key, tuple[int, dict[str, Any]]]]) -> bool:
        """Write a batch; True when every write in it was made (or given up)."""
        try:
            self._check_store()
        except Exception as exc:  # noqa: BLE001 - cannot open: the same as a failed write
            self._failed(exc)
            return False
        wrote = 0
        for key, (seq, entry) in batch:
            try:
                apply_entry(self.store, entry)
            except Exception as exc:  # noqa: BLE001 - any store failure: keep and retry
                if wrote == 0:
                    self._failed(exc)
                    return False
                self._rejected(key, seq, exc)
                continue
            wrote += 1
            self._written(key, seq, entry)
        self._recovered()
        return True

    def _check_store(self) -> None:
        """Open the store again when its file was removed or after a failed write."""
        replaced = self._file_identity() != self._identity
        with self._cond:
            stale, self._stale = self._stale or replaced, False
        if not stale or self._reopen is None:
            return
        fresh = self._reopen()
        old, self.store = self.store, fresh
        self._identity = self._file_identity()
        with contextlib.suppress(Exception):
            old.close()
        if replaced:
            with self._cond:
                again = [e for k, e in self._recent.items() if k not in self._pending]
            for entry in again:
                self._put(dict(entry))
            log_event(log, "records.db_reopened", logging.WARNING, why="file removed",
                      rewritten=len(again))

    def _written(self, key: Key, seq: int, entry: dict[str, Any]) -> None:
        with self._cond:
            current = self._pending.get(key)
            if current is not None and current[0] == seq:
                del self._pending[key]
                self._spooled.pop(key, None)
            self._rejects.pop(key, None)
            self._recent[key] = entry
            self._recent.move_to_end(key)
            while len(self._recent) > RECENT_MAX:
                self._recent.popitem(last=False)

    def _failed(self, exc: Exception) -> None:
        with self._cond:
            first = self._failing_since is None
            if first:
                self._failing_since = time.time()
            self.last_error = f"{type(exc).__name__}: {str(exc)[:160]}"
            self._retry_at = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, RETRY_MAX_S)
            self._stale = True
            unspooled = [(k, s, e) for k, (s, e) in self._pending.items()
                         if self._spooled.get(k) != s]
            self._cond.notify_all()  # readers stop waiting for writes that will not come
        if first:
            log_event(log, "records.write_failed", logging.ERROR, error=type(exc).__name__,
                      detail=str(exc)[:200], waiting=len(unspooled), retry="with backoff")
        if unspooled and self._spool and self._spool.append([e for _, _, e in unspooled]):
            with self._cond:
                for key, seq, _ in unspooled:
                    self._spooled[key] = seq

    def _rejected(self, key: Key, seq: int, exc: Exception) -> None:
        """The database takes other writes but not this one: try it later, then give up."""
        with self._cond:
            tries = self._rejects[key] = self._rejects.get(key, 0) + 1
            if key in self._pending:
                self._pending.move_to_end(key)
            given_up = tries >= REJECTS_MAX and self._pending.get(key, (None,))[0] == seq
            if given_up:
                del self._pending[key], self._rejects[key]
                self._spooled.pop(key, None)
        log_event(log, "records.write_rejected", logging.ERROR, call_sid=key[1], write=key[0],
                  error=type(exc).__name__, tries=tries, given_up=given_up)

    def _recovered(self) -> None:
        with self._cond:
            was_failing, self._failing_since = self._failing_since, None
            self._backoff, self._retry_at = RETRY_FIRST_S, 0.0
            empty = not self._pending
        if was_failing is not None:
            log_event(log, "records.write_recovered", down_s=round(time.time() - was_failing))
        if empty and self._spool and self._spool.lines:
            self._spool.clear()
        if was_failing is not None and self._spool:
            for entry in self._spool.adopt():  # files of processes that ended meanwhile
                self._put(entry, spooled=True)
