"""Understanding a turn: sentences as callers say them (and as recognisers write them) become
escape requests, intents, digits and yes/no answers; sentences that only mention people or
name two things do not."""

from __future__ import annotations

import pytest

from voicebot.flow.escape import names_whom
from voicebot.flow.loader import load_flow
from voicebot.flow.matching import (
    contains_phrase,
    find_phrase,
    is_escape,
    match_intent,
    normalize,
    spoken_digits,
    spoken_number,
    yes_no,
)
from voicebot.flow.normalize import compare_form, digit_form

from .conftest import SUPPORT

INTENTS = {"order": ["order status", "order", "where is my order"],
           "billing": ["billing", "bill", "my bill is wrong"]}
KEYS = {"order": "1", "billing": "2"}
FLOW = load_flow(SUPPORT)
ESCAPES = FLOW.policy.escape_phrases


def menu(node: str) -> tuple[dict[str, list[str]], dict[str, str]]:
    intents = FLOW.nodes[node].intents
    return ({i.name: list(i.phrases) for i in intents},
            {i.name: i.dtmf for i in intents if i.dtmf})


@pytest.mark.parametrize("text,norm", [
    ("  Where's   my ORDER?!  ", "where's my order"),
    ("Order-status, please.", "order status please"),
    ("It's 4,512.", "it's 4512"),
    ("I’d like to check my order—", "i'd like to check my order"),
    ("Um, yeah.", "um yeah"),
    ("'Cause it's my parcel'", "cause it's my parcel"),
    ("forty-five twelve", "forty five twelve"),
    ("", ""),
])
def test_normalize_real_recogniser_output(text, norm):
    assert normalize(text) == norm


def test_one_comparison_form_for_apostrophes_and_digits():
    assert compare_form("That’s right") == compare_form("thats right") == "thats right"
    assert digit_form("123456") == digit_form("one two three four five six") == "1 2 3 4 5 6"
    assert digit_form("4,512") == digit_form("four five one two")
    assert digit_form("order status") != digit_form("order statuses")


@pytest.mark.parametrize("text,digits", [
    ("four five one two", "4512"),
    ("4 5 1 2", "4512"),
    ("4512", "4512"),
    ("oh one two three", "0123"),
    ("zero nine", "09"),
    ("double seven one", "771"),
    ("um my number is four five one two", "4512"),
    ("for five won to", "4512"),  # homophones, when every word is a digit word
    ("it's four five one two", "4512"),
    ("my order number is 4512", "4512"),
    ("yeah it's 4 5 1 2", "4512"),
    ("It's 4,512.", "4512"),
    ("forty-five twelve", "4512"),
    ("four five, uh, one two", "4512"),
    ("Oh, it's 4512.", "4512"),  # a lone "oh" is no zero
    ("it's three o seven nine", "3079"),  # "o" as recognisers write a spoken zero
    ("o", None),
    ("it's 4512, yes 4512", "4512"),
    ("I want to go", None),
    ("order status", None),
    ("it's either 1234 or 4512", None),  # two numbers: no guess
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
    ("Yes, that's right.", "yes"), ("no that's not it", "no"), ("yeah go ahead", "yes"),
    ("um, yeah", "yes"), ("uh huh", "yes"), ("that is correct", "yes"),
    ("no, it isn't", "no"), ("that's not right", "no"), ("it is not", "no"),
    ("I don't think so", "no"), ("that's wrong", "no"), ("no that's right", None),
    ("no it is not right", "no"), ("no it is not", "no"), ("it's not correct", "no"),
    ("yes it is", "yes"), ("no, it isn't correct", "no"), ("yes, not correct", None),
    ("no matter what I do it fails", None), ("no idea", None),
    ("no one two three four", "no"),  # a number read back, corrected
])
def test_yes_no_inside_sentences(text, answer):
    assert yes_no(text) == answer


@pytest.mark.parametrize("text", [
    "agent", "Agent.", "um, an operator please", "representative", "a real person",
    "I want to talk to an agent", "Can I speak to a person, please?", "get me an operator",
    "let me talk to somebody", "I need a human", "connect me to customer service",
    "transfer me to a representative", "is there anyone I can talk to", "can you transfer me",
    "could you put me through to someone", "can I have an agent", "I want to speak to a manager",
    "I'd like to talk to one of your agents", "a human being please",
    "no, get me a person", "can I speak to one of our agents",
    "can I speak to that person", "who can I talk to?", "is there any way I can talk to",
    "I'd like to speak with, um, please",
    "can I talk to him about it", "please let me speak to a librarian",  # a misheard person
    "can I talk to my account manager",
    "get me a billing agent", "I want a customer care specialist",  # what they do, named
    "get me an order operator",  # "operator" as a recogniser split it
    "is there someone that I can talk to", "is there anyone here I can speak with",
    "I have a problem, who can I talk to", "I have a question about it, who can I talk to",
])
def test_escape_requests_inside_sentences(text):
    assert is_escape(text, ESCAPES)


@pytest.mark.parametrize("text", [
    "the person at the door took my parcel", "my agent number is 4512",
    "I spoke to an agent yesterday", "the delivery person left it next door",
    "the representative told me I would get a refund", "I have an agent number",
    "I don't want to talk to a person", "I need the person who signed for it",
    "a personal question", "someone stole my package", "order status",
    "no need to talk to a person", "I can't talk to a person right now",
    "I don't want to talk to", "what can I talk to you about", "I talked to",
    "I was billed for somebody I need to talk about", "for somebody I need to talk now",
    "can I talk to you about my bill", "I talked to the driver", "I can't talk to it",
    "the courier said to talk to the depot",
    "I need to talk to my payment details",  # the caller's own things: misheard, no request
    "I need the delivery person to come back", "I don't want a billing agent",
    "can I have an agent number", "can I have a representative number from the letter",
    "I need my agent's name", "could I get the operator code",  # a thing, not a person
    "I was billed for something I need to talk to",  # a thing is talked to
    "my agent numbering so far speak to it",  # someone else is talked to
])
def test_mentions_of_people_are_not_escape_requests(text):
    assert not is_escape(text, ESCAPES)


@pytest.mark.parametrize(("text", "names"), [
    ("get me an operator", True), ("connect me to customer service", True),
    ("transfer me please", True), ("a real person please", True), ("agent", True),
    ("I'd like to speak to someone please", False), ("can I talk to somebody", False),
    ("is there any one I can talk to", False), ("who can I talk to", False),
])
def test_a_request_names_whom_or_only_someone(text, names):
    assert is_escape(text, ESCAPES)
    assert names_whom(text, ESCAPES) is names


def test_escape_words_of_another_flow_follow_the_same_rules():
    assert is_escape("pharmacist please", ["pharmacist"])
    assert is_escape("can I talk to the pharmacist", ["pharmacist"])
    assert not is_escape("the pharmacist said it was ready", ["pharmacist"])
    assert is_escape("I need to speak to someone", ["pharmacist"])  # the general rule


@pytest.mark.parametrize("node,text,intent", [
    ("main_menu", "I'm calling about my order", "order_status"),
    ("main_menu", "where's my package", "order_status"),
    ("main_menu", "I have a question about my bill", "billing"),
    ("main_menu", "I was charged twice", "billing"),
    ("main_menu", "um, I'd like to check my orders", "order_status"),
    ("main_menu", "my bills are wrong", "billing"),
    ("main_menu", "press two", "billing"),
    ("main_menu", "one please", "order_status"),
    ("anything_else", "yeah I'd like to check another order", "another_order"),
    ("anything_else", "no thanks, that's all", "done"),
    ("anything_else", "yes please", "more"),
    ("order_not_found", "yes, let me try another number", "retry"),
    ("main_menu", "I didn't get my refund", "billing"),  # complaints come with negations
    ("main_menu", "I was billed for something I didn't order", "billing"),  # "order": a verb
    ("main_menu", "not billing, order status", "order_status"),
])
def test_menu_sentences(node, text, intent):
    assert match_intent(text, *menu(node)) == intent


@pytest.mark.parametrize("node,text", [
    ("main_menu", "I want to check my order and pay my bill"),  # two intents: ask again
    ("main_menu", "the weather is nice today"),
    ("main_menu", "I have 2 questions"),
    ("anything_else", "what time do you close"),
    ("anything_else", "no, my order is fine"),  # a no with a request: ask again
    ("order_not_found", "no, I don't have another number"),
    ("main_menu", "I didn't order this"),  # a complaint, but about what?
])
def test_sentences_that_must_not_be_taken(node, text):
    assert match_intent(text, *menu(node)) is None


def test_intent_ties_and_whole_words():
    assert match_intent("where is my order", INTENTS, KEYS) == "order"
    assert match_intent("I think my bill is wrong", INTENTS, KEYS) == "billing"
    assert match_intent("order and bill", INTENTS, KEYS) is None  # two intents: ambiguous
    assert match_intent("bills", INTENTS, KEYS) == "billing"  # plural folded
    assert match_intent("billboard", INTENTS, KEYS) is None  # whole words only
    assert match_intent("two", INTENTS, KEYS) == "billing"  # a spoken menu key
    assert match_intent("", INTENTS, KEYS) is None


def test_find_phrase_whole_words():
    escape = ["agent", "person", "speak to someone"]
    assert find_phrase("can I speak to someone please", escape) == "speak to someone"
    assert find_phrase("a personal question", escape) is None
    assert contains_phrase("I was charged twice", "charge")
    assert not contains_phrase("is it here", "be")  # no folding across words


# What faster-whisper tiny.en wrote for espeak-ng renderings of corpus sentences (tuning
# sentences, tuning voices), with what each must give at its point of the default flow.
@pytest.mark.parametrize("node,text,want", [
    ("main_menu", "Is there any one I can talk to?", "escape"),
    ("anything_else", "Yes, can I speak to an agent, come out, something else?", "escape"),
    ("main_menu", "I'd like to come out of my account.", "billing"),
    ("main_menu", "I can't wait to know about my bills.", "billing"),
    ("main_menu", "Order status, clean.", "order_status"),
    ("main_menu", "My name is in the travel agent.", None),
    ("main_menu", "Sorry, I think I nailed the wrong number.", None),
    ("anything_else", "No, nice oil, thanks.", "done"),
    ("order_not_found", "No, I don't have a number one.", "give_up"),
])
def test_what_a_recogniser_wrote(node, text, want):
    intents, keys = menu(node)
    if want == "escape":
        assert is_escape(text, ESCAPES)
    else:
        assert not is_escape(text, ESCAPES)
        assert match_intent(text, intents, keys) == want


@pytest.mark.parametrize("text,digits", [
    ("4 5, 1, 2", "4512"), ("It's 12 34.", "1234"), ("My order done, we're in 4 5 1 2,", "4512"),
])
def test_digits_as_a_recogniser_wrote_them(text, digits):
    assert spoken_digits(text) == digits
