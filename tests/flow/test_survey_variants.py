"""The survey node (a 1-5 rating before goodbye, never a reason to hand over) and flow
variants (A/B tests: each a whole flow, checked as one; callers assigned by a stable key),
on the shipped example call_flows/examples/support-ab.yaml."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.flow.conftest import ROOT
from voicebot.flow.events import (
    Digits,
    Hangup,
    Listen,
    NoInput,
    PerformLookup,
    Recognized,
    Say,
    Transfer,
)
from voicebot.flow.interpreter import FlowSession
from voicebot.flow.loader import check_file, load_flow
from voicebot.flow.lookup import perform

AB = ROOT / "call_flows" / "examples" / "support-ab.yaml"


@pytest.fixture(scope="module")
def ab():
    return load_flow(AB)


def at_survey(flow) -> tuple[FlowSession, list]:
    """A call that got its order status and said it needs nothing else."""
    s = FlowSession(flow)
    s.start()
    for keys in ("1", "4512", "1"):
        s.handle(Digits(keys))
    lookup = PerformLookup("find_order", dict(flow.nodes["find_order"].source),
                           {"order_number": "4512"})
    s.handle(perform(lookup))
    actions = s.handle(Digits("9"))
    assert s.node == "rate_call" and s.surveying
    return s, actions


def test_a_survey_asks_for_one_to_five_spoken_or_keyed(ab):
    s, actions = at_survey(ab)
    listen = actions[-1]
    assert isinstance(listen, Listen) and listen.slot_kind == "survey" and listen.dtmf_max == 1
    assert {"one", "five", "agent"} <= set(listen.grammar)
    end = s.handle(Digits("4"))
    assert s.csat == 4 and isinstance(end[-1], Hangup) and s.reason == "completed"
    assert s.turns[-1]["result"] == "collected"

    s, _ = at_survey(ab)
    s.handle(Recognized("i would say five", 0.9))
    assert s.csat == 5 and s.outcome == "hangup"


def test_an_unanswered_survey_goes_on_to_goodbye_never_to_a_person(ab):
    s, _ = at_survey(ab)
    again = s.handle(Recognized("seven", 0.9))  # not 1-5: asked again
    assert isinstance(again[0], Say) and again[0].kind == "reprompt" and s.csat is None
    end = s.handle(NoInput())
    assert s.outcome == "hangup" and s.reason == "completed" and s.csat is None
    assert not any(isinstance(a, Transfer) for a in end)
    assert [t["result"] for t in s.turns[-2:]] == ["no_match", "no_input"]


def test_asking_for_a_person_at_the_survey_still_reaches_one(ab):
    s, _ = at_survey(ab)
    out = s.handle(Recognized("agent", 0.9))
    assert isinstance(out[-1], Transfer) and s.reason == "keyword"
    s, _ = at_survey(ab)
    s.handle(Digits("0"))
    assert s.reason == "dtmf"


def test_variants_are_whole_flows_and_callers_keep_theirs(ab):
    assert list(ab.variants) == ["A", "B"]
    b = ab.variants["B"].flow
    assert b.variant == "B" and b.version == ab.version and b.name == ab.name
    assert b.nodes["main_menu"].prompt.startswith("How can I help? Say billing")
    assert ab.variants["A"].flow.nodes["main_menu"].prompt == ab.nodes["main_menu"].prompt
    assert ab.variant_named("B") is b and ab.variant_named("Z") is ab
    counts = Counter(ab.assign_variant(f"caller-{i}") for i in range(2000))
    assert set(counts) == {"A", "B"} and abs(counts["A"] - 1000) < 120  # 50/50 weights
    assert all(ab.assign_variant("caller-7") == ab.assign_variant("caller-7")
               for _ in range(3))
    assert load_flow(ROOT / "call_flows" / "support.yaml").assign_variant("x") is None


def _variant_file(tmp_path: Path, changes: str) -> Path:
    text = AB.read_text().replace(
        "        prompt: How can I help? Say billing or press 2. Say order status or press 1.\n",
        changes)
    out = tmp_path / "examples" / "ab.yaml"
    out.parent.mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "orders.csv").write_text(
        (ROOT / "call_flows" / "data" / "orders.csv").read_text())
    out.write_text(text)
    return out


def test_a_variant_that_breaks_the_flow_is_reported_at_its_own_lines(tmp_path):
    path = _variant_file(tmp_path, "        promt: Say billing.\n"
                                   "        intents: {}\n")
    flow, problems = check_file(path)
    assert flow is None
    lines = path.read_text().splitlines()
    messages = {p.message: lines[p.line - 1].strip() for p in problems if p.severity == "error"}
    assert messages == {
        "variant 'B': unknown key 'promt' in nodes.main_menu (did you mean 'prompt'?)":
            "promt: Say billing.",
        "variant 'B': nodes.main_menu.intents must not be empty": "intents: {}",
    }


def test_a_variant_adding_a_node_with_no_way_out_does_not_load(tmp_path):
    path = _variant_file(tmp_path, "        intents:\n"
                                   "          loop: {phrases: [loop], dtmf: 3, next: spin}\n"
                                   "      spin: {kind: say, prompt: Round we go., next: spin}\n")
    flow, problems = check_file(path)
    assert flow is None
    assert any(p.message.startswith("variant 'B': loop without waiting for the caller: spin")
               for p in problems), problems
    assert not any("variant 'A'" in p.message for p in problems)
