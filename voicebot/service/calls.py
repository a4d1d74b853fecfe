"""The calls this instance is serving: admission at /voice and the one stream each may start.

A call counts from its /voice (the TwiML with its stream sent) until its stream ends, or until
its stream token expires without a stream (given up). /voice admits a call only while fewer
than `capacity` count, so calls in progress keep their turn gaps when more arrive. A `start`
may claim a call only while it waits for its stream: an unknown CallSid, one already
streaming and one that has ended are refused, so a captured handshake replayed later cannot
reach (and rewrite) that call's record.

Kept in this process's memory: the TwiML from /voice sends the stream to the instance that
answered it, so one instance sees both. Behind `CallRegistry` so that the claim can move to
the shared call store when several hosts answer one number: it needs an atomic
"waiting -> streaming" change of a per-call state (with the waiting deadline), a count of the
calls an instance holds, and the ended calls kept at least as long as a stream token lives.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from voicebot.logs import log_event

log = logging.getLogger("voicebot.calls")

ACTION_WAIT_S = 5.0  # after a stream ends, how long Twilio may take to request the action URL
STREAM_WAIT_S = 5.0  # after /voice, how long a drain waits for Twilio to open the stream
REMEMBER_S = 3600.0  # ended calls are remembered this long (at least a token's lifetime)


class Admission(Enum):
    ADMITTED = "admitted"  # the TwiML with a stream may be sent
    FULL = "full"  # capacity reached: answer with the overflow TwiML
    KNOWN = "known"  # this CallSid already streamed (or is streaming): never re-arm it


class CallRegistry(Protocol):
    def admit(self, call_sid: str) -> Admission: ...
    def claim(self, call_sid: str) -> str | None: ...
    def end(self, call_sid: str) -> None: ...
    def action_served(self, call_sid: str) -> None: ...
    def active(self) -> int: ...
    def settled(self) -> bool: ...


@dataclass
class _Call:
    state: str  # "waiting" | "streaming" | "ended"
    until: float  # waiting: given up after; ended: action awaited until (then forgotten)
    forget_at: float = 0.0


class LocalCallRegistry:
    """CallRegistry in this process's memory (thread-safe)."""

    def __init__(self, capacity: int, wait_s: float, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self.wait_s = wait_s
        self._clock = clock
        self._calls: dict[str, _Call] = {}
        self._lock = threading.Lock()
        self.given_up = 0  # calls whose stream never started (for logs and tests)

    def admit(self, call_sid: str) -> Admission:
        """/voice: may this call get a stream?"""
        with self._lock:
            now = self._expire()
            known = self._calls.get(call_sid)
            if known is not None:
                return Admission.ADMITTED if known.state == "waiting" else Admission.KNOWN
            if self._active() >= self.capacity:
                return Admission.FULL
            self._calls[call_sid] = _Call("waiting", now + self.wait_s)
            return Admission.ADMITTED

    def claim(self, call_sid: str) -> str | None:
        """A `start` for this call: None if it may stream, else why not."""
        with self._lock:
            self._expire()
            call = self._calls.get(call_sid)
            if call is None:
                return "no call is waiting for a stream with this CallSid"
            if call.state != "waiting":
                return f"this call is already {call.state}"
            call.state = "streaming"
            return None

    def end(self, call_sid: str) -> None:
        """The call's stream is over: it no longer counts; Twilio may now request the
        <Connect> action URL."""
        with self._lock:
            now = self._clock()
            call = self._calls.get(call_sid)
            if call is not None:
                call.state, call.until = "ended", now + ACTION_WAIT_S
                call.forget_at = now + max(REMEMBER_S, self.wait_s)

    def action_served(self, call_sid: str) -> None:
        with self._lock:
            call = self._calls.get(call_sid)
            if call is not None and call.state == "ended":
                call.until = 0.0

    def active(self) -> int:
        """Calls waiting for their stream or streaming now."""
        with self._lock:
            self._expire()
            return self._active()

    def settled(self) -> bool:
        """Nothing left to serve (a drain may end): no call streaming, none whose stream or
        action URL Twilio may still be about to request."""
        with self._lock:
            now = self._expire()
            for call in self._calls.values():
                if call.state == "streaming" or call.until > now and (
                        call.state == "ended"
                        or call.until - self.wait_s + STREAM_WAIT_S > now):
                    return False
            return True

    def state(self, call_sid: str) -> str | None:
        with self._lock:
            self._expire()
            call = self._calls.get(call_sid)
            return call.state if call else None

    def _active(self) -> int:
        return sum(1 for c in self._calls.values() if c.state != "ended")

    def _expire(self) -> float:
        """Give up calls whose stream never came; forget long-ended ones. Returns now."""
        now = self._clock()
        for sid, call in list(self._calls.items()):
            if call.state == "waiting" and call.until <= now:
                call.state, call.until, call.forget_at = "ended", 0.0, now + REMEMBER_S
                self.given_up += 1
                log_event(log, "call.stream_never_started", logging.WARNING, call_sid=sid)
            elif call.state == "ended" and call.forget_at <= now:
                del self._calls[sid]
        return now
