"""CallSession's decisions about what the caller said, with a scripted engine.

The subject here is what the session does with what was heard (barge-in, speech over the
disclosure, where a turn ends, faults, keys): a ScriptedEngine says what each utterance was.
The audio is a real recording, so the real Endpointer finds real speech in it. Recognition
itself is tested with the real engines (tests/speech, test_call_driver).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.engines import FaultInjectionEngine, ScriptedEngine, heard
from voicebot.flow.events import Listen
from voicebot.flow.interpreter import FlowSession
from voicebot.settings import EndpointSettings
from voicebot.speech.audio import frames
from voicebot.speech.turn_end import turn_grammar
from voicebot.speech.types import Engine
from voicebot.telephony.session import (
    AudioFrame,
    CallSession,
    ClearAudio,
    KeyPressed,
    MarkPlayed,
    PlayPrompt,
    RunLookup,
    StreamStarted,
)

FRAME_S = 0.02


class Call:
    """Feeds one CallSession events on a virtual clock, as the driver would. Prompts play
    until `prompts_played` echoes their marks."""

    def __init__(self, flow, engine: Engine, **settings: int) -> None:
        self.session = CallSession(flow, engine, EndpointSettings(**settings))
        self.t = 0.0
        self.actions: list = []
        self.marks: list[str] = []  # of prompts still playing
        self.send(StreamStarted(0.0, "CAscripted"))

    @property
    def transcript(self):
        return self.session.transcript

    def send(self, event) -> list:
        out = self.session.handle(event)
        self.actions += out
        for action in out:
            if isinstance(action, PlayPrompt):
                self.marks.append(action.mark)
            elif isinstance(action, ClearAudio):
                self.marks.clear()
        return out

    def prompts_played(self, count: int | None = None) -> None:
        for mark in self.marks[:count]:
            self.send(MarkPlayed(self.t, mark))
        del self.marks[:count]

    def audio(self, pcm: bytes) -> None:
        for frame in frames(pcm):
            self.t = round(self.t + FRAME_S, 6)
            self.send(AudioFrame(self.t, frame))

    def silence(self, seconds: float) -> None:
        self.audio(b"\x00" * int(seconds * 16000))

    def say(self, pcm: bytes) -> float:
        """The caller speaks, then is silent; returns when their audio ended."""
        self.audio(pcm)
        said_until = self.t
        self.silence(2.0)
        return said_until

    def key(self, digit: str) -> None:
        self.t = round(self.t + 0.2, 6)
        self.send(KeyPressed(self.t, digit))


@pytest.fixture
def speech(digit_audio: Callable[..., bytes]) -> bytes:
    """A real utterance (FSDD "one"); the scripted engine decides what it was."""
    return digit_audio(1, speaker="george", index=12)


@pytest.fixture(scope="module")
def menu(support_flow) -> Listen:
    return next(a for a in FlowSession(support_flow).start() if isinstance(a, Listen))


def test_an_answer_over_the_menu_prompt_barges_in(support_flow, speech, menu) -> None:
    engine = ScriptedEngine("billing")
    call = Call(support_flow, engine)
    call.prompts_played(1)  # the disclosure; the menu prompt plays on
    call.silence(0.5)
    call.say(speech)
    assert ClearAudio() in call.actions
    turn = call.transcript.turns[0]
    assert (turn.heard, turn.during_prompt, turn.intent) == ("billing", True, "billing")
    assert call.transcript.prompts[1].barged_in
    assert engine.grammars == [turn_grammar(menu)]
    assert (call.transcript.outcome, call.transcript.queue) == ("transfer", "billing")


def test_speech_over_the_disclosure_counts_only_as_a_way_out(support_flow, speech,
                                                            menu) -> None:
    engine = ScriptedEngine("billing", heard("agent", 0.3))
    call = Call(support_flow, engine)  # the disclosure plays throughout
    call.say(speech)
    assert call.transcript.turns == [] and ClearAudio() not in call.actions
    over = engine.grammars[0]  # the escape phrases, and what the menu may hear next
    assert {"agent", "billing"} <= set(over.phrases) and not over.allow_digits
    call.say(speech)
    tr = call.transcript
    assert ClearAudio() in call.actions and tr.prompts[0].barged_in
    assert (tr.outcome, tr.reason) == ("transfer", "keyword")
    assert tr.turns[0].during_prompt and tr.turns[0].heard == "agent"


@pytest.mark.parametrize("early_decode", [True, False])
def test_only_an_engine_that_decodes_early_ends_an_answer_at_the_short_silence(
        support_flow, speech, early_decode) -> None:
    ends = {}
    for complete_end_ms in (250, 0):
        engine = ScriptedEngine("order status", early_decode=early_decode)
        call = Call(support_flow, engine, complete_end_ms=complete_end_ms)
        call.prompts_played()
        said_until = call.say(speech)
        ends[complete_end_ms] = call.transcript.turns[0].t_end - said_until
        assert call.transcript.turns[0].intent == "order_status"
        if early_decode:
            assert engine.recognizers[0].prefetched  # the decode started at the pause
    assert (ends[250] < ends[0]) is early_decode


def test_a_failing_early_decode_costs_only_its_head_start(support_flow, speech) -> None:
    engine = FaultInjectionEngine(ScriptedEngine("billing", early_decode=True),
                                  fail_in=("prefetch",))
    call = Call(support_flow, engine)
    call.prompts_played()
    call.say(speech)
    tr = call.transcript
    assert tr.turns[0].heard == "billing" and (tr.outcome, tr.queue) == ("transfer", "billing")


@pytest.mark.parametrize("step", ["recognizer", "accept", "peek", "finish"])
def test_an_engine_that_breaks_hands_the_caller_to_a_person(support_flow, speech,
                                                            step) -> None:
    engine = FaultInjectionEngine(ScriptedEngine("billing", early_decode=True),
                                  fail_in=(step,))
    call = Call(support_flow, engine)
    call.prompts_played()
    call.say(speech)
    tr = call.transcript
    assert (tr.outcome, tr.reason, tr.queue) == ("transfer", "error", "support")
    assert tr.turns == [] and tr.prompts[-1].kind == "handover"
    call.prompts_played()
    assert call.session.closed


def test_a_person_asked_for_while_reading_a_number_is_heard_at_the_usual_silence(
        support_flow, speech) -> None:
    engine = ScriptedEngine(heard("agent", 0.3), early_decode=True)
    call = Call(support_flow, engine)
    call.prompts_played()
    call.key("1")  # order status: the bot asks for the order number
    call.prompts_played()
    said_until = call.say(speech)
    tr = call.transcript
    assert (tr.outcome, tr.reason) == ("transfer", "keyword")
    assert tr.turns[-1].t_end - said_until < 1.0  # not the 1.5 s a number gets


def test_keys_typed_before_the_call_is_decided_answer_nothing_after(support_flow,
                                                                    speech) -> None:
    engine = ScriptedEngine("agent")
    call = Call(support_flow, engine)
    call.prompts_played()
    call.key("1")
    call.prompts_played()
    call.key("4")
    call.key("5")  # two keys of the order number, then the caller asks for a person
    call.say(speech)
    tr = call.transcript
    assert (tr.outcome, tr.reason) == ("transfer", "keyword")
    turns = len(tr.turns)
    call.silence(6.0)  # longer than the pause that ends a keyed answer
    assert len(tr.turns) == turns


def test_speech_while_data_is_read_is_not_a_turn(support_flow, speech) -> None:
    engine = ScriptedEngine()
    call = Call(support_flow, engine)
    call.prompts_played()
    for digit in "14512":
        call.key(digit)
        call.prompts_played()
    call.key("1")  # "yes, that's right": the bot reads the order
    assert isinstance(call.actions[-1], RunLookup)
    before = len(call.actions)
    call.say(speech)  # over the prompt that says the bot is looking
    assert engine.recognizers == [] and call.actions[before:] == []
    assert [t.kind for t in call.transcript.turns] == ["dtmf"] * 3
