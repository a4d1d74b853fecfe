"""Designers' sub-commands: validate, graph and chat a YAML call flow."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from voicebot.errors import VoicebotError
from voicebot.flow.chat import interactive_lines, run
from voicebot.flow.graph import FORMATS, render
from voicebot.flow.loader import check_file, load_flow
from voicebot.settings import Settings
from voicebot.speech.engines.common import EngineError
from voicebot.speech.hearing import hearing_for, hearing_problems


class FlowCommandError(VoicebotError):
    """A designer-tool argument that cannot be used (unreadable script, unwritable output)."""


def register(sub: argparse._SubParsersAction) -> None:
    """Add this area's sub-commands to the `voicebot` parser."""
    p = sub.add_parser("validate", help="check call-flow YAML files",
                       description="Check flows: YAML syntax, schema, graph, templates. Prints "
                                   "every problem as file:line:col: severity: message. Exit 0 "
                                   "when no file has errors (warnings do not fail).")
    p.add_argument("flows", nargs="+", metavar="FLOW", help="flow YAML file(s)")
    p.add_argument("--strict", action="store_true", help="warnings fail too")
    p.add_argument("--engine", metavar="ENGINE",
                   help="check what this recognition engine can hear (default: "
                        "VOICEBOT_ENGINE, else auto)")
    p.add_argument("-q", "--quiet", action="store_true", help="print problems only")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("graph", help="draw a call flow (mermaid, dot, svg)",
                       description="Draw a flow: nodes with kind and prompt, edges with intent "
                                   "or condition, escalations dashed to a person.")
    p.add_argument("flow", metavar="FLOW")
    p.add_argument("--format", "-f", choices=FORMATS, default="mermaid")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    p.set_defaults(func=cmd_graph)

    p = sub.add_parser("chat", help="talk to a call flow by typing",
                       description="Type what the caller says; '#5' presses 5, an empty line "
                                   "is silence, '~0.3 text' is text heard with confidence 0.3, "
                                   "'!fault' simulates a fault, '# ...' is a comment. Lookups "
                                   "are performed for real.")
    p.add_argument("flow", metavar="FLOW")
    p.add_argument("--script", metavar="FILE", help="read the caller's lines from FILE ('-': "
                                                    "stdin)")
    p.set_defaults(func=cmd_chat)


def cmd_validate(args: argparse.Namespace) -> int:
    hearing = _hearing(args.engine)
    failed = False
    for name in args.flows:
        flow, problems = check_file(name)
        if flow is not None:
            problems = sorted(problems + hearing_problems(flow, name, hearing),
                              key=lambda p: (p.line, p.col))
            if any(p.severity == "error" for p in problems):
                flow = None
        for problem in problems:
            print(problem)
        errors = sum(p.severity == "error" for p in problems)
        warnings = len(problems) - errors
        if errors or (args.strict and warnings):
            failed = True
        if not args.quiet:
            if flow is not None:
                print(f"{name}: ok: flow '{flow.name}' version {flow.version}, "
                      f"{len(flow.nodes)} nodes, {warnings} warning(s)", file=sys.stderr)
            else:
                print(f"{name}: {errors} error(s), {warnings} warning(s)", file=sys.stderr)
    return 1 if failed else 0


def _hearing(engine: str | None):
    """What the engine calls will use can hear (commands are the edge that joins the
    flow layer to the speech layer: the flow's own checks know nothing of engines)."""
    settings = Settings.from_env()
    try:
        return hearing_for(engine or settings.engine, settings.model_dir, settings.vosk_model,
                           settings.whisper_model)
    except EngineError as exc:
        raise FlowCommandError(f"cannot check the flow against the engine: {exc}") from None


def cmd_graph(args: argparse.Namespace) -> int:
    text = render(load_flow(args.flow), args.format)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise FlowCommandError(f"cannot write {args.output}: {exc.strerror}") from exc
    else:
        sys.stdout.write(text)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    flow = load_flow(args.flow)
    if args.script == "-":
        lines = [line.rstrip("\n") for line in sys.stdin]
        run(flow, lines, sys.stdout)
    elif args.script:
        try:
            text = Path(args.script).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise FlowCommandError(f"cannot read script {args.script}: {exc}") from exc
        run(flow, text.splitlines(), sys.stdout)
    elif sys.stdin.isatty():
        print("Type what the caller says. '#1' presses 1, an empty line is silence, Ctrl-D "
              "ends.", file=sys.stderr)
        run(flow, interactive_lines(), sys.stdout, echo=False)
    else:
        run(flow, [line.rstrip("\n") for line in sys.stdin], sys.stdout)
    return 0
