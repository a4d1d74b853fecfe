"""The media stream's WebSocket endpoint: simple-websocket with the limits a phone line needs.

simple-websocket's own `max_message_size` closes the connection on a long message, which
would end the call. Here a message longer than the limit is dropped as its parts arrive
(never buffered past the limit) and the loop gets the OVERSIZE marker instead, to log and
skip; the call goes on. flask-sock's route builds simple-websocket's Server itself, so this
module has the same few lines of route with our Server subclass. It also bounds how many
streams are open at once: one more is refused with 503 before the upgrade.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response, request
from simple_websocket import ConnectionClosed, Server
from wsproto.events import BytesMessage, Event, Message, TextMessage

from voicebot.logs import log_event

log = logging.getLogger("voicebot.media")
OVERSIZE = "\x00voicebot: message over the size limit, dropped"


class _SizeLimited:
    """wsproto's connection, passing on whole messages of at most `limit` bytes (characters
    for text); the parts of a longer one are dropped as they come and it becomes OVERSIZE."""

    def __init__(self, conn: Any, limit: int) -> None:
        self._conn = conn
        self._limit = limit
        self._parts: list[Any] = []
        self._size = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def events(self) -> Iterator[Event]:
        for event in self._conn.events():
            if not isinstance(event, Message):
                yield event
                continue
            self._size += len(event.data)
            if self._size <= self._limit:
                self._parts.append(event.data)
            else:
                self._parts.clear()
            if not event.message_finished:
                continue
            text = isinstance(event, TextMessage)
            if self._size > self._limit:
                data: Any = OVERSIZE if text else OVERSIZE.encode()
            else:
                data = ("" if text else b"").join(self._parts)
            self._parts, self._size = [], 0
            yield TextMessage(data=data) if text else BytesMessage(data=data)


class StreamSocket(Server):
    """simple-websocket's server whose long messages become OVERSIZE (see the module doc)."""

    def __init__(self, environ: dict[str, Any], max_message_bytes: int, **options: Any) -> None:
        self._limit = max_message_bytes
        super().__init__(environ, **options)

    def handshake(self) -> None:
        super().handshake()
        self.ws = _SizeLimited(self.ws, self._limit)  # before the reading thread starts


class StreamSlots:
    """At most `limit` streams open at once (thread-safe)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.open >= self.limit:
                return False
            self.open += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self.open -= 1


class _Upgraded(Response):
    """What the view returns once the WebSocket is over: nothing more goes on the socket."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def __call__(self, environ: Any, start_response: Any) -> Any:
        if self.mode == "gunicorn":
            raise StopIteration()  # gunicorn closes the connection without a response
        return super().__call__(environ, start_response)


def websocket_route(bp: Blueprint, path: str, handler: Callable[[StreamSocket], None], *,
                    slots: StreamSlots, max_message_bytes: int) -> None:
    """Serve WebSocket upgrades at `path` with `handler(ws)`, at most `slots.limit` at once."""

    def view() -> Response:
        if not slots.take():
            log_event(log, "media.too_many_streams", logging.WARNING, open=slots.open,
                      limit=slots.limit)
            return Response("too many open media streams\n", status=503,
                            mimetype="text/plain")
        try:
            ws = StreamSocket(request.environ, max_message_bytes)
            with contextlib.suppress(ConnectionClosed):
                handler(ws)
            with contextlib.suppress(Exception):  # already closed
                ws.close()
        finally:
            slots.give_back()
        return _Upgraded(ws.mode)

    bp.add_url_rule(path, endpoint=path.strip("/") or "ws", view_func=view, websocket=True)
