"""`voicebot validate` as a designer of a new flow meets it: every mistake in one run (a schema
error hides nothing), templates checked on every path, the voice and rate checked against
the TTS, and the JSON Schema (`voicebot schema`) with help for every key."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.flow.conftest import SUPPORT
from voicebot import cli
from voicebot.flow.loader import FlowYamlLoader, check_file
from voicebot.flow.schema import SCHEMA_PATH
from voicebot.speech.voices import RATE_MAX, RATE_MIN

PHARMACY = """\
start: main_menu
voice: en-us
disclosure: I'm an automated assistant for the pharmacy. Say agent or press 0 for a person.
queues:
  pharmacist: our pharmacist
nodes:
  main_menu:
    kind: menu
    prompt: Say refill or press 1. Say hours or press 2.
    intents:
      refill:
        phrases: [refill]
        dtmf: 1
        next: ask_rx
      hours:
        phrases: [hours]
        dtmf: 2
        next: goodbye
  ask_rx:
    kind: collect
    slot: rx_number
    type: digits
    length: 6
    prompt: Say your prescription number.
    next: find_rx
  find_rx:
    kind: lookup
    source: {file: rx.csv, key: rx_number}
    result: rx
    found: goodbye
    not_found: goodbye
  goodbye:
    kind: hangup
    prompt: Goodbye.
"""


@pytest.fixture
def pharmacy(tmp_path: Path):
    (tmp_path / "rx.csv").write_text("rx_number,drug,status\n123456,aspirin,ready\n")

    def write(text: str) -> Path:
        path = tmp_path / "pharmacy.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def errors(path: Path) -> list:
    return [p for p in check_file(path)[1] if p.severity == "error"]


def test_the_pharmacy_flow_is_clean(pharmacy):
    flow, problems = check_file(pharmacy(PHARMACY))
    assert flow is not None and problems == []


def test_four_mistakes_are_reported_in_one_run(pharmacy, capsys):
    text = (PHARMACY
            .replace("voice: en-us", "voice: xx-nonexistent")                  # the TTS
            .replace("    prompt: Say refill", "    promt: Say refill")         # the schema
            .replace("    not_found: goodbye", "    not_found: goodby")         # the graph
            .replace("    prompt: Goodbye.", "    prompt: Goodbye, enjoy your {rx.drug}."))
    path = pharmacy(text)
    assert cli.main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.endswith("\n")
    lines = out.splitlines()
    assert lines == [
        f"{path}:{line_of(text, 'voice:')}:8: error: unknown voice 'xx-nonexistent'; English "
        f"voices here: {lines[0].split('English voices here: ')[1]}",
        f"{path}:{line_of(text, 'promt')}:5: error: unknown key 'promt' in nodes.main_menu "
        "(did you mean 'prompt'?)",
        f"{path}:{line_of(text, 'not_found: goodby')}:16: error: 'not_found' goes to unknown node "
        "'goodby' (did you mean 'goodbye'?)",
        f"{path}:{line_of(text, 'enjoy')}:13: error: '{{rx.drug}}' may be empty here: on the "
        "path main_menu -> goodbye, no lookup finds 'rx' (look it up on every path to "
        "'goodbye', or say it only where it is set)",
        f"{path}: 4 error(s), 0 warning(s)",
    ]
    assert "en-us" in lines[0]


def test_a_schema_error_causes_no_follow_on_errors(pharmacy):
    # `next` misspelt: the node's way on is unknown, so nothing after it may be called
    # unreachable, nor the node a dead end
    text = PHARMACY.replace("    next: find_rx", "    nxt: find_rx")
    problems = check_file(pharmacy(text))[1]
    assert [p.message for p in problems] == [
        "unknown key 'nxt' in nodes.ask_rx (did you mean 'next'?)"]
    # a misspelt slot key: templates naming the slot are not blamed on it
    text = PHARMACY.replace("    slot: rx_number", "    slott: rx_number")
    assert [p.message for p in errors(pharmacy(text))] == [
        "unknown key 'slott' in nodes.ask_rx (did you mean 'slot'?)"]


def test_a_template_is_checked_on_every_path(pharmacy):
    refill_only = PHARMACY.replace("        next: goodbye\n  ask_rx:",
                                   "        next: closed\n  ask_rx:") + """\
  closed:
    kind: hangup
    prompt: We open at nine.
"""
    ok = refill_only.replace("    prompt: Goodbye.", "    prompt: Goodbye. Prescription "
                                                       "{rx_number}.")
    assert errors(pharmacy(ok)) == []
    # ... but the result is only set when the lookup found a record
    text = refill_only.replace("    prompt: Goodbye.", "    prompt: Your {rx.drug} is "
                                                       "{rx.status}.")
    errs = errors(pharmacy(text))
    assert [(p.line, p.message) for p in errs] == [
        (line_of(text, "Your {rx.drug}"),
         "'{rx.drug}' may be empty here: on the path main_menu -> ask_rx -> find_rx -> goodbye, "
         "no lookup finds 'rx' (look it up on every path to 'goodbye', or say it only where "
         "it is set)"),
        (line_of(text, "Your {rx.drug}"),
         "'{rx.status}' may be empty here: on the path main_menu -> ask_rx -> find_rx -> "
         "goodbye, no lookup finds 'rx' (look it up on every path to 'goodbye', or say it "
         "only where it is set)")]
    # a branch that needs the value set makes it set on its way
    guarded = text.replace("    found: goodbye\n    not_found: goodbye",
                           "    found: check\n    not_found: check") + """\
  check:
    kind: branch
    branches:
      - when: {slot: rx.status, set: true}
        next: goodbye
    default: closed
"""
    assert errors(pharmacy(guarded)) == []


def test_a_slot_used_before_it_is_collected_shows_the_path(pharmacy):
    text = PHARMACY.replace("    prompt: Say refill or press 1. Say hours or press 2.",
                            "    prompt: Welcome back, {rx_number}.")
    (err,) = errors(pharmacy(text))
    assert err.line == line_of(text, "Welcome back")
    assert err.message.startswith("'{rx_number}' may be empty here: on the path main_menu, "
                                  "'rx_number' is not collected (collect it on every path")


def test_the_default_flow_passes_the_path_checks():
    flow, problems = check_file(SUPPORT)
    assert flow is not None and problems == []


@pytest.mark.parametrize("voice, message", [
    ("xx-nonexistent", "unknown voice 'xx-nonexistent'"),
    ("en-us+zz9", "unknown espeak-ng voice variant 'zz9'"),
])
def test_a_voice_the_tts_does_not_have_is_an_error(pharmacy, capsys, voice, message):
    path = pharmacy(PHARMACY.replace("voice: en-us", f"voice: {voice}"))
    assert cli.main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:2:8: error: {message}" in out


@pytest.mark.parametrize("voice", ["en-gb", "en-us+f2", "English (America)"])
def test_voices_the_tts_has_pass(pharmacy, voice):
    assert check_file(pharmacy(PHARMACY.replace("voice: en-us", f"voice: '{voice}'")))[1] == []


@pytest.mark.parametrize("rate", [RATE_MIN - 1, RATE_MAX + 1])
def test_a_rate_outside_what_espeak_speaks_is_an_error(pharmacy, rate):
    (err,) = errors(pharmacy(PHARMACY.replace("voice: en-us", f"rate: {rate}")))
    assert err.line == 2 and "rate" in err.message


def test_the_schema_bounds_of_rate_are_the_tts_bounds():
    rate = json.loads(SCHEMA_PATH.read_text())["properties"]["rate"]
    assert (rate["minimum"], rate["maximum"]) == (RATE_MIN, RATE_MAX)


# ----------------------------------------------------------------- voicebot schema


def test_schema_output_validates_the_default_flow(capsys):
    assert cli.main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    data = yaml.load(SUPPORT.read_text(), Loader=FlowYamlLoader)
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(data)) == []
    assert cli.main(["schema", "--path"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.is_absolute() and json.loads(path.read_text()) == schema


def _properties(node, where=""):
    """(where, name, subschema) of every property anywhere in the schema."""
    if isinstance(node, dict):
        for name, sub in (node.get("properties") or {}).items():
            yield f"{where}.{name}", sub
        for key, value in node.items():
            yield from _properties(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _properties(value, f"{where}[{i}]")


def test_every_schema_property_has_help_and_examples_that_are_valid():
    schema = json.loads(SCHEMA_PATH.read_text())
    props = list(_properties(schema))
    assert len(props) > 100
    missing = [w for w, sub in props if not sub.get("description") or not sub.get("examples")]
    assert missing == []
    for where, sub in props:
        check = {k: v for k, v in sub.items() if k != "examples"} | {"$defs": schema["$defs"]}
        for example in sub["examples"]:
            errs = list(jsonschema.Draft202012Validator(check).iter_errors(example))
            assert errs == [], (where, example, errs[0].message)


@pytest.mark.parametrize("change, message", [
    # a kind that is not one: nothing else of the node can be checked, nor is blamed
    (("    kind: hangup", "    kind: -1\n    reprompts: 42"),
     "nodes.goodbye.kind must be one of: say, ask, menu, collect, branch,"),
    # keys the node's kind does not have are set aside, not read
    (("    kind: lookup", "    kind: say\n    prompt: Looking.\n    next: goodbye"),
     "unknown key 'source' in nodes.find_rx"),
    (("    length: 6", "    length: 6\n    reprompts:"), "nodes.ask_rx.reprompts must be array"),
])
def test_one_schema_error_is_one_problem(pharmacy, change, message):
    problems = check_file(pharmacy(PHARMACY.replace(*change)))[1]
    assert problems and problems[0].message.startswith(message), problems
    assert all(p.severity == "error" and "nodes" in p.message for p in problems), problems
