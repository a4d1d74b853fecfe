"""The `voicebot` command: every sub-command reaches its handler, and errors are one line."""

from __future__ import annotations

import pytest

from voicebot import cli
from voicebot.commands import flows as flow_commands

COMMANDS = {
    "validate": ["validate", "flow.yaml"],
    "graph": ["graph", "flow.yaml"],
    "chat": ["chat", "flow.yaml"],
    "models": ["models", "list"],
    "evaluate": ["evaluate", "manifest.csv"],
    "serve": ["serve", "--port", "8099"],
    "call": ["call", "http://127.0.0.1:8099/voice", "--dtmf", "1"],
    "replay": ["replay", "scenario.yaml"],
    "export-scenario": ["export-scenario", "CA0123"],
}


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_is_registered_with_a_handler(name):
    args = cli.build_parser().parse_args(COMMANDS[name])
    assert args.command == name
    assert callable(args.func)


def test_no_command_prints_usage_and_exits_2(capsys):
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_a_bug_is_reported_in_one_line_without_a_traceback(monkeypatch, capsys):
    def broken(args):
        raise KeyError("boom")

    monkeypatch.delenv("VOICEBOT_DEBUG", raising=False)
    monkeypatch.setattr(flow_commands, "cmd_validate", broken)
    assert cli.main(["validate", "flow.yaml"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("voicebot validate: internal error: KeyError: 'boom'")
    assert "Traceback" not in err
