"""The production server: gunicorn's threaded worker, one process, a thread per request/call.

gunicorn rather than werkzeug's development server: it supervises the worker (a crashed one
is restarted), bounds the threads, defers clients that send nothing instead of holding a
thread for them, and stops gracefully; flask-sock/simple-websocket document its threaded
worker for WebSockets. One worker process is enough (speech decoding already runs in its
own worker processes) and keeps the instance's admission count in one place; which `start`
may begin a call is in the shared call store, so a call's stream may reach another
instance than its /voice (service.calls).

SIGTERM drains (service.drain): the worker keeps serving while calls in progress finish or
are handed to a person, new calls go straight to a person, and it stops once nothing is
left; the master waits for it and exits 0.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.errors import AppImportError
from gunicorn.workers.gthread import ThreadWorker

from voicebot.errors import VoicebotError
from voicebot.logs import log_event
from voicebot.service.app import close, create_app
from voicebot.service.drain import Drain
from voicebot.service.runtime import Service
from voicebot.settings import Settings

log = logging.getLogger("voicebot.server")
HTTP_THREADS = 32  # threads for plain requests (/voice, /status, ...) beside the streams
BOOT_TIMEOUT_S = 300  # loading the engine and warming its decoders may take this long
APP_LOAD_ERROR = 4  # gunicorn's exit status when the app could not be loaded


def _service(app: Any) -> Service | None:
    extensions = getattr(app, "extensions", None)
    return extensions.get("voicebot") if extensions else None


class DrainingWorker(ThreadWorker):
    """gunicorn's threaded worker whose SIGTERM drains the service before it stops."""

    def handle_exit(self, sig: int, frame: Any) -> None:
        svc = _service(getattr(self, "wsgi", None))
        if svc is None:  # still loading: nothing to drain
            super().handle_exit(sig, frame)
            return
        if svc.drain.begin():
            threading.Thread(target=self._drain_then_stop, args=(svc,), name="drain",
                             daemon=True).start()

    def _drain_then_stop(self, svc: Service) -> None:
        log_event(log, "service.draining", active=svc.active_calls,
                  grace_s=svc.drain.grace_s, deadline_s=svc.drain.deadline_s)
        settled = svc.drain.wait(svc.calls.settled)
        log_event(log, "service.drained", logging.INFO if settled else logging.WARNING,
                  settled=settled, active=svc.active_calls)
        super().handle_exit(signal.SIGTERM, None)  # stop accepting; finish what is open


class PhoneLine(BaseApplication):
    """The gunicorn application: the Flask app made in the worker process (threads and the
    speech worker processes do not survive a fork)."""

    def __init__(self, settings: Settings, on_ready: Any = None) -> None:
        self.settings = settings
        self.on_ready = on_ready
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        host = f"[{s.host}]" if ":" in s.host else s.host
        options = {
            "bind": [f"{host}:{s.port}"],
            "workers": 1,
            "worker_class": DrainingWorker,
            "threads": s.stream_limit + HTTP_THREADS,
            "timeout": BOOT_TIMEOUT_S,
            "graceful_timeout": int(Drain(s.drain_grace_s).deadline_s) + 10,  # ends sooner
            "keepalive": 0,  # Connection: close, as before: no reuse racing the idle timeout
            "loglevel": "warning",
            "errorlog": "-",
            "accesslog": None,
            "proc_name": "voicebot",
            "control_socket_disable": True,  # gunicorn >= 25: no shared ~/.gunicorn socket
            "post_worker_init": self._ready,
            "worker_exit": _worker_exit,
        }
        for key, value in options.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def _ready(self, worker: Any) -> None:
        svc = _service(worker.wsgi)
        if svc is not None and self.on_ready is not None:
            self.on_ready(svc)

    def load(self) -> Flask:
        try:
            return create_app(self.settings)
        except VoicebotError as exc:  # printed as one line by gunicorn, then it stops
            raise AppImportError(f"voicebot serve: error: {exc}") from exc


def _worker_exit(server: Any, worker: Any) -> None:
    app = getattr(worker, "wsgi", None)
    if _service(app) is not None:
        close(app)  # the scheduled purge stops (a round under way finishes), then the records


def run(settings: Settings, on_ready: Any = None) -> int:
    """Serve until stopped; the exit status (0 after a drain, 2 if the app did not load)."""
    master = os.getpid()
    try:
        PhoneLine(settings, on_ready).run()
    except SystemExit as exc:
        if os.getpid() != master:  # the forked worker leaving: its status is the master's
            raise  # to read (APP_LOAD_ERROR stops it; anything else restarts the worker)
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return 2 if code == APP_LOAD_ERROR else code
    return 0
