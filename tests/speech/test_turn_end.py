"""What a turn listens for and where it ends (speech.turn_end), on the default flow's turns."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engines import ScriptedEngine
from voicebot.flow.events import Digits, Listen
from voicebot.flow.interpreter import FlowSession
from voicebot.flow.loader import load_flow
from voicebot.settings import EndpointSettings
from voicebot.speech.turn_end import (
    EndSilence,
    end_silence,
    ends_early,
    escape_grammar,
    turn_grammar,
)
from voicebot.speech.types import EarlyDecoder, Grammar, Hypothesis

SUPPORT_FLOW = Path(__file__).resolve().parents[2] / "call_flows" / "support.yaml"
SETTINGS = EndpointSettings()  # 400 ms end, 250 ms complete-answer check, 1.5 s for numbers
ESCAPES = ("agent", "operator")


@pytest.fixture(scope="module")
def turns() -> dict[str, Listen]:
    """The default flow's menu, order number and confirmation turns."""
    session = FlowSession(load_flow(SUPPORT_FLOW))
    menu = next(a for a in session.start() if isinstance(a, Listen))
    number = next(a for a in session.handle(Digits("1")) if isinstance(a, Listen))
    confirm = next(a for a in session.handle(Digits("4512")) if isinstance(a, Listen))
    return {"menu": menu, "number": number, "confirm": confirm}


def said(text: str, confidence: float = 0.9) -> Hypothesis:
    return Hypothesis(text=text, confidence=confidence, in_grammar=bool(text))


def test_a_turn_listens_for_its_phrases_and_digits_only_when_it_collects_a_number(
        turns) -> None:
    menu, number = turn_grammar(turns["menu"]), turn_grammar(turns["number"])
    assert "billing" in menu.phrases and not menu.allow_digits
    assert menu.groups == turns["menu"].groups
    assert number.allow_digits and number.max_digits == turns["number"].max_digits


def test_over_an_unskippable_prompt_the_escapes_and_the_next_answers_are_heard(turns) -> None:
    grammar = escape_grammar(ESCAPES, turns["menu"])
    assert grammar.phrases[:2] == ESCAPES and "billing" in grammar.phrases
    assert len(grammar.phrases) == len(set(grammar.phrases))  # "agent" is in both, once here
    assert grammar.groups[0] == ESCAPES and not grammar.allow_digits
    assert escape_grammar(ESCAPES, None) == Grammar(phrases=ESCAPES, groups=(ESCAPES,),
                                                    escapes=ESCAPES)


def test_a_spoken_number_waits_longer_but_checks_at_the_usual_silence(turns) -> None:
    assert end_silence(turns["number"], SETTINGS) == EndSilence(1500, 400)
    assert end_silence(turns["menu"], SETTINGS) == EndSilence(None, 250)
    assert end_silence(None, SETTINGS) == EndSilence(None, None)
    off = EndpointSettings(complete_end_ms=0, digits_speech_end_ms=300)
    assert end_silence(turns["menu"], off) == EndSilence(None, None)
    assert end_silence(turns["number"], off) == EndSilence(None, None)


def test_an_answer_that_decides_the_menu_ends_it_early(turns) -> None:
    menu = turns["menu"]
    early = {"escape_only": False, "is_escape": False, "escape_threshold": 0.25}
    assert ends_early(menu, said("billing"), **early) == "answer"
    assert ends_early(menu, said("billing", 0.3), **early) is None  # not sure enough
    assert ends_early(menu, said(""), **early) is None
    assert ends_early(menu, said("agent", 0.3), **{**early, "is_escape": True}) == "escape"
    # A sentence before a pause is no complete answer; asking for a person is.
    assert ends_early(menu, said("i have a question about my billing"), **early) is None
    assert ends_early(menu, said("can i speak to a person"),
                      **{**early, "is_escape": True}) == "escape"


def test_a_number_or_speech_over_the_disclosure_ends_early_only_for_an_escape(turns) -> None:
    number, menu = turns["number"], turns["menu"]
    assert ends_early(number, said("agent", 0.3), escape_only=False, is_escape=True,
                      escape_threshold=0.25) == "escape"
    assert ends_early(number, said("agent", 0.2), escape_only=False, is_escape=True,
                      escape_threshold=0.25) is None
    assert ends_early(number, said("four five one two"), escape_only=False, is_escape=False,
                      escape_threshold=0.25) is None  # a number can always go on
    assert ends_early(menu, said("billing"), escape_only=True, is_escape=False,
                      escape_threshold=0.25) is None
    assert ends_early(menu, said("agent"), escape_only=True, is_escape=True,
                      escape_threshold=0.25) == "escape"


def test_which_recognizers_decode_early(ps_engine) -> None:
    grammar = Grammar(phrases=("yes", "no"))
    assert isinstance(ps_engine.recognizer(grammar), EarlyDecoder)
    assert not isinstance(ScriptedEngine().recognizer(grammar), EarlyDecoder)
    assert isinstance(ScriptedEngine(early_decode=True).recognizer(grammar), EarlyDecoder)
