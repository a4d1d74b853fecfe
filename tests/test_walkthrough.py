"""The README's walk-through for designers and testers, run as written: its commands, in
order, on the example flow it describes (call_flows/examples/pharmacy.yaml), from a
directory of their own, with the embedded engine. If the README and the tools drift apart,
this fails."""

from __future__ import annotations

import csv
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from voicebot import cli

ROOT = Path(__file__).resolve().parent.parent
HEADING = "### Walk-through: a new flow, from nothing to a green replay suite"


def walkthrough_commands() -> list[str]:
    """The lines of the first sh block after the walk-through's heading."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(HEADING):]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "the walk-through has no sh block"
    return [line.strip() for line in block.group(1).splitlines()
            if line.strip() and not line.strip().startswith("#")]


def argv(line: str) -> list[str]:
    """A command line as a shell would pass it: words, globs expanded."""
    out: list[str] = []
    for word in shlex.split(line):
        out.extend(sorted(glob.glob(word)) if any(c in word for c in "*?[") else [word])
    return out


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory of one's own holding the example flow, as a designer's repository would."""
    shutil.copytree(ROOT / "call_flows" / "examples", tmp_path / "call_flows" / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VOICEBOT_ENGINE", "pocketsphinx")
    monkeypatch.setenv("VOICEBOT_MODEL_DIR", str(tmp_path / "no-models"))
    monkeypatch.delenv("VOICEBOT_VOSK_MODEL", raising=False)
    monkeypatch.setenv("VOICEBOT_TTS_CACHE", str(tmp_path / "tts-cache"))
    return tmp_path


def test_the_walkthrough_names_the_tools_in_order():
    tools = [argv(line)[:2] if line.startswith("voicebot") else argv(line)[:1]
             for line in walkthrough_commands()]
    assert tools == [["voicebot", "schema"], ["voicebot", "validate"], ["voicebot", "chat"],
                     ["voicebot", "synth"], ["voicebot", "replay"], ["voicebot", "evaluate"],
                     ["pytest"]]


@pytest.mark.slow
def test_the_readme_walkthrough_runs_green(workdir: Path, capsys: pytest.CaptureFixture[str],
                                          restore_logging: None):
    outputs: dict[str, str] = {}
    for line in walkthrough_commands():
        words = argv(line)
        if words[0] == "pytest":  # the plugin by name: a checkout may not have installed it
            done = subprocess.run([sys.executable, "-m", "pytest", *words[1:], "-q",
                                   "-p", "voicebot.replay.pytest_plugin"],
                                  capture_output=True, text=True, env=os.environ.copy())
            assert done.returncode == 0, (line, done.stdout, done.stderr)
            outputs["pytest"] = done.stdout
            continue
        assert words[0] == "voicebot", line
        code = cli.main(words[1:])
        out = capsys.readouterr()
        assert code == 0, (line, out.out, out.err)
        outputs[words[1]] = out.out + out.err

    assert Path(outputs["schema"].strip()).is_file()
    assert "ok: flow 'pharmacy'" in outputs["validate"]
    assert "Your amoxicillin is ready to collect." in outputs["chat"]
    assert "== HANGUP (completed)" in outputs["chat"]
    audio = workdir / "pharmacy-audio"
    skeletons = sorted(p.stem for p in (audio / "scenarios").glob("*.yaml"))
    assert skeletons == ["anything_else-done", "anything_else-more", "ask_rx_number-spoken",
                         "escape", "main_menu-hours", "main_menu-refill"]
    assert outputs["synth"].startswith("92 recordings in pharmacy-audio")
    assert "6/6 scenarios passed" in outputs["replay"]
    assert "6 passed" in outputs["pytest"]
    with open(workdir / "pharmacy-details.csv", newline="") as fh:
        details = list(csv.DictReader(fh))
    with open(audio / "manifest.csv", newline="") as fh:
        assert len(details) == len(list(csv.DictReader(fh)))
    refill = [float(r["confidence"]) for r in details
              if r["expected"] == "refill" and r["node"] == "main_menu"]
    longer = [float(r["confidence"]) for r in details
              if r["expected"] == "prescription refill" and r["node"] == "main_menu"]
    # what the README says evaluate showed
    assert len(refill) == 4 and sum(c < 0.5 for c in refill) >= 2
    assert len(longer) == 4 and min(longer) >= 0.75


def test_a_first_draft_shows_every_mistake_at_once(workdir: Path,
                                                   capsys: pytest.CaptureFixture[str]):
    flow = workdir / "call_flows" / "examples" / "pharmacy.yaml"
    draft = (flow.read_text(encoding="utf-8")
             .replace("voice: en-gb", "voice: en-uk")
             .replace("    prompt: Say prescription refill", "    promt: Say prescription refill")
             .replace("    next: find_rx", "    next: find_prescription")
             .replace("We are open Monday", "Your {rx.drug} is waiting. We are open Monday"))
    flow.write_text(draft, encoding="utf-8")
    assert cli.main(["validate", str(flow)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": error: ")[1].split(" (")[0].split(";")[0] for line in lines[:-1]] == [
        "unknown voice 'en-uk'",
        "unknown key 'promt' in nodes.main_menu",
        "'next' goes to unknown node 'find_prescription'",
        "'{rx.drug}' may be empty here: on the path main_menu -> hours, no lookup finds 'rx'",
    ]
    assert lines[-1] == f"{flow}: 4 error(s), 0 warning(s)"
