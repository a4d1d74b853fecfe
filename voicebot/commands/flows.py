"""Designers' sub-commands: validate, graph and chat a YAML call flow, and print its schema."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from voicebot.errors import VoicebotError
from voicebot.flow.chat import interactive_lines, run
from voicebot.flow.graph import FORMATS, render
from voicebot.flow.loader import check_file, load_flow
from voicebot.flow.schema import SCHEMA_PATH
from voicebot.settings import Settings
from voicebot.speech.engines.common import EngineError
from voicebot.speech.hearing import hearing_for, hearing_problems
from voicebot.speech.voices import voice_problems


class FlowCommandError(VoicebotError):
    """A designer-tool argument that cannot be used (unreadable script, unwritable output)."""


def register(sub: argparse._SubParsersAction) -> None:
    """Add this area's sub-commands to the `voicebot` parser."""
    p = sub.add_parser("validate", help="check call-flow YAML files",
                       description="Check flows: YAML syntax, schema, graph, templates on "
                                   "every path, the voice and rate, what the engine can hear. "
                                   "Prints every problem as file:line:col: severity: message, "
                                   "then a summary line per file. Exit 0 when no file has "
                                   "errors (warnings do not fail).")
    p.add_argument("flows", nargs="+", metavar="FLOW", help="flow YAML file(s)")
    p.add_argument("--strict", action="store_true", help="warnings fail too")
    p.add_argument("--engine", metavar="ENGINE",
                   help="check what this recognition engine can hear (default: "
                        "VOICEBOT_ENGINE, else auto)")
    p.add_argument("-q", "--quiet", action="store_true", help="print problems only")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help="print the flow JSON Schema (or where it is)",
                       description="Print the JSON Schema of call flows, for editors that "
                                   "complete and check YAML as you type (yaml-language-server: "
                                   "put `# yaml-language-server: $schema=PATH` on a flow's "
                                   "first line).")
    p.add_argument("--path", action="store_true", help="print the schema file's path only")
    p.set_defaults(func=cmd_schema)

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
        flow, problems = check_file(name, extra=lambda f, file: (
            hearing_problems(f, file, hearing) + voice_problems(f, file)))
        errors = sum(p.severity == "error" for p in problems)
        warnings = len(problems) - errors
        if errors or (args.strict and warnings):
            failed = True
        # One stream, in order: each problem on its line, then the file's summary line.
        lines = [str(p) for p in problems]
        if not args.quiet and flow is not None:
            lines.append(f"{name}: ok: flow '{flow.name}' version {flow.version}, "
                         f"{len(flow.nodes)} nodes, {warnings} warning(s)")
        elif not args.quiet:
            lines.append(f"{name}: {errors} error(s), {warnings} warning(s)")
        if lines:
            print("\n".join(lines), flush=True)
    return 1 if failed else 0


def cmd_schema(args: argparse.Namespace) -> int:
    if args.path:
        print(SCHEMA_PATH)
    else:
        sys.stdout.write(SCHEMA_PATH.read_text(encoding="utf-8"))
    return 0


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
