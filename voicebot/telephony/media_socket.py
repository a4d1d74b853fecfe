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
import time
from collections.abc import Callable
from typing import Any, Protocol

from simple_websocket import ConnectionClosed

from voicebot.logs import log_event

log = logging.getLogger("voicebot.media")
RECEIVE_TIMEOUT_S = 0.01  # how often timers are ticked when Twilio sends nothing


class Socket(Protocol):
    def receive(self, timeout: float | None = None) -> Any: ...
    def send(self, data: Any) -> None: ...
    def close(self, reason: int | None = None, message: str | None = None) -> None: ...


def _call_sid(driver: Any) -> str | None:
    try:
        return driver.transcript.call_sid or None
    except Exception:  # noqa: BLE001 - only for log context
        return None


def run_stream(ws: Socket, driver: Any, clock: Callable[[], float] = time.monotonic) -> None:
    """Serve one media stream until the driver finishes or the socket goes away."""
    stopped_cleanly = False
    try:
        while True:
            try:
                text = ws.receive(timeout=RECEIVE_TIMEOUT_S)
            except ConnectionClosed:
                break
            now = clock()
            if text is None:
                out = driver.tick(now)
            else:
                if isinstance(text, bytes):  # Twilio sends text; let the driver reject junk
                    text = text.decode("utf-8", errors="replace")
                out = driver.receive(text, now)
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
                driver.stream_dropped(clock())
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
