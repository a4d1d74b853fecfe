"""`voicebot validate` tells the truth about the engine: a phrase with a word the engine
cannot hear is a warning at the phrase, a free-speech question an engine cannot take is an
error (the real pocketsphinx dictionary; no model is loaded)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from voicebot import cli
from voicebot.flow.loader import load_flow
from voicebot.speech.engines.common import EngineError
from voicebot.speech.hearing import hearing_for, hearing_problems

ROOT = Path(__file__).resolve().parents[2]
PHARMACY = """\
name: pharmacy
start: menu
disclosure: >
  You're talking to an automated assistant for Main Street Pharmacy. Say pharmacist or
  press 0 at any time for a person.
queues:
  pharmacist: a pharmacist
fallback_queue: pharmacist
policy:
  escape_phrases: [pharmacist, agent]
nodes:
  menu:
    kind: menu
    prompt: Say refill, or leave a message.
    intents:
      refill:
        phrases: [refill, zyrtec refill]
        dtmf: 1
        next: bye
      message:
        phrases: [leave a message]
        dtmf: 2
        next: note
  note:
    kind: collect
    slot: note
    type: free
    prompt: Please leave your message.
    next: bye
  bye:
    kind: hangup
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pharmacy.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_pocketsphinx_warns_at_a_phrase_it_cannot_hear_and_refuses_free_speech(tmp_path):
    path = write(tmp_path, PHARMACY)
    problems = hearing_problems(load_flow(path), str(path), hearing_for("pocketsphinx"))
    lines = PHARMACY.splitlines()
    zyrtec = next(i for i, line in enumerate(lines, 1) if "zyrtec refill" in line)
    free = next(i for i, line in enumerate(lines, 1) if "type: free" in line)
    assert [(p.line, p.severity) for p in problems] == [(zyrtec, "warning"), (free, "error")]
    assert "'zyrtec'" in problems[0].message and "zyrtec refill" in problems[0].message
    assert "free speech" in problems[1].message


def test_an_open_vocabulary_engine_hears_any_word_and_free_speech(tmp_path):
    path = write(tmp_path, PHARMACY)
    assert hearing_problems(load_flow(path), str(path), hearing_for("whisper")) == []


def test_the_default_flow_is_heard_whole_by_pocketsphinx():
    path = ROOT / "call_flows" / "support.yaml"
    assert hearing_problems(load_flow(path), str(path), hearing_for("pocketsphinx")) == []


def test_a_menu_the_engine_cannot_hear_at_all_is_an_error(tmp_path):
    text = PHARMACY.replace("[refill, zyrtec refill]", "[zyrtec]") \
        .replace("[leave a message]", "[zyrtec please]") \
        .replace("[pharmacist, agent]", "[pharmacistt]")
    path = write(tmp_path, text)
    problems = hearing_problems(load_flow(path), str(path), hearing_for("pocketsphinx"))
    errors = [p.message for p in problems if p.severity == "error"]
    assert any("none of the phrases of 'menu'" in m for m in errors), problems


def test_validate_command_reports_them_and_fails_on_the_error(tmp_path, capsys):
    path = write(tmp_path, PHARMACY)
    assert cli.main(["validate", "--engine", "pocketsphinx", str(path)]) == 1
    out = capsys.readouterr().out
    assert ": warning: the pocketsphinx engine cannot hear 'zyrtec'" in out
    assert ": error: 'note' asks for free speech" in out
    assert cli.main(["validate", "--engine", "whisper", str(path)]) == 0


def test_an_unknown_engine_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(EngineError, match="unknown engine 'bogus'"):
        hearing_for("bogus")
    assert cli.main(["validate", "--engine", "bogus", str(write(tmp_path, PHARMACY))]) == 2
    assert "unknown engine 'bogus'" in capsys.readouterr().err
