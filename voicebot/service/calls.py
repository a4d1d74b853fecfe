"""The calls this instance is serving: admission at /voice and the one stream each may start.

A call counts from its /voice (the TwiML with its stream sent) until its stream ends; a call
whose stream has not started here within STREAM_WAIT_S stops counting (Twilio opens a
stream at once, so it either went to another instance or will not come). /voice admits a
call only while fewer than `capacity` count, so calls in progress keep their turn gaps when
more arrive: capacity is per instance, as the CPU that serves streams is. A `start` may
claim a call only while it waits for its stream (until its stream token expires): an
unknown CallSid, one already streaming and one that has ended are refused, so a captured
handshake replayed later cannot reach (and rewrite) that call's record.

Behind a load balancer a call's stream may reach another instance than its /voice, so the
per-call stream state lives in the shared call store (records/stream_state.py):
SharedCallRegistry arms it at /voice and claims it at `start` with an atomic
waiting -> streaming change there, and keeps this instance's counts in a LocalCallRegistry
(which alone is the registry of one process, and what the tests drive on a clock).
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
from voicebot.records.stream_state import ENDED, GIVEN_UP, STREAMING, WAITING

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
    def state(self, call_sid: str) -> str | None: ...


@dataclass
class _Call:
    state: str  # "waiting" | "streaming" | "ended"
    until: float  # waiting: given up after; ended: action awaited until (then forgotten)
    forget_at: float = 0.0
    since: float = 0.0  # waiting: admitted at


def _log_given_up(call_sid: str) -> None:
    log_event(log, "call.stream_never_started", logging.WARNING, call_sid=call_sid)


class LocalCallRegistry:
    """CallRegistry in this process's memory (thread-safe)."""

    def __init__(self, capacity: int, wait_s: float, *,
                 clock: Callable[[], float] = time.monotonic,
                 on_given_up: Callable[[str], None] = _log_given_up) -> None:
        self.capacity = capacity
        self.wait_s = wait_s
        self._clock = clock
        self._calls: dict[str, _Call] = {}
        self._lock = threading.Lock()
        self.given_up = 0  # calls whose stream never started here (for logs and tests)
        self.on_given_up = on_given_up  # called (under the lock: quick) for each of them

    def admit(self, call_sid: str) -> Admission:
        """/voice: may this call get a stream?"""
        with self._lock:
            now = self._expire()
            known = self._calls.get(call_sid)
            if known is not None:
                return Admission.ADMITTED if known.state == "waiting" else Admission.KNOWN
            if self._active() >= self.capacity:
                return Admission.FULL
            self._calls[call_sid] = _Call("waiting", now + self.wait_s, since=now)
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

    def adopt(self, call_sid: str) -> None:
        """Its stream began here (claimed in the shared store; /voice may have been
        answered by another instance): it counts here until its stream ends."""
        with self._lock:
            self._calls[call_sid] = _Call("streaming", 0.0)

    def forget(self, call_sid: str) -> None:
        """Not this instance's to count after all (its stream began elsewhere)."""
        with self._lock:
            self._calls.pop(call_sid, None)

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
        """Calls streaming here, and those admitted here whose stream may start any moment."""
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
        now = self._clock()
        return sum(1 for c in self._calls.values() if c.state == "streaming"
                   or c.state == "waiting" and now < c.since + STREAM_WAIT_S)

    def _expire(self) -> float:
        """Give up calls whose stream never came; forget long-ended ones. Returns now."""
        now = self._clock()
        for sid, call in list(self._calls.items()):
            if call.state == "waiting" and call.until <= now:
                call.state, call.until, call.forget_at = "ended", 0.0, now + REMEMBER_S
                self.given_up += 1
                self.on_given_up(sid)
            elif call.state == "ended" and call.forget_at <= now:
                del self._calls[sid]
        return now


class StreamStates(Protocol):
    """The shared store's per-call stream state (records.resilient.ResilientRecords): reads
    and the compare-and-set answer now or raise; marks are queued writes."""

    def stream_state(self, call_sid: str) -> str | None: ...
    def arm_stream(self, call_sid: str, deadline: float) -> bool: ...
    def claim_stream(self, call_sid: str, *, armed_here: bool) -> str | None: ...
    def mark_stream(self, call_sid: str, state: str) -> None: ...


class SharedCallRegistry:
    """CallRegistry for instances that share a call store: any instance may accept the
    stream of a call another one answered, and exactly one `start` begins each call.

    /voice arms the call in the store (waiting until its token expires), a `start` claims
    it there (waiting -> streaming, atomically: a replayed handshake for a streaming or
    ended call is refused and writes nothing), and the stream's end is written behind it.
    Counts, the drain and what this process already knows stay in `local`.

    When the store does not answer in time: /voice still admits the call (the caller is
    never turned away for it), and a `start` is accepted only for a call this instance
    answered (its token checked, its local state waiting), refused otherwise; what was
    accepted is written to the store when it is back.
    """

    def __init__(self, local: LocalCallRegistry, states: StreamStates, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.local = local
        self.states = states
        self._clock = clock  # wall time: the deadline is compared by every instance
        local.on_given_up = lambda sid: states.mark_stream(sid, GIVEN_UP)

    def admit(self, call_sid: str) -> Admission:
        admission = self.local.admit(call_sid)
        if admission is not Admission.ADMITTED:
            return admission
        try:
            armed = self.states.arm_stream(call_sid, self._clock() + self.local.wait_s)
        except Exception as exc:  # noqa: BLE001 - the caller still gets the bot
            self._unavailable("arm", call_sid, exc)
            return Admission.ADMITTED
        if armed:
            return Admission.ADMITTED
        self.local.forget(call_sid)  # its stream began, or the call ended, meanwhile
        return Admission.KNOWN

    def claim(self, call_sid: str) -> str | None:
        here = self.local.state(call_sid)
        if here not in (None, WAITING):
            return self.local.claim(call_sid)  # streaming or ended here: refused
        try:
            refusal = self.states.claim_stream(call_sid, armed_here=here == WAITING)
        except Exception as exc:  # noqa: BLE001 - decide what is safe without the store
            self._unavailable("claim", call_sid, exc)
            if here != WAITING:
                return ("the call records did not answer, and this instance did not answer "
                        "this call")
            refusal = self.local.claim(call_sid)
            if refusal is None:
                self.states.mark_stream(call_sid, STREAMING)
            return refusal
        if refusal is None:
            self.local.adopt(call_sid)
        return refusal

    def end(self, call_sid: str) -> None:
        self.local.end(call_sid)
        self.states.mark_stream(call_sid, ENDED)

    def action_served(self, call_sid: str) -> None:
        self.local.action_served(call_sid)

    def active(self) -> int:
        return self.local.active()

    def settled(self) -> bool:
        return self.local.settled()

    def state(self, call_sid: str) -> str | None:
        """waiting, streaming, ended, or None (unknown: /voice may admit it); this process's
        own knowledge first, else the store's (None if it does not answer)."""
        known = self.local.state(call_sid)
        if known is not None:
            return known
        try:
            return self.states.stream_state(call_sid)
        except Exception as exc:  # noqa: BLE001 - a broken store must not turn a caller away
            self._unavailable("read", call_sid, exc)
            return None

    @staticmethod
    def _unavailable(doing: str, call_sid: str, exc: Exception) -> None:
        log_event(log, "calls.store_unavailable", logging.WARNING, call_sid=call_sid,
                  doing=doing, error=type(exc).__name__, detail=str(exc)[:200])
