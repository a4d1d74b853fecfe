"""`voicebot settings`: every setting with its value here (secrets masked), or the README's
table (`--markdown`), both from the one table in voicebot/settings/."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from voicebot.settings import PROJECT_ROOT, Settings, Var, raw_value, variables


def register(sub: argparse._SubParsersAction) -> None:
    """Add `voicebot settings` to the `voicebot` parser."""
    p = sub.add_parser(
        "settings", help="list the settings (environment variables) and their values",
        description="List every setting: its value from the environment (secrets masked) or "
                    "its default, and what it means. Exit 2 with every problem if a value is "
                    "invalid. --markdown prints the README's settings table instead.")
    p.add_argument("--markdown", action="store_true",
                   help="print the settings table as the README has it")
    p.set_defaults(func=cmd_settings)


def cmd_settings(args: argparse.Namespace) -> int:
    if args.markdown:
        print(markdown_table(), end="")
        return 0
    for var, default in variables():
        raw = raw_value(os.environ, var.env)
        if raw is None:
            value = f"{shown_default(var, default)}  (default)"
        else:
            value = "(set, hidden)" if var.secret else raw
        print(f"{var.env}={value}\n    {var.meaning}")
    Settings.from_env()  # every problem at once, as one clear error (exit 2)
    return 0


def shown_default(var: Var, default: Any) -> str:
    """The default as the README shows it."""
    if var.shown is not None:
        return var.shown
    if isinstance(default, bool):
        return "1" if default else "0"
    if isinstance(default, float):
        return f"{default:g}"
    if isinstance(default, Path):
        return str(default.relative_to(PROJECT_ROOT)) if default.is_relative_to(
            PROJECT_ROOT) else str(default)
    return str(default)


def markdown_table() -> str:
    """The README's settings table."""
    lines = ["| variable | meaning | default |", "| --- | --- | --- |"]
    for var, default in variables():
        cells = (f"`{var.env}`", var.meaning, shown_default(var, default))
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
