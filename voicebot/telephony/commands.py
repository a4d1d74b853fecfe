"""`voicebot serve` (the phone line) and `voicebot call` (a Twilio stand-in against it)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

from voicebot.errors import VoicebotError


class TurnAction(argparse.Action):
    """Appends each caller action to one ordered list, so turns run in command-line order."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        turns = list(getattr(namespace, "turns", None) or [])
        if self.dest == "barge_in":
            namespace.barge_next = True
            return
        barge = bool(getattr(namespace, "barge_next", False)) and self.dest == "say"
        if self.dest == "say":
            namespace.barge_next = False
        turns.append((self.dest, values, barge))
        namespace.turns = turns


def register(sub: argparse._SubParsersAction) -> None:
    """Add `serve` and `call` to the `voicebot` parser."""
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

    call = sub.add_parser(
        "call", help="play Twilio's part: place a call against a running service",
        description="A Twilio stand-in: posts the signed incoming-call webhook, streams the "
                    "caller's turns (in the order given) over the media stream, requests the "
                    "<Connect> action and prints the result.")
    call.add_argument("webhook_url", metavar="WEBHOOK_URL",
                      help="the URL one would configure in Twilio, e.g. "
                           "http://127.0.0.1:8080/voice")
    call.add_argument("--from", dest="from_number", default=None,
                      help="caller number (default +15550100123)")
    call.add_argument("--to", dest="to_number", default="+15550100999")
    call.add_argument("--say", action=TurnAction, metavar="FILE.wav",
                      help="speak a recording after the bot's current prompt finishes")
    call.add_argument("--dtmf", action=TurnAction, metavar="DIGITS", help="press keys")
    call.add_argument("--wait", action=TurnAction, type=float, metavar="SECONDS",
                      help="stay silent for SECONDS after the prompt ends")
    call.add_argument("--barge-in", action=TurnAction, nargs=0,
                      help="the next --say is spoken over the bot's prompt")
    call.add_argument("--speed", type=float, default=1.0,
                      help="send audio X times faster than real time (default 1)")
    call.add_argument("--max-call", type=float, default=90.0, metavar="SECONDS",
                      help="hang up after this much call time (default 90)")
    call.add_argument("--json", action="store_true", help="print the result as JSON")
    call.add_argument("--token", help="API bearer token (default: VOICEBOT_API_TOKEN)")
    call.add_argument("--auth-token", help="Twilio auth token used to sign "
                                           "(default: TWILIO_AUTH_TOKEN)")
    call.add_argument("--scenario", type=Path, metavar="FILE",
                      help="run a tester's scenario file instead of --say/--dtmf/--wait")
    call.add_argument("--audio-dir", type=Path, action="append", default=[], metavar="DIR",
                      help="also look for the scenario's relative recordings in DIR "
                           "(repeatable), as `voicebot replay --audio-dir` does")
    call.set_defaults(func=cmd_call, turns=[], barge_next=False)


def cmd_serve(args: argparse.Namespace) -> int:
    from voicebot import logs
    from voicebot.settings import Settings

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
    settings.require_serving()
    logs.configure(settings.log_level, settings.log_format)
    # werkzeug sets its own logger to INFO unless told otherwise: follow VOICEBOT_LOG_LEVEL
    logging.getLogger("werkzeug").setLevel(settings.log_level.upper())
    if args.workers < 1:
        raise VoicebotError("--workers must be at least 1")
    if args.workers > 1:
        return serve_workers(settings, args.workers)
    return serve(settings)


def serve(settings: Any) -> int:
    """Load everything, then serve with werkzeug's threaded server (a thread per call).

    For production the README shows gunicorn with gthread workers on `app:wsgi()`; this
    server keeps WebSockets too and is what `voicebot serve` and the tests use.
    """
    from werkzeug.serving import make_server

    from voicebot.service.app import create_app

    say = lambda text: print(f"voicebot serve: {text}", file=sys.stderr, flush=True)  # noqa: E731
    say(f"loading flow {settings.flow_path} and the {settings.engine} speech engine ...")
    app = create_app(settings)
    svc = app.extensions["voicebot"]
    try:
        server = make_server(settings.host, settings.port, app, threaded=True)
    except OSError as exc:
        raise VoicebotError(f"cannot listen on {settings.host}:{settings.port}: "
                            f"{exc.strerror or exc}") from exc
    say(f"flow {svc.flow.name} (version {svc.flow.version}), engine "
        f"{getattr(svc.engine, 'name', '?')} ({getattr(svc.engine, 'model', '?')})")
    say(f"listening on http://{settings.host}:{server.server_port}; Twilio webhook: "
        f"{settings.public_url}/voice, status callback: {settings.public_url}/status")
    if svc.guard.insecure:
        say("WARNING: Twilio signatures are NOT checked (insecure development mode)")
    import signal

    def _terminate(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        say("stopping")
    finally:
        server.server_close()
        svc.store.close()
    return 0


def _settings_or_none() -> Any:
    from voicebot.settings import Settings

    try:
        return Settings.from_env()
    except VoicebotError:
        return None


def cmd_call(args: argparse.Namespace) -> int:
    from voicebot.telephony.standin import TwilioStandin

    settings = _settings_or_none()
    auth_token = args.auth_token or (settings.twilio_auth_token if settings else None)
    api_token = args.token or (settings.api_token if settings else None)
    scenario = None
    if args.scenario:
        if args.turns:
            raise VoicebotError("give either --scenario or --say/--dtmf/--wait, not both")
        from voicebot.replay.scenario import load_scenario

        scenario = load_scenario(args.scenario, audio_dirs=args.audio_dir)
        turns = list(scenario.turns)
    else:
        turns = build_turns(args.turns)
    from_number = args.from_number or (scenario.from_number if scenario else None) \
        or "+15550100123"
    standin = TwilioStandin(args.webhook_url, auth_token=auth_token, api_token=api_token,
                            from_number=from_number, to_number=args.to_number,
                            speed=args.speed, max_call_s=args.max_call)
    result = standin.run(turns)
    if scenario is not None:
        return report_scenario(scenario, result, as_json=args.json)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print_result(result)
    return 0 if result.transcript is not None else 1


def build_turns(specs: list[tuple[str, Any, bool]]) -> list[Any]:
    from voicebot.replay.caller import CallerTurn
    from voicebot.speech.audio import load_phone_audio

    turns = []
    for kind, value, barge in specs:
        if kind == "say":
            turns.append(CallerTurn("say", audio=load_phone_audio(value), barge_in=barge,
                                    label=str(value)))
        elif kind == "dtmf":
            digits = str(value)
            if not digits or any(d not in "0123456789*#" for d in digits):
                raise VoicebotError(f"--dtmf {digits!r}: use the keys 0-9, * and #")
            turns.append(CallerTurn("dtmf", digits=digits, label=f"dtmf {digits}"))
        else:
            if value < 0:
                raise VoicebotError(f"--wait {value:g}: seconds must not be negative")
            turns.append(CallerTurn("silence", seconds=float(value), label=f"wait {value:g}"))
    return turns


def print_result(result: Any) -> None:
    t = result.transcript
    out = sys.stdout
    print(f"call {result.call_sid}", file=out)
    if t is None:
        print(f"  no call record: {result.record_error}", file=out)
    else:
        lines = [(p.t_sent, 1, f"bot    [{p.node}] {p.kind}: {p.text}") for p in t.prompts]
        for r in t.turns:
            conf = "" if r.confidence is None else f" (confidence {r.confidence:.2f})"
            when = r.t_start if r.t_start is not None else (r.t_end or 0.0)
            lines.append((when, 0, f"caller [{r.node}] {r.kind}: {r.heard!r}{conf}"))
        for when, _, line in sorted(lines, key=lambda item: item[:2]):
            print(f"  {when:6.2f}s {line}", file=out)
        queue = f" -> queue {t.queue}" if t.queue else ""
        print(f"  outcome: {t.outcome} ({t.reason}){queue}", file=out)
    summary = result.sim.summary()
    if summary["turn_gaps_ms"]:
        print(f"  turn gaps (ms): {summary['turn_gaps_ms']}", file=out)
    for note in summary["notes"]:
        print(f"  note: {note}", file=out)
    if result.twiml_after:
        print(f"  after stream: {result.twiml_after}", file=out)


def report_scenario(scenario: Any, result: Any, *, as_json: bool) -> int:
    """Verdicts for a scenario run live, with the same report as offline replay."""
    from voicebot.replay.report import summary_line, timeline
    from voicebot.replay.result import evaluate

    if result.transcript is None:
        raise VoicebotError(f"no call record to check: {result.record_error}")
    replay = evaluate(scenario, result.transcript, result.sim, mode="live",
                      call_s=result.call_s,
                      wall_s=result.wall_s)
    if as_json:
        out = replay.to_dict()
        out["twiml_after"] = result.twiml_after
        print(json.dumps(out, indent=2, default=str))
    else:
        print(timeline(replay), end="\n\n")
        print(summary_line([replay]))
    return 0 if replay.passed else 1


def serve_workers(settings: Any, workers: int) -> int:
    """Several processes on one listening socket, sharing the SQLite call records.

    Each worker loads its own engine and renderer after the fork (threads and the TTS worker
    do not survive a fork). Any worker may serve any request of a call, because everything a
    later request needs (the outcome for the <Connect> action, the summary for the whisper)
    is in the shared database. If one worker dies, the others are stopped too, so a
    supervisor (systemd, a container runtime) restarts the whole service.
    """
    import os
    import signal
    import socket

    say = lambda text: print(f"voicebot serve: {text}", file=sys.stderr, flush=True)  # noqa: E731
    try:
        sock = socket.create_server((settings.host, settings.port), backlog=256)
    except OSError as exc:
        raise VoicebotError(f"cannot listen on {settings.host}:{settings.port}: "
                            f"{exc.strerror or exc}") from exc
    port = sock.getsockname()[1]
    say(f"starting {workers} workers on http://{settings.host}:{port}; Twilio webhook: "
        f"{settings.public_url}/voice, status callback: {settings.public_url}/status")
    children: list[int] = []
    for index in range(workers):
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us by TERM
                code = _worker(settings, sock, index)
            except VoicebotError as exc:
                say(f"worker {index}: error: {exc}")
            except BaseException as exc:  # noqa: BLE001 - a worker must not unwind into the parent's code
                say(f"worker {index}: internal error: {type(exc).__name__}: {exc}")
            finally:
                os._exit(code)
        children.append(pid)

    def stop(*_: Any) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    code = 0
    try:
        pid, status = os.wait()
        code = os.waitstatus_to_exitcode(status)
        say(f"worker process {pid} exited ({code}); stopping the others")
    except KeyboardInterrupt:
        say("stopping")
    finally:
        stop()
        for child in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(child, 0)
        sock.close()
    return 0 if code in (0, -15) else 1


def _worker(settings: Any, sock: Any, index: int) -> int:
    import signal

    from werkzeug.serving import make_server

    from voicebot.service.app import create_app

    app = create_app(settings)
    svc = app.extensions["voicebot"]
    server = make_server(settings.host, settings.port, app, threaded=True, fd=sock.fileno())
    # Every worker's select() wakes for each new connection but only one accept() wins; a
    # blocking accept() would park the others until the next caller (and ignore shutdown).
    server.socket.setblocking(False)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"voicebot serve: worker {index} ready (flow {svc.flow.name} {svc.flow.version}, "
          f"engine {getattr(svc.engine, 'name', '?')})", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        svc.store.close()
    return 0
