"""The `voicebot` command. Each area registers its own sub-commands; this only dispatches
and turns errors into one clear line (no tracebacks at users; VOICEBOT_DEBUG=1 shows them)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from voicebot import __version__
from voicebot.errors import VoicebotError

# Modules with `register(subparsers)`: each adds parsers whose default `func(args) -> int`.
COMMAND_MODULES = (
    "voicebot.commands.flows",          # validate, schema, graph, chat
    "voicebot.commands.speech",        # models, evaluate
    "voicebot.commands.serve",       # serve
    "voicebot.commands.replay",        # replay, export-scenario, call
    "voicebot.commands.synth",         # synth
    "voicebot.commands.settings",       # settings
    "voicebot.commands.db",             # db upgrade, db current
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voicebot",
        description="Offline voicebot for phone support lines.",
    )
    parser.add_argument("--version", action="version", version=f"voicebot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except VoicebotError as exc:
        print(f"voicebot {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001 - last line of defence against tracebacks
        if os.environ.get("VOICEBOT_DEBUG"):
            raise
        print(
            f"voicebot {args.command}: internal error: {type(exc).__name__}: {exc}\n"
            "(run with VOICEBOT_DEBUG=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
