"""The WebSocket edge of a call: move Twilio's messages between the socket and a CallDriver.

All call logic is in the driver (no socket inside it); this loop only receives with a short
timeout, hands each text (or the passing time) to the driver with the stream clock, sends
what it returns, and closes the socket once the driver is finished, which makes Twilio
request the <Connect> action URL. Before the call starts it also guards the stream: the
first `start` must be admitted by the service (its stream token, and a call waiting for its
stream), else the socket is closed and no record is touched; a socket that sends no `start`,
or nothing at all for a while, is closed. While the service drains it tells the driver to
hand the caller over. If the socket drops without a `stop`, or anything here breaks, the
driver is told the stream dropped so the record says "transfer, error" and the caller
reaches a person. Each call runs in its own server thread.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from simple_websocket import ConnectionClosed

from voicebot.logs import log_event
from voicebot.service.websocket import OVERSIZE
from voicebot.telephony import media_stream as ms

log = logging.getLogger("voicebot.media")
RECEIVE_TIMEOUT_S = 0.02  # how often timers are ticked when Twilio sends nothing
SLOW_STEP_S = 0.25  # a driver step this slow delays the caller's audio: worth a log line
MAX_CLOCK_STEP_S = 0.02  # a media message moves the stream clock at most one frame ahead
_TIMESTAMP = re.compile(r'"timestamp"\s*:\s*"?(\d{1,10})')


class StreamClock:
    """Seconds since the stream began: real time, or the media timestamps if they run ahead.

    Twilio sends media in real time, so this is time.monotonic(). A stand-in run with --speed
    sends the caller's audio faster than real time; following the media timestamps then keeps
    the session's view of time (endpointing, no-input timers, marks) consistent with the audio.
    A message may move the clock at most one 20 ms frame, and the loop takes back the step
    of a message the driver skipped, so bogus timestamps cannot fire the timers.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._origin = clock()
        self._ahead = 0.0  # how far media timestamps have run ahead of real time

    def now(self) -> float:
        return self._clock() - self._origin + self._ahead

    def saw(self, text: str) -> float:
        """Follow a media message's timestamp; returns the step taken (for `undo`)."""
        match = _TIMESTAMP.search(text) if '"media"' in text else None
        if match is None:
            return 0.0
        lead = int(match.group(1)) / 1000.0 + 0.02 - self.now()
        step = min(lead, MAX_CLOCK_STEP_S) if lead > 0 else 0.0
        self._ahead += step
        return step

    def undo(self, step: float) -> None:
        self._ahead -= step


class Socket(Protocol):
    def receive(self, timeout: float | None = None) -> Any: ...
    def send(self, data: Any) -> None: ...
    def close(self, reason: int | None = None, message: str | None = None) -> None: ...


class StreamGate(Protocol):
    """What the service decides about a stream (runtime.Service)."""

    def admit_stream(self, start: ms.Start) -> str | None:
        """None if this `start` may begin its call, else why not."""

    def stream_ended(self, call_sid: str) -> None: ...

    @property
    def stop_serving_due(self) -> bool:
        """Draining: calls in progress must be handed to a person now."""

    @property
    def give_up_due(self) -> bool:
        """Draining for too long: close the streams still open."""


@dataclass(frozen=True)
class StreamRules:
    start_timeout_s: float = 5.0
    idle_timeout_s: float = 10.0


def _call_sid(driver: Any) -> str | None:
    try:
        return driver.transcript.call_sid or None
    except Exception:  # noqa: BLE001 - only for log context
        return None


class _Stream:
    """One socket's loop state (see run_stream)."""

    def __init__(self, ws: Socket, driver: Any, gate: StreamGate, rules: StreamRules,
                 clock: StreamClock) -> None:
        self.ws, self.driver, self.gate, self.rules, self.clock = ws, driver, gate, rules, clock
        self.opened = self.heard = time.monotonic()
        self.call_sid: str | None = None  # set once a `start` is admitted
        self.ignored_before_start = 0
        self.stop_sent = False
        self.over = False  # refused, or stopped before it began

    def before_start(self, text: str) -> bool:
        """A message before the call started: True if it is the admitted `start` (to go to
        the driver). Anything else but `stop` is counted and ignored."""
        try:
            event = ms.parse_message(text)
        except ms.StreamProtocolError:
            event = None
        if isinstance(event, ms.Start):
            refusal = self.gate.admit_stream(event)
            if refusal is None:
                self.call_sid = event.call_sid
                return True
            log_event(log, "stream.start_refused", logging.WARNING, call_sid=event.call_sid,
                      reason=refusal)
            self.over = True
        elif isinstance(event, ms.Stop):
            self.over = True  # the call ended before its stream began
        elif not isinstance(event, ms.Connected):
            self.ignored_before_start += 1
        return False

    def timed_out(self, now: float) -> str | None:
        if self.call_sid is None and now - self.opened > self.rules.start_timeout_s:
            return "no start"
        if now - self.heard > self.rules.idle_timeout_s:
            return "idle"
        return None

    def step(self, text: Any) -> list[str] | None:
        """One turn of the loop; None when the stream must close."""
        now = time.monotonic()
        if text is None:
            why = self.timed_out(now)
            if why is not None:
                log_event(log, "media.timeout", logging.WARNING, call_sid=self.call_sid,
                          reason=why)
                return None
            out = self.driver.tick(self.clock.now()) if self.call_sid else []
        else:
            self.heard = now
            if isinstance(text, bytes):  # Twilio sends text; let the parser reject junk
                text = text.decode("utf-8", errors="replace")
            if text == OVERSIZE:
                log_event(log, "stream.bad_message", logging.WARNING, call_sid=self.call_sid,
                          reason="message over the size limit, dropped")
                return []
            if self.call_sid is None and not self.before_start(text):
                return None if self.over else []
            bad, step = self.driver.bad_messages, self.clock.saw(text)
            out = self.driver.receive(text, self.clock.now())
            if self.driver.bad_messages > bad:
                self.clock.undo(step)  # a skipped message does not move time
        if self.call_sid and not self.stop_sent and self.gate.stop_serving_due:
            self.stop_sent = True
            out += self.driver.stop_serving(self.clock.now())
        if self.call_sid and self.gate.give_up_due:
            log_event(log, "media.drain_gave_up", logging.WARNING, call_sid=self.call_sid)
            return None
        return out


def run_stream(ws: Socket, driver: Any, gate: StreamGate, rules: StreamRules | None = None,
               clock: StreamClock | None = None) -> None:
    """Serve one media stream until the driver finishes or the socket goes away."""
    stream = _Stream(ws, driver, gate, rules or StreamRules(), clock or StreamClock())
    try:
        while not driver.finished:
            try:
                text = ws.receive(timeout=RECEIVE_TIMEOUT_S)
            except ConnectionClosed:
                break
            started = time.perf_counter()
            out = stream.step(text)
            spent = time.perf_counter() - started
            if spent > SLOW_STEP_S:
                log_event(log, "media.slow_step", logging.WARNING, call_sid=stream.call_sid,
                          ms=round(spent * 1000))
            if out is None:
                break
            for message in out:
                ws.send(message)
    except ConnectionClosed:
        pass
    except Exception:  # noqa: BLE001 - a fault must reach a person, never a silent hang-up
        log.exception("media.loop_error", extra={"call_sid": stream.call_sid})
    finally:
        _close(stream)


def _close(stream: _Stream) -> None:
    driver = stream.driver
    if stream.call_sid is not None:
        if not _finished(driver):
            try:
                driver.stream_dropped(stream.clock.now())
            except Exception:  # noqa: BLE001
                log.exception("media.stream_dropped_error", extra={"call_sid": stream.call_sid})
            log_event(log, "media.stream_dropped", logging.WARNING, call_sid=stream.call_sid)
        stream.gate.stream_ended(stream.call_sid)
    with contextlib.suppress(Exception):  # already closed by the peer
        stream.ws.close()
    log_event(log, "media.stream_closed", call_sid=stream.call_sid or _call_sid(driver),
              started=stream.call_sid is not None, finished=_finished(driver),
              ignored_before_start=stream.ignored_before_start)


def _finished(driver: Any) -> bool:
    try:
        return bool(driver.finished)
    except Exception:  # noqa: BLE001
        return False
