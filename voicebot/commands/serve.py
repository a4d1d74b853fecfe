"""`voicebot serve`: the phone line, in one process or several sharing the port."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from voicebot import logs
from voicebot.errors import VoicebotError
from voicebot.service.app import close, create_app
from voicebot.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    """Add `serve` to the `voicebot` parser."""
    serve = sub.add_parser(
        "serve", help="run the phone line (Twilio webhook + media stream)",
        description="Serve Twilio calls: webhook POST /voice, media stream /media, queue, "
                    "agent and status routes, call records API. Settings come from the "
                    "environment (see the README).")
    serve.add_argument("--flow", type=Path, help="call-flow YAML (default: VOICEBOT_FLOW)")
    serve.add_argument("--host", help="listen address (default: VOICEBOT_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default: VOICEBOT_PORT or 8080)")
    serve.add_argument("--workers", type=int, default=1,
                       help="processes sharing the port and the call records (default 1); "
                            "speech decoding holds Python's GIL, so use one per CPU core")
    serve.add_argument("--insecure-no-signature", action="store_true",
                       help="accept requests without a valid X-Twilio-Signature "
                            "(local development only)")
    serve.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = serve_settings(args)
    settings.require_serving()
    logs.configure(settings.log_level, settings.log_format)
    # werkzeug sets its own logger to INFO unless told otherwise: follow VOICEBOT_LOG_LEVEL
    logging.getLogger("werkzeug").setLevel(settings.log_level.upper())
    if args.workers < 1:
        raise VoicebotError("--workers must be at least 1")
    if args.workers > 1:
        return serve_workers(settings, args.workers)
    return serve(settings)


def serve_settings(args: argparse.Namespace) -> Settings:
    """The environment's settings with the command line's choices on top."""
    settings = Settings.from_env()
    changes: dict[str, Any] = {}
    if args.flow:
        changes["flow_path"] = args.flow
    if args.host:
        changes["host"] = args.host
    if args.port:
        changes["port"] = args.port
    if args.insecure_no_signature:
        changes["insecure_no_signature"] = True
    settings = dataclasses.replace(settings, **changes)
    if not os.environ.get("VOICEBOT_PUBLIC_URL", "").strip():
        # No public URL configured: local use, so the stream and action URLs must point at
        # the port actually served, not at the default one.
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
        settings = dataclasses.replace(settings, public_url=f"http://{host}:{settings.port}")
    return settings


def _say(text: str) -> None:
    print(f"voicebot serve: {text}", file=sys.stderr, flush=True)


def _cannot_listen(settings: Settings, exc: OSError) -> VoicebotError:
    return VoicebotError(f"cannot listen on {settings.host}:{settings.port}: "
                         f"{exc.strerror or exc}")


def serve(settings: Settings) -> int:
    """Load everything, then serve with werkzeug's threaded server (a thread per call).

    For production the README shows gunicorn with gthread workers on `app:wsgi()`; this
    server keeps WebSockets too and is what `voicebot serve` and the tests use.
    """
    _say(f"loading flow {settings.flow_path} and the {settings.engine} speech engine ...")
    app = create_app(settings)
    svc = app.extensions["voicebot"]
    try:
        server = make_server(settings.host, settings.port, app, threaded=True)
    except OSError as exc:
        raise _cannot_listen(settings, exc) from exc
    _say(f"flow {svc.flow.name} (version {svc.flow.version}), engine "
         f"{getattr(svc.engine, 'name', '?')} ({getattr(svc.engine, 'model', '?')})")
    _say(f"listening on http://{settings.host}:{server.server_port}; Twilio webhook: "
         f"{settings.public_url}/voice, status callback: {settings.public_url}/status")
    if svc.guard.insecure:
        _say("WARNING: Twilio signatures are NOT checked (insecure development mode)")

    def _terminate(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        _say("stopping")
    finally:
        server.server_close()
        close(app)
    return 0


def serve_workers(settings: Settings, workers: int) -> int:
    """Several processes on one listening socket, sharing the SQLite call records.

    Each worker loads its own engine and renderer after the fork (threads and the TTS worker
    do not survive a fork). Any worker may serve any request of a call, because everything a
    later request needs (the outcome for the <Connect> action, the summary for the whisper)
    is in the shared database. If one worker dies, the others are stopped too, so a
    supervisor (systemd, a container runtime) restarts the whole service.
    """
    try:
        sock = socket.create_server((settings.host, settings.port), backlog=256)
    except OSError as exc:
        raise _cannot_listen(settings, exc) from exc
    port = sock.getsockname()[1]
    _say(f"starting {workers} workers on http://{settings.host}:{port}; Twilio webhook: "
         f"{settings.public_url}/voice, status callback: {settings.public_url}/status")
    children = [_fork_worker(settings, sock, index) for index in range(workers)]

    def stop(*_: Any) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    code = 0
    try:
        pid, status = os.wait()
        code = os.waitstatus_to_exitcode(status)
        _say(f"worker process {pid} exited ({code}); stopping the others")
    except KeyboardInterrupt:
        _say("stopping")
    finally:
        stop()
        for child in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(child, 0)
        sock.close()
    return 0 if code in (0, -15) else 1


def _fork_worker(settings: Settings, sock: socket.socket, index: int) -> int:
    """Start worker `index` in a child process; returns its pid (the child never returns)."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us by TERM
        code = _worker(settings, sock, index)
    except VoicebotError as exc:
        _say(f"worker {index}: error: {exc}")
    except BaseException as exc:  # noqa: BLE001 - a worker must not unwind into the parent's code
        _say(f"worker {index}: internal error: {type(exc).__name__}: {exc}")
    finally:
        os._exit(code)


def _worker(settings: Settings, sock: socket.socket, index: int) -> int:
    app = create_app(settings)
    svc = app.extensions["voicebot"]
    server = make_server(settings.host, settings.port, app, threaded=True, fd=sock.fileno())
    # Every worker's select() wakes for each new connection but only one accept() wins; a
    # blocking accept() would park the others until the next caller (and ignore shutdown).
    server.socket.setblocking(False)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    _say(f"worker {index} ready (flow {svc.flow.name} {svc.flow.version}, "
         f"engine {getattr(svc.engine, 'name', '?')})")
    try:
        server.serve_forever()
    finally:
        close(app)
    return 0
