"""Matching rules shared by recognised speech and typed chat text."""

from __future__ import annotations

import pytest

from voicebot.flow.matching import (
    find_phrase,
    match_intent,
    normalize,
    spoken_digits,
    spoken_number,
    yes_no,
)

INTENTS = {"order": ["order status", "order", "where is my order"],
           "billing": ["billing", "bill", "my bill is wrong"]}
KEYS = {"order": "1", "billing": "2"}


def test_normalize():
    assert normalize("  Where's   my ORDER?!  ") == "where's my order"
    assert normalize("Order-status, please.") == "order status please"
    assert normalize("") == ""


@pytest.mark.parametrize("text,digits", [
    ("four five one two", "4512"),
    ("4 5 1 2", "4512"),
    ("4512", "4512"),
    ("oh one two three", "0123"),
    ("zero nine", "09"),
    ("double seven one", "771"),
    ("um my number is four five one two", "4512"),
    ("for five won to", "4512"),  # homophones, when every word is a digit word
    ("I want to go", None),
    ("order status", None),
    ("", None),
])
def test_spoken_digits(text, digits):
    assert spoken_digits(text) == digits


@pytest.mark.parametrize("text,number", [
    ("twenty five", 25), ("two hundred and six", 206), ("42", 42), ("one two", 12),
    ("three", 3), ("a thousand", 1000), ("purple", None),
])
def test_spoken_number(text, number):
    assert spoken_number(text) == number


@pytest.mark.parametrize("text,answer", [
    ("yes", "yes"), ("yeah that's right", "yes"), ("correct", "yes"), ("no", "no"),
    ("no that's not right", "no"), ("nope", "no"), ("yes no", None), ("maybe", None),
])
def test_yes_no(text, answer):
    assert yes_no(text) == answer


def test_intent_longest_phrase_wins_and_ties_do_not_match():
    assert match_intent("where is my order", INTENTS, KEYS) == "order"
    assert match_intent("I think my bill is wrong", INTENTS, KEYS) == "billing"
    assert match_intent("order and bill", INTENTS, KEYS) is None  # one word each: ambiguous
    assert match_intent("bills", INTENTS, KEYS) is None  # whole words only
    assert match_intent("two", INTENTS, KEYS) == "billing"  # a spoken menu key
    assert match_intent("", INTENTS, KEYS) is None


def test_find_phrase_whole_words():
    escape = ["agent", "person", "speak to someone"]
    assert find_phrase("can I speak to someone please", escape) == "speak to someone"
    assert find_phrase("a personal question", escape) is None
