"""When a recognised phrase already decides a turn (so the turn may end at a short silence)."""

from __future__ import annotations

from voicebot.speech.turn_end import decides
from voicebot.speech.types import Grammar, Hypothesis


def said(text: str, confidence: float = 0.9) -> Hypothesis:
    return Hypothesis(text=text, confidence=confidence, in_grammar=bool(text))


MENU = Grammar(
    phrases=("order status", "order", "my order", "one", "billing", "billing address", "agent"),
    groups=(("order status", "order", "my order", "one"), ("billing",), ("billing address",),
            ("agent",)),
)


def test_a_phrase_nothing_longer_could_change_decides_the_turn() -> None:
    assert decides(MENU, said("one"), 0.5)
    assert decides(MENU, said("agent"), 0.5)


def test_a_phrase_that_may_grow_into_the_same_answer_decides_it() -> None:
    # "order" may become "order status": the caller gets the same thing either way.
    assert decides(MENU, said("order"), 0.5)


def test_a_phrase_that_may_grow_into_another_answer_does_not() -> None:
    # "billing" may become "billing address", which means something else.
    assert not decides(MENU, said("billing"), 0.5)
    assert decides(MENU, said("billing address"), 0.5)


def test_a_synonym_may_grow_into_another_answer_as_its_phrase_may() -> None:
    # "Yes, can I speak to an agent about something else?": "yeah" is "yes" (one answer),
    # and "yes" may grow into "yes another order", so a pause after "yeah" must not end it.
    anything_else = Grammar(
        phrases=("yes another order", "order", "yes", "yeah", "something else", "no"),
        groups=(("yes another order", "order"), ("yes", "yeah", "something else"), ("no",)))
    assert not decides(anything_else, said("yeah"), 0.5)
    assert not decides(anything_else, said("yes"), 0.5)
    assert decides(anything_else, said("no"), 0.5)
    assert decides(anything_else, said("something else"), 0.5)


def test_phrases_compare_as_normalised_text() -> None:
    grammar = Grammar(phrases=("That's all", "that's all folks"),
                      groups=(("That's all",), ("that's all folks",)))
    assert not decides(grammar, said("thats all"), 0.5)


def test_an_answer_not_confident_enough_to_be_taken_does_not() -> None:
    assert not decides(MENU, said("one", confidence=0.4), 0.5)
    assert decides(MENU, said("one", confidence=0.4), 0.3)


def test_numbers_and_empty_answers_never_decide() -> None:
    assert not decides(Grammar(allow_digits=True, max_digits=4), said("four five one two"), 0.5)
    assert not decides(MENU, said(""), 0.5)


def test_a_sentence_around_a_phrase_does_not_decide() -> None:
    # An open-vocabulary engine writes what came before a pause: "yes," before "can I speak
    # to an agent", "billing" inside a longer sentence.
    assert not decides(MENU, said("billing please"), 0.5)
    assert not decides(MENU, said("i want to talk to an agent"), 0.5)
