"""`voicebot serve`: the phone line, on gunicorn (voicebot.service.server).

Everything that can be checked before the server starts is checked here, so a bad setting,
flow or address is one clear line (exit 2) rather than a server's traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import socket
import sys
from pathlib import Path
from typing import Any

from voicebot import logs
from voicebot.errors import VoicebotError
from voicebot.flow.loader import load_flow
from voicebot.service import server
from voicebot.service.runtime import Service
from voicebot.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    """Add `serve` to the `voicebot` parser."""
    serve = sub.add_parser(
        "serve", help="run the phone line (Twilio webhook + media stream)",
        description="Serve Twilio calls: webhook POST /voice, media stream /media, queue, "
                    "agent and status routes, call records API. Settings come from the "
                    "environment (see the README). SIGTERM drains: no new calls, calls in "
                    "progress finish or are handed to a person, then it exits 0.")
    serve.add_argument("--flow", type=Path, help="call-flow YAML (default: VOICEBOT_FLOW)")
    serve.add_argument("--host", help="listen address (default: VOICEBOT_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default: VOICEBOT_PORT or 8080)")
    serve.add_argument("--insecure-no-signature", action="store_true",
                       help="accept requests without a valid X-Twilio-Signature "
                            "(local development only)")
    serve.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = serve_settings(args)
    settings.require_serving()
    logs.configure(settings.log_level, settings.log_format)
    check_listen(settings)
    _say(f"loading flow {settings.flow_path} and the {settings.engine} speech engine ...")
    load_flow(settings.flow_path)  # a bad flow is one clear error before any process starts
    return server.run(settings, on_ready=lambda svc: _ready(settings, svc))


def serve_settings(args: argparse.Namespace) -> Settings:
    """The environment's settings with the command line's choices on top."""
    env = dict(os.environ)
    for flag, name in ((args.host, "VOICEBOT_HOST"), (args.port, "VOICEBOT_PORT")):
        if flag is not None:
            env[name] = str(flag)  # checked like the variable
    settings = Settings.from_env(env)
    changes: dict[str, Any] = {}
    if args.flow:
        changes["flow_path"] = args.flow
    if args.insecure_no_signature:
        changes["insecure_no_signature"] = True
    settings = dataclasses.replace(settings, **changes)
    if not os.environ.get("VOICEBOT_PUBLIC_URL", "").strip():
        # No public URL configured: local use, so the stream and action URLs must point at
        # the port actually served, not at the default one.
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
        host = f"[{host}]" if ":" in host else host
        settings = dataclasses.replace(settings, public_url=f"http://{host}:{settings.port}")
    return settings


def check_listen(settings: Settings) -> None:
    """Fail now, in one line, if the address cannot be listened on (unknown host, port in
    use, not allowed)."""
    where = f"{settings.host}:{settings.port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            settings.host, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise VoicebotError(f"cannot listen on {where}: {exc.strerror} (VOICEBOT_HOST / "
                            "--host)") from exc
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            probe.bind(address)
        except OSError as exc:
            raise VoicebotError(f"cannot listen on {where}: {exc.strerror or exc}") from exc


def _say(text: str) -> None:
    print(f"voicebot serve: {text}", file=sys.stderr, flush=True)


def _ready(settings: Settings, svc: Service) -> None:
    _say(f"flow {svc.flow.name} (version {svc.flow.version}), engine "
         f"{getattr(svc.engine, 'name', '?')} ({getattr(svc.engine, 'model', '?')}), "
         f"up to {settings.max_calls} calls at once")
    _say(f"listening on http://{settings.host}:{settings.port}; Twilio webhook: "
         f"{settings.public_url}/voice, status callback: {settings.public_url}/status")
    if svc.guard.insecure:
        _say("WARNING: Twilio signatures are NOT checked (insecure development mode)")
