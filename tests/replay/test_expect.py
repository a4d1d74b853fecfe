"""`expect.slots` and `expect.said`: read from a scenario file (mistakes at file:line:col),
and judged against a call: they pass when the call did what they say, and fail with the
expected and the actual value when it did not."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicebot.records.transcript import CallTranscript, PromptRecord
from voicebot.replay.expect import Expect, Said
from voicebot.replay.scenario import ScenarioError, load_scenario
from voicebot.replay.verdict import check


def ended_call() -> CallTranscript:
    return CallTranscript(
        call_sid="CA1",
        prompts=[
            PromptRecord("I'm an automated assistant.", "main_menu", "disclosure", 0.0, 2.0),
            PromptRecord("Please say or key in your four digit order number.",
                         "ask_order_number", "prompt", 2.0, 4.0),
            PromptRecord("Order 4 5 1 2 is shipped. It arrives Tuesday.", "order_status",
                         "info", 9.0, 12.0),
            PromptRecord("Is there anything else I can help with?", "anything_else", "prompt",
                         12.0, 14.0),
        ],
        path=["main_menu", "ask_order_number", "find_order", "order_status", "anything_else"],
        outcome="hangup", reason="completed",
        context={"slots": {"order_number": "4512", "order": {"status": "shipped",
                                                              "detail": "It arrives Tuesday."},
                           "wants_sms": "yes"}},
    )


def results(expect: Expect) -> list[tuple[str, bool, str, str]]:
    return [(c.name, c.ok, c.expected, c.actual) for c in check(expect, ended_call())
            if c.name != "call ended"]


def test_slot_expectations_pass_when_the_values_match():
    expect = Expect(slots=(("order_number", "4512"), ("order.status", "Shipped"),
                           ("wants_sms", "yes"), ("callback", None)))
    assert results(expect) == [
        ("slot order_number", True, "'4512'", "'4512'"),
        ("slot order.status", True, "'Shipped'", "'shipped'"),
        ("slot wants_sms", True, "'yes'", "'yes'"),
        ("slot callback", True, "not set", "not set"),
    ]


def test_a_slot_is_compared_after_the_normaliser_digits_either_way():
    assert results(Expect(slots=(("order_number", "four five one two"),)))[0][1] is True


def test_slot_expectations_fail_with_expected_and_actual():
    expect = Expect(slots=(("order_number", "1234"), ("order.colour", "red"),
                           ("wants_sms", None)))
    assert results(expect) == [
        ("slot order_number", False, "'1234'", "'4512'"),
        ("slot order.colour", False, "'red'", "not set"),
        ("slot wants_sms", False, "not set", "'yes'"),
    ]


def test_said_finds_text_in_the_prompts_in_order():
    expect = Expect(said=(Said("…is shipped…"), Said(r"order \d( \d){3}", regex=True),
                          Said("anything else")))
    assert results(expect) == [
        ("said", True, "a prompt saying '…is shipped…'",
         "[order_status] 'Order 4 5 1 2 is shipped. It arrives Tuesday.'"),
        ("said", True, r"a prompt matching /order \d( \d){3}/ after the one before",
         "[order_status] 'Order 4 5 1 2 is shipped. It arrives Tuesday.'"),
        ("said", True, "a prompt saying 'anything else' after the one before",
         "[anything_else] 'Is there anything else I can help with?'"),
    ]


def test_said_fails_for_text_never_said_or_said_too_early():
    expect = Expect(said=(Said("is cancelled"), Said("anything else"), Said("order number")))
    (never, found, early) = results(expect)
    assert never[:3] == ("said", False, "a prompt saying 'is cancelled'")
    assert never[3].startswith("no such prompt (last said: [ask_order_number] Please say")
    assert found[1] is True
    # "order number" was said, but before "anything else"
    assert early[:2] == ("said", False) and early[3].startswith("no such prompt")


def test_said_text_is_whole_words():
    assert results(Expect(said=(Said("ship"),)))[0][1] is False


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text("turns:\n  - dtmf: \"1\"\n" + text, encoding="utf-8")
    return path


def test_slots_and_said_are_read_from_the_scenario(tmp_path: Path):
    path = write(tmp_path, """\
expect:
  slots: {order_number: 0451, order.status: shipped, callback: null, count: 3}
  said: ["is shipped", {regex: 'order \\d+'}]
""")
    expect = load_scenario(path).expect
    assert expect.slots == (("order_number", "0451"), ("order.status", "shipped"),
                            ("callback", None), ("count", "3"))
    assert expect.said == (Said("is shipped"), Said(r"order \d+", regex=True))
    assert expect.to_dict() == {"slots": {"order_number": "0451", "order.status": "shipped",
                                          "callback": None, "count": "3"},
                                "said": ["is shipped", {"regex": r"order \d+"}]}


@pytest.mark.parametrize("text, message", [
    ("expect:\n  slots: [a]\n", "4:10: expect.slots must be a mapping"),
    ("expect:\n  slots: {a: [1]}\n", "4:14: expect.slots.a must be text, a number or null"),
    ("expect:\n  slots: {a.b.c: 1}\n", "4:11: expect.slots: a key is a slot name"),
    ("expect:\n  said: shipped\n", "4:9: expect.said must be a list"),
    ("expect:\n  said: [{regex: '(unclosed'}]\n", "4:18: expect.said: not a regular "
                                                  "expression"),
    ("expect:\n  said: [{text: x}]\n", "4:11: expect.said entry: unknown key 'text'"),
])
def test_mistakes_in_slots_and_said_name_the_place(tmp_path: Path, text: str, message: str):
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert len(err.value.problems) == 1, err.value.problems
    assert err.value.problems[0].startswith(f"{path}:{message}"), err.value.problems
