"""The call session's small pure parts on their own: the phase table, playback, keys."""

from __future__ import annotations

import itertools

import pytest

from voicebot.records.transcript import PromptRecord
from voicebot.telephony.session.keys import INTER_DIGIT_S, KeyCollector
from voicebot.telephony.session.phase import CallPhase, Phase, PhaseError, Step
from voicebot.telephony.session.playback import MARK_GRACE_S, Playback

# ----------------------------------------------------------------------------- phase

P, S = Phase, Step
# Written out again here, so a change to the table is a deliberate change to this list.
LEGAL = {
    (P.NOT_STARTED, S.START): P.SPEAKING,
    (P.SPEAKING, S.ASK): P.LISTENING,
    (P.SPEAKING, S.TURN): P.SPEAKING,  # an escape key over a prompt that asks nothing
    (P.SPEAKING, S.LOOKUP): P.AWAITING_LOOKUP,
    (P.SPEAKING, S.DECIDE): P.CLOSING,
    (P.SPEAKING, S.FAULT): P.FAULTED,
    (P.SPEAKING, S.END): P.CLOSED,
    (P.LISTENING, S.ARM): P.WAITING,
    (P.LISTENING, S.INPUT): P.LISTENING,
    (P.LISTENING, S.TURN): P.SPEAKING,
    (P.LISTENING, S.FAULT): P.FAULTED,
    (P.LISTENING, S.END): P.CLOSED,
    (P.WAITING, S.ARM): P.WAITING,  # an utterance that was not a turn restarts the timer
    (P.WAITING, S.INPUT): P.LISTENING,
    (P.WAITING, S.TURN): P.SPEAKING,
    (P.WAITING, S.FAULT): P.FAULTED,
    (P.WAITING, S.END): P.CLOSED,
    (P.AWAITING_LOOKUP, S.TURN): P.AWAITING_LOOKUP,  # the escape key while data is read
    (P.AWAITING_LOOKUP, S.LOOKUP_DONE): P.SPEAKING,
    (P.AWAITING_LOOKUP, S.DECIDE): P.CLOSING,
    (P.AWAITING_LOOKUP, S.FAULT): P.FAULTED,
    (P.AWAITING_LOOKUP, S.END): P.CLOSED,
    (P.FAULTED, S.DECIDE): P.CLOSING,
    (P.FAULTED, S.CLOSE): P.CLOSED,  # the hand-over itself broke
    (P.FAULTED, S.END): P.CLOSED,
    (P.CLOSING, S.CLOSE): P.CLOSED,
    (P.CLOSING, S.END): P.CLOSED,
}


def phase_in(state: Phase) -> CallPhase:
    phase = CallPhase()
    phase.state = state
    return phase


@pytest.mark.parametrize(("start", "step"), sorted(LEGAL, key=str))
def test_every_legal_step_leads_where_the_table_says(start: Phase, step: Step) -> None:
    phase = phase_in(start)
    assert phase.process(step) is LEGAL[start, step]
    assert phase.state is LEGAL[start, step]


def test_every_other_step_is_an_error_that_names_step_and_phase() -> None:
    illegal = [pair for pair in itertools.product(Phase, Step) if pair not in LEGAL]
    assert (P.CLOSED, S.START) in illegal and (P.CLOSING, S.TURN) in illegal
    for start, step in illegal:
        phase = phase_in(start)
        with pytest.raises(PhaseError, match=f"{step.name}.*{start.name}"):
            phase.process(step)
        assert phase.state is start  # an illegal step changes nothing


def test_a_whole_call_walks_the_table() -> None:
    phase = CallPhase()
    walk = [S.START, S.ASK, S.ARM, S.INPUT, S.TURN, S.LOOKUP, S.LOOKUP_DONE, S.ASK, S.TURN,
            S.DECIDE, S.CLOSE]
    assert [phase.process(step) for step in walk][-1] is P.CLOSED
    with pytest.raises(PhaseError):
        phase.process(S.ASK)  # nothing happens once closed

# ----------------------------------------------------------------------------- playback


def prompt(text: str = "Hello.") -> PromptRecord:
    return PromptRecord(text=text, node="n", kind="prompt", t_sent=0.0)


def test_a_mark_means_its_prompt_and_all_before_it_have_played() -> None:
    playback = Playback()
    first, second, third = prompt("a"), prompt("b"), prompt("c")
    marks = [playback.send(r, interruptible=True) for r in (first, second, third)]
    assert len(set(marks)) == 3 and playback.current.record is first
    assert not playback.played("not-ours", 1.0)
    assert playback.played(marks[1], 2.0)
    assert (first.t_played, second.t_played, third.t_played) == (2.0, 2.0, None)
    assert playback.current.record is third and playback.playing
    assert not playback.played(marks[0], 3.0)  # already played
    assert playback.played(marks[2], 4.0) and not playback.playing


def test_a_mark_that_never_comes_back_is_overdue_after_the_grace() -> None:
    playback = Playback()
    first, second = playback.send(prompt(), True), playback.send(prompt(), True)
    playback.queued(first, 3.0, 10.0)  # plays 10..13
    playback.queued(second, 2.0, 10.5)  # queued behind it: 13..15
    assert playback.overdue(13.0 + MARK_GRACE_S) is None
    assert playback.overdue(13.1 + MARK_GRACE_S) == first
    assert playback.overdue(15.1 + MARK_GRACE_S) == second  # the last late one
    assert Playback().overdue(1000.0) is None


def test_clear_marks_what_was_cut_and_empties_playback() -> None:
    playback = Playback()
    records = [prompt(), prompt()]
    for record in records:
        playback.send(record, interruptible=True)
    assert playback.clear(barged_in=True)
    assert all(r.barged_in for r in records) and not playback.playing
    assert not playback.clear(barged_in=True)  # nothing left to clear


def test_a_failed_prompt_is_forgotten_alone() -> None:
    playback = Playback()
    kept, failed = playback.send(prompt("a"), True), playback.send(prompt("b"), False)
    assert playback.failed(failed) and not playback.failed(failed)
    assert playback.current.mark == kept and playback.current.interruptible
    playback.forget()
    assert not playback.playing and not playback.current


# ----------------------------------------------------------------------------- keys

def test_a_one_key_node_takes_each_key_at_once() -> None:
    keys = KeyCollector()
    answer = keys.press("1", 5.0, max_keys=1, terminator="#", during_prompt=True)
    assert (answer.keys, answer.t_start, answer.during_prompt) == ("1", 5.0, True)
    assert not keys.collecting


def test_keys_collect_up_to_the_length() -> None:
    keys = KeyCollector()
    for i, digit in enumerate("451"):
        assert keys.press(digit, 1.0 + i, max_keys=4, terminator="#",
                          during_prompt=i == 0) is None
        assert keys.collecting
    answer = keys.press("2", 4.0, max_keys=4, terminator="#", during_prompt=False)
    assert (answer.keys, answer.t_start, answer.during_prompt) == ("4512", 1.0, True)
    assert not keys.collecting


def test_the_terminator_ends_a_short_answer_and_alone_ends_nothing() -> None:
    keys = KeyCollector()
    assert keys.press("#", 1.0, max_keys=4, terminator="#", during_prompt=False) is None
    assert not keys.collecting
    keys.press("7", 2.0, max_keys=4, terminator="#", during_prompt=False)
    answer = keys.press("#", 2.5, max_keys=4, terminator="#", during_prompt=False)
    assert (answer.keys, answer.t_start) == ("7", 2.0)


def test_a_pause_after_some_keys_delivers_them() -> None:
    keys = KeyCollector()
    keys.press("4", 1.0, max_keys=4, terminator="#", during_prompt=False)
    keys.press("5", 2.0, max_keys=4, terminator="#", during_prompt=False)
    assert keys.due(2.0 + INTER_DIGIT_S - 0.01) is None
    answer = keys.due(2.0 + INTER_DIGIT_S)
    assert (answer.keys, answer.t_start) == ("45", 1.0)
    assert keys.due(100.0) is None and not keys.collecting


def test_reset_forgets_the_keys() -> None:
    keys = KeyCollector()
    keys.press("4", 1.0, max_keys=4, terminator="#", during_prompt=True)
    keys.reset()
    assert not keys.collecting and keys.due(100.0) is None
    answer = keys.press("9", 50.0, max_keys=1, terminator="#", during_prompt=False)
    assert (answer.t_start, answer.during_prompt) == (50.0, False)
