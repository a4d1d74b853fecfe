"""The one redactor: what looks like personal data in what callers say, however they say
it, becomes a typed placeholder; short numbers and ordinary words stay."""

from __future__ import annotations

import hashlib

import pytest

from voicebot.flow.loader import load_flow
from voicebot.flow.redact import KnownValues, digit_runs, mask, redact, speakable, stored_form
from voicebot.flow.validator import check_flow

CARD = "4111111111111111"  # a test card number: passes the Luhn check


@pytest.mark.parametrize("said, kept", [
    ("my card number is four one one one one one one one one one one one one one one one",
     "my card number is [card]"),
    ("it's 4111 1111 1111 1111 thanks", "it's [card] thanks"),
    ("four one double one, one one one one, triple one one, one one one one", "[card]"),
    ("call me on five five five oh one hundred", "call me on [phone]"),
    ("my number is +44 20 7946 0958", "my number is [phone]"),
    ("it's 555-010-0123", "it's [phone]"),
    ("my email is john at example dot com", "my email is [email]"),
    ("john dot smith at gmail dot co dot uk please", "[email] please"),
    ("write to j o h n at example dot org", "write to [email]"),
    ("email john.smith@example.com now", "email [email] now"),
    ("my social is 123-45-6789", "my social is [id]"),
    ("it's one two three four five six seven eight nine", "it's [id]"),
    ("NI number AB 12 34 56 C", "NI number [id]"),
    ("my account is 12345678", "my account is [number]"),
    ("um my account is one two uh three four five", "um my account is [number]"),
    # as recognisers write them once punctuation is gone
    ("call me on five five five zero and zero one two three", "call me on [number]"),
    ("five hundred fifty five zero ten zero one two three", "[number]"),
    ("my email is jane at example org i never got it", "my email is [email] i never got it"),
    ("email me at john at example dot com or call", "email me at [email] or call"),
    ("my email address is not an example com", "my email address is not an [email]"),
    ("write to john dot smith at example dot co dot uk please", "write to [email] please"),
])
def test_personal_data_becomes_a_typed_placeholder(said, kept):
    assert redact(said) == kept


@pytest.mark.parametrize("said", [
    "order four five one two", "press 2 or wait 5 minutes", "oh I see", "I'm at home",
    "look at the org chart", "the dot com boom", "two orders and three parcels",
    "I'll be there at nine", "forty one eleven", "yes that's right", "",
])
def test_ordinary_speech_and_short_numbers_stay(said):
    assert redact(said) == said


def test_a_number_that_fails_the_luhn_check_is_still_hidden():
    assert redact("4111 1111 1111 1112") == "[number]"


def test_digit_runs_know_where_they_are():
    text = "card four one one one then 42"
    runs = list(digit_runs(text))
    assert [(text[r.start:r.end], r.digits) for r in runs] == [
        ("four one one one", "4111"), ("42", "42")]


def test_masked_keeps_exactly_the_last_four_digits():
    assert mask(CARD) == "****1111"
    assert mask("4111 1111 1111 4242") == "****4242"
    assert mask("123456") == "****456"  # under 8 digits: the last half
    assert mask("no digits") == "[masked]"


def test_hashed_values_match_without_being_readable():
    def hasher(value: str) -> str:
        return hashlib.sha256(b"key" + value.encode()).hexdigest()

    one, two = stored_form("5550100123", "hashed", hasher), stored_form("555 010 0123",
                                                                        "hashed", hasher)
    assert one == two and one.startswith("[hash:") and "555" not in one
    assert stored_form("5550100123", "none", hasher) == "[withheld]"
    assert stored_form("5550100123", "clear", hasher) is None  # kept as said


def test_known_values_take_their_slots_form_wherever_they_are_said():
    known = KnownValues(by_digits={CARD: "****1111", "4512": None}, by_text={})
    said = "I heard 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 and order 4 5 1 2"
    assert redact(said, known) == "I heard ****1111 and order 4 5 1 2"
    clear_six = KnownValues(by_digits={"482913": None}, by_text={})
    assert redact("prescription 482913", clear_six) == "prescription 482913"
    assert redact("prescription 482913") == "prescription [number]"


def test_placeholders_are_spoken_as_words_to_the_agent():
    assert speakable("Card ****1111, [email], [hash:0a1b2c]") == (
        "Card a number ending 1 1 1 1, an e-mail address, a value kept only as a hash")


def test_the_validator_asks_for_a_store_choice_on_free_and_digits_slots(tmp_path):
    flow_file = tmp_path / "f.yaml"
    flow_file.write_text("""\
name: f
version: "1"
start: ask
disclosure: An automated assistant. Say agent or press zero for a person.
queues: {support: our team}
fallback_queue: support
nodes:
  ask:
    kind: collect
    slot: issue
    type: free
    prompt: How can I help?
    next: card
  card:
    kind: collect
    slot: card
    type: digits
    length: 16
    store: masked
    prompt: Your card number?
    next: bye
  bye:
    kind: hangup
""")
    problems = check_flow(load_flow(flow_file), str(flow_file))
    warnings = [p for p in problems if p.severity == "warning"]
    assert len(warnings) == 1 and "no 'store' choice for 'issue'" in warnings[0].message
    assert warnings[0].line == 10  # the slot's line
    bad = flow_file.read_text().replace("store: masked", "store: encrypted")
    flow_file.write_text(bad)
    with pytest.raises(Exception, match="store"):
        load_flow(flow_file)
