"""The scheduled purge: expired records removed inside the service, one host at a time.

Every VOICEBOT_PURGE_EVERY_S (first a minute after start-up) a background thread takes the
`purge` lock in the shared database (records.retention.acquire: a row with an expiry, so
a host that dies holding it does not stop the others for long) and, if it got it, purges
what the retention settings say has expired, logs the counts (`records.purged`) and
writes them to the audit log. Hosts that do not get the lock skip that round. A failure
is logged and the next round tries again; calls are never affected.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from voicebot.logs import log_event
from voicebot.records.access import AccessStore, AuditEntry
from voicebot.records.database import now_iso
from voicebot.records.resilient import ResilientRecords
from voicebot.records.retention import Purge, Retention, acquire, purge, release

log = logging.getLogger("voicebot.records")

LOCK = "purge"
FIRST_AFTER_S = 60.0


class Housekeeper:
    def __init__(self, records: ResilientRecords, retention: Retention, every_s: float, *,
                 first_after_s: float = FIRST_AFTER_S) -> None:
        self.records = records
        self.retention = retention
        self.every_s = every_s
        self.first_after_s = min(first_after_s, every_s)
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.every_s <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="records-purge", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the schedule, waiting for a round under way (before the records close)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run_once(self) -> Purge | None:
        """One round: the purge if this host got the lock (None if another has it)."""
        db = self.records.store.database
        if not acquire(db, LOCK, self.holder, ttl_s=max(600.0, self.every_s)):
            return None
        try:
            done = purge(db, self.retention)
        finally:
            release(db, LOCK, self.holder)
        self.records.forget_calls(done.affected)
        log_event(log, "records.purged", removed=done.total, detail=done.detail())
        if done.total:
            AccessStore(db).append_audit(AuditEntry(
                at=now_iso(), actor=f"service:{self.holder}", role="admin", action="purge",
                endpoint="scheduled purge", detail=done.detail()))
        return done

    def _run(self) -> None:
        wait = self.first_after_s
        while not self._stop.wait(wait) and not self.records.closed:
            wait = self.every_s
            try:
                self.run_once()
            except Exception as exc:  # noqa: BLE001 - the next round tries again
                log_event(log, "records.purge_failed", logging.WARNING,
                          error=type(exc).__name__, detail=str(exc)[:200])
