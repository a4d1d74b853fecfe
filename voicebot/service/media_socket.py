"""The WebSocket edge of a call: move Twilio's messages between the socket and a CallDriver.

All call logic is in the driver (no socket inside it); this loop only receives with a short
timeout, hands each text (or the passing time) to the driver with time.monotonic(), sends what
it returns, and closes the socket once the driver is finished, which makes Twilio request the
<Connect> action URL. If the socket drops without a `stop`, or anything here breaks, the driver
is told the stream dropped so the record says "transfer, error" and the caller reaches a
person. Each call runs in its own server thread.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable
from typing import Any, Protocol

from simple_websocket import ConnectionClosed

from voicebot.logs import log_event

log = logging.getLogger("voicebot.media")
RECEIVE_TIMEOUT_S = 0.02  # how often timers are ticked when Twilio sends nothing
SLOW_STEP_S = 0.25  # a driver step this slow delays the caller's audio: worth a log line
MAX_CLOCK_STEP_S = 1.0  # a media timestamp may move the stream clock at most this far at once
_TIMESTAMP = re.compile(r'"timestamp"\s*:\s*"?(\d{1,10})')


class StreamClock:
    """Seconds since the stream began: real time, or the media timestamps if they run ahead.

    Twilio sends media in real time, so this is time.monotonic(). A stand-in run with --speed
    sends the caller's audio faster than real time; following the media timestamps then keeps
    the session's view of time (endpointing, no-input timers, marks) consistent with the audio.
    A timestamp may advance the clock by at most MAX_CLOCK_STEP_S per message, so a bogus one
    cannot fire every timer at once.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._origin = clock()
        self._ahead = 0.0  # how far media timestamps have run ahead of real time

    def now(self) -> float:
        return self._clock() - self._origin + self._ahead

    def saw(self, text: str) -> None:
        match = _TIMESTAMP.search(text) if '"media"' in text else None
        if match is None:
            return
        media_end = int(match.group(1)) / 1000.0 + 0.02
        lead = media_end - self.now()
        if lead > 0:
            self._ahead += min(lead, MAX_CLOCK_STEP_S)


class Socket(Protocol):
    def receive(self, timeout: float | None = None) -> Any: ...
    def send(self, data: Any) -> None: ...
    def close(self, reason: int | None = None, message: str | None = None) -> None: ...


def _call_sid(driver: Any) -> str | None:
    try:
        return driver.transcript.call_sid or None
    except Exception:  # noqa: BLE001 - only for log context
        return None


def run_stream(ws: Socket, driver: Any, clock: StreamClock | None = None) -> None:
    """Serve one media stream until the driver finishes or the socket goes away."""
    stream_clock = clock or StreamClock()
    clock_now = stream_clock.now
    stopped_cleanly = False
    try:
        while True:
            try:
                text = ws.receive(timeout=RECEIVE_TIMEOUT_S)
            except ConnectionClosed:
                break
            started = time.perf_counter()
            if text is None:
                out = driver.tick(clock_now())
            else:
                if isinstance(text, bytes):  # Twilio sends text; let the driver reject junk
                    text = text.decode("utf-8", errors="replace")
                stream_clock.saw(text)
                out = driver.receive(text, clock_now())
            spent = time.perf_counter() - started
            if spent > SLOW_STEP_S:
                log_event(log, "media.slow_step", logging.WARNING, call_sid=_call_sid(driver),
                          ms=round(spent * 1000))
            for message in out:
                ws.send(message)
            if driver.finished:
                stopped_cleanly = True
                break
    except ConnectionClosed:
        pass
    except Exception:  # noqa: BLE001 - a fault must reach a person, never a silent hang-up
        log.exception("media.loop_error", extra={"call_sid": _call_sid(driver)})
    finally:
        if not stopped_cleanly and not _finished(driver):
            try:
                driver.stream_dropped(clock_now())
            except Exception:  # noqa: BLE001
                log.exception("media.stream_dropped_error",
                              extra={"call_sid": _call_sid(driver)})
            log_event(log, "media.stream_dropped", logging.WARNING, call_sid=_call_sid(driver))
        with contextlib.suppress(Exception):  # already closed by the peer
            ws.close()
        log_event(log, "media.stream_closed", call_sid=_call_sid(driver),
                  finished=_finished(driver))


def _finished(driver: Any) -> bool:
    try:
        return bool(driver.finished)
    except Exception:  # noqa: BLE001
        return False
