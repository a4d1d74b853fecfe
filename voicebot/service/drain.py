"""Stopping without dropping anyone: the drain that SIGTERM starts.

While draining, the instance keeps serving HTTP (so /readyz can say "draining" to the load
balancer, Twilio's action URLs of ended streams are answered and queued callers' hold music
is served) but takes no new call: /voice hands the caller to a person at once. Calls in
progress may go on for the grace period, then each is handed to a person with a short
message (a call already handing over or saying goodbye finishes as it is). Streams still
open HANDOVER_ALLOWANCE_S after that are closed (their record keeps the hand-over). The
process exits once nothing is left to serve (and LINGER_S more), or at `deadline_s` at the
latest.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from voicebot.service.calls import ACTION_WAIT_S

HANDOVER_ALLOWANCE_S = 20.0  # for a hand-over message to play and its mark to come back
SETTLE_POLL_S = 0.1
# Once settled, requests that follow at once (Twilio fetching the hold music of a caller it
# has just queued) are still answered for this long.
LINGER_S = 2.0


class Drain:
    """The drain of one instance; `begin()` starts it (idempotent, thread-safe)."""

    def __init__(self, grace_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.grace_s = grace_s
        self._clock = clock
        self._started_at: float | None = None
        self._lock = threading.Lock()

    @property
    def draining(self) -> bool:
        return self._started_at is not None

    def begin(self) -> bool:
        """Start draining; False if it had already started."""
        with self._lock:
            if self._started_at is not None:
                return False
            self._started_at = self._clock()
            return True

    def _since(self) -> float | None:
        started = self._started_at
        return None if started is None else self._clock() - started

    def hand_over_due(self) -> bool:
        """Calls in progress must now be handed to a person."""
        since = self._since()
        return since is not None and since >= self.grace_s

    def give_up_due(self) -> bool:
        """Streams still open now are closed."""
        since = self._since()
        return since is not None and since >= self.grace_s + HANDOVER_ALLOWANCE_S

    @property
    def deadline_s(self) -> float:
        """The longest a drain takes: grace, a hand-over, Twilio's action requests."""
        return self.grace_s + HANDOVER_ALLOWANCE_S + ACTION_WAIT_S

    def wait(self, settled: Callable[[], bool], sleep: Callable[[float], None] = time.sleep
             ) -> bool:
        """Block until `settled()` (nothing left to serve) and LINGER_S more, or until the
        deadline; True if settled."""
        while True:
            if settled():
                sleep(LINGER_S)
                return True
            since = self._since()
            if since is not None and since >= self.deadline_s:
                return False
            sleep(SETTLE_POLL_S)
