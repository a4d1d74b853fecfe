"""The testers' commands: `voicebot replay`, `voicebot export-scenario` and `voicebot call`
(a Twilio stand-in placing a call against a running service).

Exit codes: 0 every expectation held; 1 an expectation failed; 2 a bad scenario file or
setting (one clear line per problem, printed by the CLI).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from voicebot import logs
from voicebot.errors import VoicebotError
from voicebot.replay.caller import CallerTurn
from voicebot.replay.export import export_call
from voicebot.replay.offline import ReplayEnv
from voicebot.replay.report import progress, summary_line, timeline, write_junit
from voicebot.replay.result import evaluate
from voicebot.replay.scenario import Scenario, ScenarioError, load_scenario
from voicebot.replay.standin import StandinResult, TwilioStandin
from voicebot.settings import ENGINES, Settings
from voicebot.speech.audio import load_phone_audio
from voicebot.telephony.media_stream import DTMF_KEYS


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
    """Add this area's sub-commands to the `voicebot` parser."""
    _add_replay(sub)
    _add_export(sub)
    _add_call(sub)


def _add_replay(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="replay call scenarios offline against a flow and check their expectations",
        description="Run each scenario through the real call session code on a virtual "
                    "clock (much faster than real time), print a timeline per call and "
                    "whether each expectation held. Exit 1 if any expectation failed, 2 for "
                    "a bad scenario file.",
    )
    p.add_argument("scenarios", nargs="+", type=Path, metavar="SCENARIO",
                   help="scenario YAML files")
    p.add_argument("--engine", choices=ENGINES, default=None,
                   help="speech engine (default: VOICEBOT_ENGINE or auto)")
    p.add_argument("--flow", type=Path, default=None,
                   help="flow for scenarios that name none (default: VOICEBOT_FLOW)")
    p.add_argument("--audio-dir", type=Path, action="append", default=[], metavar="DIR",
                   help="also look for a scenario's relative recordings in DIR (repeatable)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--junit", type=Path, default=None, metavar="FILE",
                   help="also write a JUnit XML report to FILE")
    p.add_argument("--max-call", type=float, default=90.0, metavar="SECONDS",
                   help="give up on a call after this much call time (default 90)")
    p.add_argument("--failures-only", action="store_true",
                   help="print the timeline only for scenarios that failed")
    p.set_defaults(func=cmd_replay)


def _add_export(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser(
        "export-scenario",
        help="turn a finished call from the call records into a scenario skeleton",
        description="Read a call from the SQLite call records and write a scenario: its "
                    "turns (keys as keyed; spoken turns as recordings to supply, since audio "
                    "is not kept) and what happened as expectations.",
    )
    e.add_argument("call_sid", metavar="CALL_SID")
    e.add_argument("--db", type=Path, default=None,
                   help="a SQLite file of call records (default: VOICEBOT_DATABASE_URL, "
                        "else VOICEBOT_DB)")
    e.add_argument("--flow", type=Path, default=None,
                   help="flow file to name in the scenario (default: VOICEBOT_FLOW)")
    e.add_argument("-o", "--output", type=Path, default=None, metavar="FILE",
                   help="write the scenario here (default: print it)")
    e.set_defaults(func=cmd_export)


def _add_call(sub: argparse._SubParsersAction) -> None:
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


def cmd_replay(args: argparse.Namespace) -> int:
    problems: list[str] = []
    scenarios = []
    for path in args.scenarios:  # check every file before any call runs
        try:
            scenarios.append(load_scenario(path, audio_dirs=args.audio_dir))
        except ScenarioError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ScenarioError(problems)
    settings = Settings.from_env()
    logs.configure("warning", "text")  # the timeline is the output; logs only for trouble
    env = ReplayEnv.create(args.engine or settings.engine, settings=settings,
                           default_flow=args.flow)
    results = []
    with env:
        for scenario in scenarios:
            env.flow_for(scenario)  # a bad flow is a bad input: fail before running anything
        for scenario in progress(scenarios, len(scenarios)):
            result = env.run(scenario, max_call_s=args.max_call)
            results.append(result)
            if not args.json and (result.failures or not args.failures_only):
                print(timeline(result), end="\n\n", flush=True)
    if args.junit:
        write_junit(results, args.junit)
    if args.json:
        json.dump([r.to_dict() for r in results], sys.stdout, indent=2, default=str)
        print()
    else:
        print(summary_line(results))
    return 0 if all(r.passed for r in results) else 1


def cmd_export(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    text = export_call(args.call_sid, args.db or settings.database_url or settings.db_path,
                       hash_key=settings.hash_key, output=args.output,
                       flow_path=args.flow or settings.flow_path)
    if args.output is None:
        sys.stdout.write(text)
    else:
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _settings_or_none() -> Settings | None:
    """The environment's settings, or None when they are invalid: the stand-in only needs
    two tokens, which its options can give."""
    try:
        return Settings.from_env()
    except VoicebotError:
        return None


def cmd_call(args: argparse.Namespace) -> int:
    settings = _settings_or_none()
    auth_token = args.auth_token or (settings.twilio_auth_token if settings else None)
    api_token = args.token or (settings.api_token if settings else None)
    scenario = None
    if args.scenario:
        if args.turns:
            raise VoicebotError("give either --scenario or --say/--dtmf/--wait, not both")
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


def build_turns(specs: list[tuple[str, Any, bool]]) -> list[CallerTurn]:
    """The caller's turns from the command line's --say/--dtmf/--wait, in their order."""
    turns = []
    for kind, value, barge in specs:
        if kind == "say":
            turns.append(CallerTurn("say", audio=load_phone_audio(value), barge_in=barge,
                                    label=str(value)))
        elif kind == "dtmf":
            digits = str(value)
            if not digits or any(d not in DTMF_KEYS for d in digits):
                raise VoicebotError(f"--dtmf {digits!r}: use the keys 0-9, * and #")
            turns.append(CallerTurn("dtmf", digits=digits, label=f"dtmf {digits}"))
        else:
            if value < 0:
                raise VoicebotError(f"--wait {value:g}: seconds must not be negative")
            turns.append(CallerTurn("silence", seconds=float(value), label=f"wait {value:g}"))
    return turns


def print_result(result: StandinResult) -> None:
    t = result.transcript
    print(f"call {result.call_sid}")
    if t is None:
        print(f"  no call record: {result.record_error}")
    else:
        lines = [(p.t_sent, 1, f"bot    [{p.node}] {p.kind}: {p.text}") for p in t.prompts]
        for r in t.turns:
            conf = "" if r.confidence is None else f" (confidence {r.confidence:.2f})"
            when = r.t_start if r.t_start is not None else (r.t_end or 0.0)
            lines.append((when, 0, f"caller [{r.node}] {r.kind}: {r.heard!r}{conf}"))
        for when, _, line in sorted(lines, key=lambda item: item[:2]):
            print(f"  {when:6.2f}s {line}")
        queue = f" -> queue {t.queue}" if t.queue else ""
        print(f"  outcome: {t.outcome} ({t.reason}){queue}")
    summary = result.sim.summary()
    if summary["turn_gaps_ms"]:
        print(f"  turn gaps (ms): {summary['turn_gaps_ms']}")
    for note in summary["notes"]:
        print(f"  note: {note}")
    if result.twiml_after:
        print(f"  after stream: {result.twiml_after}")


def report_scenario(scenario: Scenario, result: StandinResult, *, as_json: bool) -> int:
    """Verdicts for a scenario run live, with the same report as offline replay."""
    if result.transcript is None:
        raise VoicebotError(f"no call record to check: {result.record_error}")
    replay = evaluate(scenario, result.transcript, result.sim, mode="live",
                      call_s=result.call_s, wall_s=result.wall_s)
    if as_json:
        out = replay.to_dict()
        out["twiml_after"] = result.twiml_after
        print(json.dumps(out, indent=2, default=str))
    else:
        print(timeline(replay), end="\n\n")
        print(summary_line([replay]))
    return 0 if replay.passed else 1
