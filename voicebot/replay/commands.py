"""`voicebot replay` and `voicebot export-scenario`: the testers' commands.

Exit codes: 0 every expectation held; 1 an expectation failed; 2 a bad scenario file or
setting (one clear line per problem, printed by the CLI).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from voicebot import logs
from voicebot.replay.export import export_call
from voicebot.replay.offline import ReplayEnv
from voicebot.replay.report import progress, summary_line, timeline, write_junit
from voicebot.replay.scenario import ScenarioError, load_scenario
from voicebot.settings import ENGINES, Settings


def register(sub: argparse._SubParsersAction) -> None:
    """Add this area's sub-commands to the `voicebot` parser."""
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

    e = sub.add_parser(
        "export-scenario",
        help="turn a finished call from the call records into a scenario skeleton",
        description="Read a call from the SQLite call records and write a scenario: its "
                    "turns (keys as keyed; spoken turns as recordings to supply, since audio "
                    "is not kept) and what happened as expectations.",
    )
    e.add_argument("call_sid", metavar="CALL_SID")
    e.add_argument("--db", type=Path, default=None,
                   help="SQLite call records (default: VOICEBOT_DB)")
    e.add_argument("--flow", type=Path, default=None,
                   help="flow file to name in the scenario (default: VOICEBOT_FLOW)")
    e.add_argument("-o", "--output", type=Path, default=None, metavar="FILE",
                   help="write the scenario here (default: print it)")
    e.set_defaults(func=cmd_export)


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
    text = export_call(args.call_sid, args.db or settings.db_path,
                       hash_key=settings.hash_key, output=args.output,
                       flow_path=args.flow or settings.flow_path)
    if args.output is None:
        sys.stdout.write(text)
    else:
        print(f"wrote {args.output}", file=sys.stderr)
    return 0
