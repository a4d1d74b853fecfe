"""A call's transcript as it is kept: each slot by its flow's `store` choice, wherever its
value is said, read back or summarised; free speech redacted; fixed prompts unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicebot.flow.loader import load_flow
from voicebot.records.minimise import Minimiser, StorageRules
from voicebot.records.transcript import CallTranscript, PromptRecord, TurnRecord

FLOW = Path(__file__).resolve().parents[1] / "privacy" / "privacy_flow.yaml"
CARD = "4111111111111111"
CARD_SAID = "four one one one one one one one one one one one one one one one"
FREE = "my card was charged twice email me at john at example dot com or call 555 010 0123"


@pytest.fixture(scope="module")
def rules() -> StorageRules:
    return StorageRules.for_flow(load_flow(FLOW), b"test-hash-key")


def call(*, rejected: str | None = None) -> CallTranscript:
    """The privacy test flow's call as the session writes it (what was said, in clear)."""
    slots = {"issue": FREE, "card": CARD, "phone": "5550100123", "order_number": "4512"}
    prompts = [
        PromptRecord("In a sentence, how can I help?", "ask_issue", "prompt", 1.0),
        PromptRecord("Please say or key in your card number.", "ask_card", "prompt", 5.0),
    ]
    turns = [TurnRecord("ask_issue", "speech", FREE, 0.9), TurnRecord("ask_card", "speech",
                                                                       CARD_SAID, 0.9)]
    if rejected:
        prompts.append(PromptRecord(f"I heard {' '.join(rejected)}. Is that right?",
                                    "ask_card", "confirm", 7.0))
        turns += [TurnRecord("ask_card", "speech", "no", 0.9),
                  TurnRecord("ask_card", "dtmf", rejected[:-1] + "2", None)]
    prompts += [
        PromptRecord(f"I heard {' '.join(CARD)}. Is that right?", "ask_card", "confirm", 9.0),
        PromptRecord("Finally, your four digit order number?", "ask_order", "prompt", 12.0),
        PromptRecord("I heard 4 5 1 2. Is that right?", "ask_order", "confirm", 14.0),
    ]
    turns += [TurnRecord("ask_card", "speech", "yes", 0.9),
              TurnRecord("ask_phone", "dtmf", "5550100123", None),
              TurnRecord("ask_order", "speech", "four five one two", 0.8)]
    summary = f"Issue: {FREE}. Card {CARD}, phone 5550100123, order 4512."
    context = {"slots": slots, "node": "to_agent",
               "turns": [{"node": t.node, "kind": t.kind, "heard": t.heard} for t in turns]}
    return CallTranscript(call_sid="CAmin", flow_name="privacy_test", prompts=prompts,
                          turns=turns, summary=summary, context=context, outcome="transfer",
                          reason="flow", queue="support")


def everything(t: CallTranscript) -> str:
    return repr(t.to_dict())


def test_nothing_of_what_was_said_is_kept_in_clear_but_the_clear_slot(rules):
    kept = Minimiser(rules).stored(call())
    text = everything(kept)
    for secret in (CARD, " ".join(CARD), CARD_SAID, "5550100123", "555 010 0123",
                   "john at example", "example dot com"):
        assert secret not in text, secret
    assert kept.context["slots"]["order_number"] == "4512"  # store: clear
    assert kept.turns[-1].heard == "four five one two"
    assert kept.prompts[-1].text == "I heard 4 5 1 2. Is that right?"
    assert "order 4512" in kept.summary


def test_masked_keeps_exactly_the_last_four_digits_wherever_the_value_is(rules):
    kept = Minimiser(rules).stored(call())
    assert kept.context["slots"]["card"] == "****1111"
    assert kept.turns[1].heard == "****1111"  # what was heard at the card's node
    assert kept.prompts[2].text == "I heard ****1111. Is that right?"
    assert "Card ****1111," in kept.summary
    digits = [ch for ch in kept.context["slots"]["card"] if ch.isdigit()]
    assert digits == list(CARD[-4:])


def test_a_value_the_caller_rejected_is_reduced_too(rules):
    kept = Minimiser(rules).stored(call(rejected="4111111111111234"))
    assert "I heard ****1234. Is that right?" in [p.text for p in kept.prompts]
    assert "411111111111123" not in everything(kept)


def test_hashed_and_free_speech(rules):
    kept = Minimiser(rules).stored(call())
    phone = kept.context["slots"]["phone"]
    assert phone.startswith("[hash:") and phone == kept.turns[3].heard
    issue = kept.context["slots"]["issue"]
    assert issue == ("my card was charged twice email me at [email] or call [phone]")
    assert kept.turns[0].heard == issue and f"Issue: {issue}." in kept.summary
    assert kept.context["turns"][0]["heard"] == issue


def test_fixed_prompts_and_the_session_copy_are_left_alone(rules):
    original = call()
    kept = Minimiser(rules).stored(original)
    assert kept.prompts[0].text == "In a sentence, how can I help?"
    assert original.context["slots"]["card"] == CARD  # the call goes on with what was said
    assert original.turns[1].heard == CARD_SAID
