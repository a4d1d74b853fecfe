"""`voicebot call`: a Twilio stand-in placing a call against a running service."""

from __future__ import annotations

import argparse
import json
import sys
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
    """Add `call` to the `voicebot` parser."""
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
