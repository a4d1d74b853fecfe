"""A whole call through CallDriver: Twilio-shaped messages on a virtual clock, the real default
flow, the real pocketsphinx engine, the real TTS, real recordings (FSDD) and espeak-ng phrases
for words no recording has."""

from __future__ import annotations

import json
import logging

import pytest

from tests.engines import FaultInjectionEngine
from tests.telephony.scripted_line import CALL_SID, STREAM_SID, ScriptedLine
from voicebot.flow.loader import load_flow
from voicebot.records.recorder import MemoryRecorder
from voicebot.settings import EndpointSettings
from voicebot.telephony import media_stream as ms
from voicebot.telephony.driver import CallDeps, CallDriver


def open_call(deps: CallDeps) -> ScriptedLine:
    line = ScriptedLine(CallDriver(deps))
    line.open()
    return line


@pytest.fixture
def recorder() -> MemoryRecorder:
    return MemoryRecorder()


@pytest.fixture
def deps(support_flow, engine, renderer, recorder) -> CallDeps:
    return CallDeps.create(support_flow, engine, renderer, recorder=recorder)


def prompt_kinds(line: ScriptedLine) -> list[str]:
    return [p.kind for p in line.driver.transcript.prompts]


def until_menu_plays(line: ScriptedLine) -> None:
    """Silence until the disclosure has played and the menu prompt is playing."""
    tr = line.driver.transcript
    while tr.prompts[0].t_played is None and not line.driver.finished:
        line.step()
    assert tr.prompts[1].kind == "prompt" and tr.prompts[1].t_played is None


# ------------------------------------------------------------------------ disclosure


def test_disclosure_plays_first_and_other_speech_does_not_interrupt_it(deps, phrase) -> None:
    line = open_call(deps)
    tr = line.driver.transcript
    assert line.kinds()[:2] == ["media", "mark"]  # audio straight away, then its mark
    assert prompt_kinds(line)[:2] == ["disclosure", "prompt"]
    assert tr.prompts[0].node == "main_menu"

    line.silence(0.5)
    line.say(phrase("order status"))  # a menu answer, but over the disclosure
    line.silence(0.5)
    assert line.clears() == []
    assert tr.turns == []
    assert tr.prompts[0].t_played is None and line.playing  # still playing, not cut

    line.until_quiet()
    assert tr.prompts[0].t_played is not None and not tr.prompts[0].barged_in
    assert tr.prompts[1].t_played is not None
    assert not line.driver.finished and tr.outcome is None


@pytest.mark.parametrize("escape", ["agent", "operator"])
def test_an_escape_phrase_during_the_disclosure_transfers_with_reason_keyword(
        deps, phrase, recorder, escape) -> None:
    line = open_call(deps)
    line.silence(1.0)
    line.say(phrase(escape))
    line.silence(0.6)
    tr = line.driver.transcript
    assert len(line.clears()) == 1
    assert tr.prompts[0].barged_in and tr.prompts[0].t_played is None
    assert (tr.outcome, tr.reason, tr.queue) == ("transfer", "keyword", "support")
    assert tr.turns[0].heard == escape and tr.turns[0].during_prompt
    handover = tr.prompts[-1]
    assert handover.kind == "handover" and "support team" in handover.text
    assert tr.turns[0].t_reply == handover.t_sent

    # the call is not closed until the caller has heard why and to whom
    assert not line.driver.finished
    line.until_finished()
    assert line.driver.finished and handover.t_played is not None
    saved = recorder.calls[CALL_SID]
    assert saved.ended and saved.transcript.reason == "keyword"
    assert saved.transcript.context["reason"] == "keyword"


def test_an_escape_phrase_during_the_disclosure_ends_at_the_short_silence(
        support_flow, engine, renderer, phrase) -> None:
    # Asking for a person decides everything: the hand-over starts 150 ms sooner than the
    # usual end of speech would allow.
    ends = {}
    for complete_end_ms in (250, 0):
        deps = CallDeps.create(support_flow, engine, renderer,
                               endpoint=EndpointSettings(complete_end_ms=complete_end_ms))
        line = open_call(deps)
        line.silence(1.0)
        line.say(phrase("operator"))
        said_until = line.t
        line.silence(0.6)
        tr = line.driver.transcript
        assert (tr.outcome, tr.reason) == ("transfer", "keyword")
        ends[complete_end_ms] = tr.turns[0].t_end - said_until
    assert ends[0] - ends[250] == pytest.approx(0.15, abs=0.021)


def test_key_zero_during_the_disclosure_transfers_with_reason_dtmf(deps) -> None:
    line = open_call(deps)
    line.silence(0.4)
    line.press("0")
    tr = line.driver.transcript
    assert line.kinds()[-3:] == ["clear", "media", "mark"]  # cut, then the hand-over prompt
    assert (tr.outcome, tr.reason, tr.queue) == ("transfer", "dtmf", "support")
    assert tr.turns[0].kind == "dtmf" and tr.turns[0].heard == "0"
    line.until_finished()
    assert line.driver.finished


def test_the_hand_over_prompt_plays_to_the_end(deps, phrase) -> None:
    line = open_call(deps)
    line.silence(0.4)
    line.press("0")
    handover = line.driver.transcript.prompts[-1]
    line.silence(0.3)
    line.press("1")  # keys and speech over the hand-over change nothing
    line.say(phrase("order status"))
    assert not line.driver.finished and len(line.clears()) == 1
    line.until_finished()
    tr = line.driver.transcript
    assert handover.t_played is not None and not handover.barged_in
    assert [t.heard for t in tr.turns] == ["0"] and tr.reason == "dtmf"


def test_other_keys_during_the_disclosure_are_ignored(deps) -> None:
    line = open_call(deps)
    line.silence(0.4)
    line.press("2")
    assert line.clears() == [] and line.driver.transcript.turns == []


# ------------------------------------------------------------------------ barge-in, keys


def test_speech_during_the_menu_prompt_barges_in(deps, phrase) -> None:
    line = open_call(deps)
    until_menu_plays(line)
    line.silence(0.6)
    barge_at = line.t
    line.say(phrase("billing", voice="en-gb"))
    line.silence(0.8)
    tr = line.driver.transcript
    assert len(line.clears()) == 1 and line.clears()[0] > barge_at
    assert tr.prompts[1].barged_in and tr.prompts[1].t_played is None
    turn = tr.turns[0]
    assert turn.kind == "speech" and turn.during_prompt and turn.node == "main_menu"
    assert barge_at < turn.t_start < turn.t_end
    # what was understood is the engine's business; the caller got an answer right away
    assert turn.t_reply is not None and turn.t_reply >= turn.t_end


def test_a_key_during_the_menu_prompt_barges_in_and_navigates(deps) -> None:
    line = open_call(deps)
    until_menu_plays(line)
    line.silence(0.4)
    line.press("1")
    tr = line.driver.transcript
    assert len(line.clears()) == 1
    assert tr.turns[0].kind == "dtmf" and tr.turns[0].intent == "order_status"
    assert tr.prompts[-1].node == "ask_order_number"


def test_a_key_the_flow_ignores_leaves_the_bot_listening(deps, support_flow) -> None:
    line = open_call(deps)
    line.until_quiet()
    line.press("#")  # nothing to the menu: the flow lets it pass
    tr = line.driver.transcript
    assert [t.heard for t in tr.turns] == ["#"] and not line.driver.finished
    line.silence(support_flow.policy.no_input_timeout + 0.5)
    # still listening: the silence is a no-input turn with a reprompt, not dead air
    assert [t.kind for t in tr.turns] == ["dtmf", "no_input"]
    assert tr.prompts[-1].kind == "reprompt"


def test_order_status_by_keys_looks_up_and_says_goodbye(deps, recorder) -> None:
    line = open_call(deps)
    line.until_quiet()
    line.press("1")  # order status
    line.until_quiet()
    for key in "4512":
        line.press(key)
        line.silence(0.2)
    line.until_quiet()  # "I heard 4 5 1 2. Is that right?"
    assert line.driver.transcript.prompts[-1].kind == "confirm"
    line.press("1")  # yes
    line.until_quiet()
    tr = line.driver.transcript
    assert any("shipped" in p.text for p in tr.prompts)  # the lookup's answer was spoken
    line.press("9")  # nothing else
    line.until_finished()
    assert line.driver.finished
    assert (tr.outcome, tr.reason) == ("hangup", "completed")
    assert tr.prompts[-1].kind == "goodbye" and tr.prompts[-1].t_played is not None
    assert [t.heard for t in tr.turns] == ["1", "4512", "1", "9"]
    assert tr.path[:3] == ["main_menu", "ask_order_number", "find_order"]
    assert recorder.calls[CALL_SID].ended


def test_zero_inside_a_keyed_order_number_is_a_digit_not_the_escape(deps) -> None:
    line = open_call(deps)
    line.until_quiet()
    line.press("1")
    line.until_quiet()
    for key in "3079":
        line.press(key)
        line.silence(0.2)
    tr = line.driver.transcript
    assert tr.outcome is None and [t.heard for t in tr.turns] == ["1", "3079"]
    assert tr.prompts[-1].kind == "confirm"


def test_a_partial_keyed_answer_is_taken_after_a_pause(deps) -> None:
    line = open_call(deps)
    line.until_quiet()
    line.press("1")
    line.until_quiet()
    line.press("4")
    line.press("5")
    line.silence(6.0)  # the caller stops keying
    tr = line.driver.transcript
    assert [t.heard for t in tr.turns] == ["1", "45"]
    assert tr.prompts[-1].kind == "reprompt"  # two digits are not an order number


def say_digits(line: ScriptedLine, digit_audio, digits: str, speaker: str) -> float:
    """Say the digits one by one (FSDD recordings) with 0.6 s pauses; returns when the last
    digit's audio ended."""
    end = 0.0
    for digit in digits:
        line.say(digit_audio(int(digit), speaker=speaker))
        end = line.t
        line.silence(0.6)  # a pause between digits does not end a spoken number
    return end


def test_spoken_digits_from_real_recordings_fill_the_order_number(deps, digit_audio) -> None:
    line = open_call(deps)
    line.until_quiet()
    line.press("1")
    line.until_quiet()
    said_until = say_digits(line, digit_audio, "4512", "theo")
    line.silence(2.0)
    line.until_quiet()
    tr = line.driver.transcript
    spoken = [t for t in tr.turns if t.kind == "speech"]
    assert len(spoken) == 1 and spoken[0].node == "ask_order_number"
    assert spoken[0].heard == "four five one two" and spoken[0].confidence >= 0.5
    # The pauses between digits did not end it; 1.5 s of silence did.
    assert spoken[0].t_end - said_until == pytest.approx(1.5, abs=0.1)
    assert tr.prompts[-1].kind == "confirm"


def test_a_spoken_number_never_has_more_digits_than_the_node_wants(deps, digit_audio) -> None:
    # The order number has four digits, so the recognizer may hear at most four: a digit
    # loop inserted extras ("four five one" heard as "four five four oh one").
    line = open_call(deps)
    line.until_quiet()
    line.press("1")
    line.until_quiet()
    say_digits(line, digit_audio, "451", "jackson")
    line.silence(2.0)
    line.until_quiet()
    spoken = [t for t in line.driver.transcript.turns if t.kind == "speech"]
    assert len(spoken) == 1 and spoken[0].heard
    assert len(spoken[0].heard.split()) <= 4


def test_an_escape_phrase_while_collecting_digits_transfers_at_the_usual_end_silence(
        deps, phrase) -> None:
    line = open_call(deps)
    line.until_quiet()
    line.press("1")
    line.until_quiet()
    line.say(phrase("operator"))  # ("agent" reads as "eight ..." in some voices, here)
    said_until = line.t
    line.silence(2.0)
    line.until_quiet()
    tr = line.driver.transcript
    assert tr.outcome == "transfer" and tr.reason == "keyword"
    assert tr.turns[-1].t_end - said_until < 1.0  # not the 1.5 s a number gets


# ------------------------------------------------------------------------ end of a turn


def menu_answer_end(deps: CallDeps, audio: bytes) -> tuple[str, float]:
    """What the main menu heard (confidently), and how long after the caller's audio the
    turn ended."""
    line = open_call(deps)
    line.until_quiet()
    line.say(audio)
    said_until = line.t
    line.silence(1.0)
    line.until_quiet()
    turn = next(t for t in line.driver.transcript.turns if t.kind == "speech")
    assert turn.confidence >= 0.5
    return turn.heard, turn.t_end - said_until


def test_a_menu_answer_that_decides_the_turn_ends_at_the_short_silence(
        support_flow, engine, renderer, digit_audio) -> None:
    # "one" is order status's key word, and nothing longer in the menu means anything else:
    # the turn ends at 250 ms of silence instead of the usual 400 ms.
    audio = digit_audio(1, speaker="george", index=12)
    ends = {}
    for complete_end_ms in (250, 0):
        deps = CallDeps.create(support_flow, engine, renderer,
                               endpoint=EndpointSettings(complete_end_ms=complete_end_ms))
        heard, ends[complete_end_ms] = menu_answer_end(deps, audio)
        assert heard == "one"
    assert ends[0] - ends[250] == pytest.approx(0.15, abs=0.021)


def test_an_answer_that_may_grow_into_another_waits_the_usual_silence(
        tmp_path, engine, renderer, phrase) -> None:
    # "billing" may still become "billing address", another answer: it gets the usual 400 ms.
    (tmp_path / "flow.yaml").write_text(ADDRESS_FLOW)
    flow = load_flow(tmp_path / "flow.yaml")
    ends = {}
    for complete_end_ms in (250, 0):
        deps = CallDeps.create(flow, engine, renderer,
                               endpoint=EndpointSettings(complete_end_ms=complete_end_ms))
        heard, ends[complete_end_ms] = menu_answer_end(deps, phrase("billing"))
        assert heard == "billing"
    assert ends[250] == ends[0]


ADDRESS_FLOW = """
name: address
version: "1"
start: main_menu
disclosure: You are talking to an automated assistant. Say agent for a person.
queues: {support: our team}
fallback_queue: support
policy: {escape_phrases: [agent], escape_dtmf: "0"}
nodes:
  main_menu:
    kind: menu
    prompt: Say billing, or billing address.
    intents:
      billing: {phrases: [billing], next: done}
      address: {phrases: [billing address], next: done}
  done: {kind: hangup, prompt: Goodbye.}
"""


# ------------------------------------------------------------------------ no-input timer


def test_no_input_timer_starts_when_the_mark_comes_back(deps, support_flow) -> None:
    timeout = support_flow.policy.no_input_timeout
    line = open_call(deps)
    line.hold_marks = True  # Twilio's playback lags: the audio is sent but not yet heard
    sent_at = line.t
    line.silence(timeout + 3.0)
    tr = line.driver.transcript
    assert line.t - sent_at > timeout and tr.turns == []  # not timed from sending
    line.hold_marks = False
    line.until_quiet()
    heard_at = tr.prompts[1].t_played
    assert heard_at is not None
    line.silence(timeout - 1.0)
    assert tr.turns == []
    line.silence(2.0)
    assert [t.kind for t in tr.turns] == ["no_input"]
    assert tr.turns[0].t_start >= heard_at + timeout
    assert tr.prompts[-1].kind == "reprompt"


def test_lost_marks_do_not_hang_the_call(deps, support_flow) -> None:
    line = open_call(deps)
    line.hold_marks = True  # the marks never come back
    line.silence(60.0)
    tr = line.driver.transcript
    # the session stops waiting for them and the no-input path carries on to a person
    assert [t.kind for t in tr.turns][:1] == ["no_input"]


# ------------------------------------------------------------------------ bad messages


def test_malformed_messages_are_logged_and_skipped(deps, caplog) -> None:
    driver = CallDriver(deps)
    line = ScriptedLine(driver)
    caplog.set_level(logging.WARNING, logger="voicebot.telephony.driver")
    assert line.send(ms.twilio_media(STREAM_SID, b"\xff" * 160, 1, 0)) == []  # before start
    line.open()
    def msg(media: dict | None, event: str = "media") -> str:
        body: dict = {"event": event, "streamSid": STREAM_SID}
        if media is not None:
            body["media"] = media
        return json.dumps(body)

    for bad in ('{"event": "media", "streamSid": "MZ',  # bad JSON
                msg(None, "transcription"),  # unknown event
                msg({"payload": "@@@@"}),  # bad base64
                msg({"payload": "/w="}),  # odd payload length
                ms.twilio_media("MZ-someone-else", b"\xff" * 160, 2, 20)):
        assert line.send(bad) == []
        line.step()
    assert driver.bad_messages == 6
    assert not driver.finished and driver.transcript.outcome is None
    reasons = [r for r in caplog.records if r.getMessage() == "stream.bad_message"]
    assert len(reasons) == 6
    assert all(r.call_sid == CALL_SID for r in reasons[1:])
    assert "before 'start'" in reasons[0].reason
    # the call goes on as if nothing happened
    line.press("0")
    assert driver.transcript.reason == "dtmf"


def test_odd_mu_law_payloads_are_buffered_into_whole_frames(deps) -> None:
    line = open_call(deps)
    # 3 bytes then 317: together two whole 20 ms frames; nothing is lost or misaligned
    for part in (b"\xff" * 3, b"\xff" * 317):
        line.send(ms.twilio_media(STREAM_SID, part, 1, 0))
    assert line.driver.bad_messages == 0 and not line.driver.finished


# ------------------------------------------------------------------------ fail safe


def test_an_engine_exception_hands_the_caller_to_a_person(support_flow, engine, renderer,
                                                          recorder, phrase) -> None:
    deps = CallDeps.create(support_flow, FaultInjectionEngine(engine), renderer,
                           recorder=recorder)
    line = open_call(deps)
    line.until_quiet()
    line.say(phrase("order status"))
    line.silence(0.5)
    tr = line.driver.transcript
    assert (tr.outcome, tr.reason, tr.queue) == ("transfer", "error", "support")
    assert tr.prompts[-1].kind == "handover"
    line.until_finished()
    assert line.driver.finished and tr.prompts[-1].t_played is not None
    assert recorder.calls[CALL_SID].transcript.reason == "error"


class FailingPromptRenderer:
    """Honest fault injection: the real renderer, failing for one prompt text."""

    def __init__(self, real, fail_on: str) -> None:
        self.real = real
        self.fail_on = fail_on

    def render(self, text: str) -> bytes:
        if self.fail_on in text:
            raise OSError("injected TTS fault")
        return self.real.render(text)


def test_a_tts_failure_hands_the_caller_to_a_person(support_flow, engine, renderer) -> None:
    failing = FailingPromptRenderer(renderer, "How can I help")
    line = open_call(CallDeps.create(support_flow, engine, failing))
    tr = line.driver.transcript
    assert (tr.outcome, tr.reason) == ("transfer", "error")
    assert [p.kind for p in tr.prompts][-1] == "handover"
    line.until_finished()
    assert line.driver.finished


class BrokenRecorder:
    def __init__(self) -> None:
        self.calls = 0

    def save(self, transcript, *, from_number=None, ended=False) -> None:
        self.calls += 1
        raise OSError("disk full")


def test_a_raising_recorder_does_not_break_the_call(support_flow, engine, renderer) -> None:
    broken = BrokenRecorder()
    line = open_call(CallDeps.create(support_flow, engine, renderer, recorder=broken))
    line.until_quiet()
    line.press("0")
    line.until_finished()
    assert line.driver.finished and line.driver.transcript.reason == "dtmf"
    assert broken.calls >= 2


def test_a_dropped_stream_is_recorded_as_a_transfer_with_reason_error(deps,
                                                                      recorder) -> None:
    line = open_call(deps)
    line.silence(1.0)
    line.driver.stream_dropped(line.t)
    tr = line.driver.transcript
    assert line.driver.finished
    assert (tr.outcome, tr.reason, tr.queue) == ("transfer", "error", "support")
    saved = recorder.calls[CALL_SID]
    assert saved.ended and saved.transcript.outcome == "transfer"
    assert saved.from_number is None  # the test line sent no 'from' parameter


def test_a_stop_from_twilio_is_a_caller_hang_up(support_flow, engine, renderer,
                                                recorder) -> None:
    deps = CallDeps.create(support_flow, engine, renderer, recorder=recorder)
    line = ScriptedLine(CallDriver(deps), params={"from": "+15550100", "flow": "support"})
    line.open()
    line.silence(0.5)
    line.stop()
    tr = line.driver.transcript
    assert line.driver.finished and (tr.outcome, tr.reason) == ("hangup", "caller_hangup")
    saved = recorder.calls[CALL_SID]
    assert saved.ended and saved.from_number == "+15550100"  # for the store to hash



def test_the_transport_can_say_when_a_reply_really_left(deps) -> None:
    """A live step takes wall time (decode, render) the virtual clock does not see: the
    transport reports when the step's messages went out, and the turn answered in that
    step keeps that time as its reply; steps that answered nothing change no turn."""
    line = open_call(deps)
    line.until_quiet()
    line.press("1")  # the menu's answer: "What is your order number?" goes out now
    turn = line.driver.transcript.turns[0]
    assert turn.t_reply == pytest.approx(line.t)  # the virtual clock did not move
    line.driver.replies_sent(line.t + 0.35)  # the step took 0.35 s on the wall clock
    assert turn.t_reply == pytest.approx(line.t + 0.35)
    line.step()
    line.driver.replies_sent(line.t + 2.0)  # a later step: no turn was answered in it
    assert turn.t_reply == pytest.approx(line.t - 0.02 + 0.35)
