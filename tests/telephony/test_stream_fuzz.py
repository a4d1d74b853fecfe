"""No message may end a call but `stop` (and a closed socket): property-based, on CallDriver.

Each example opens a call on the real default flow (pocketsphinx, TTS), brings it to the
disclosure or to the main menu waiting for an answer, then sends a list of fuzzed messages
(tests/telephony/stream_fuzz.py) at one moment of stream time, so only the messages, never
the passing time, could end it. The real caller input among them (keys, audio, `stop` for
this stream) is left out. The slow test sends at least 10,000 and prints the count.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.telephony.scripted_line import ScriptedLine
from tests.telephony.stream_fuzz import MESSAGES, meaningful
from voicebot.records.recorder import MemoryRecorder
from voicebot.telephony import media_stream as ms
from voicebot.telephony.driver import CallDeps, CallDriver

FUZZ = settings(deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


def _call(deps: CallDeps, at_menu: bool) -> ScriptedLine:
    line = ScriptedLine(CallDriver(deps))
    line.open()
    if at_menu:
        line.until_quiet()  # the disclosure and the menu have played: waiting for an answer
    assert not line.driver.finished
    return line


def _survives(deps: CallDeps, at_menu: bool, texts: list) -> int:
    """Send the non-meaningful `texts`; the call must still be on. Returns how many were
    sent."""
    line = _call(deps, at_menu)
    driver, sent = line.driver, 0
    for text in texts:
        if meaningful(text):
            continue
        driver.receive(text, line.t)
        sent += 1
        assert not driver.finished, f"ended by {text[:200]!r}"
        assert driver.transcript.outcome is None, f"decided by {text[:200]!r}"
    # and the call still works: the caller presses 0 and is handed over
    line.press("0")
    line.until_finished()
    assert (driver.transcript.outcome, driver.transcript.reason) == ("transfer", "dtmf")
    return sent


@pytest.fixture
def deps(support_flow, engine, renderer) -> CallDeps:
    return CallDeps.create(support_flow, engine, renderer, recorder=MemoryRecorder())


@settings(FUZZ, max_examples=25)
@given(at_menu=st.booleans(), texts=st.lists(MESSAGES, min_size=5, max_size=40))
def test_fuzzed_messages_do_not_end_a_call(deps, at_menu, texts) -> None:
    _survives(deps, at_menu, texts)


SENT: list[int] = []


@pytest.mark.slow
@settings(FUZZ, max_examples=200)
@given(at_menu=st.booleans(), texts=st.lists(MESSAGES, min_size=60, max_size=60))
def test_ten_thousand_fuzzed_messages_end_no_call(deps, at_menu, texts) -> None:
    SENT.append(_survives(deps, at_menu, texts))


@pytest.mark.slow
def test_ten_thousand_fuzzed_messages_were_sent(capsys) -> None:
    # runs after the property above (pytest keeps the file's order)
    total = sum(SENT)
    with capsys.disabled():
        print(f"\nstream fuzz: {total} fuzzed messages over {len(SENT)} calls; "
              "0 ended a call (each call then still handed over on key 0)")
    assert total >= 10_000


def test_a_stop_for_this_stream_is_what_ends_it(deps) -> None:
    line = _call(deps, at_menu=True)
    assert meaningful(ms.twilio_stop(line.twilio.stream_sid, "CA1", "AC1"))
    line.stop()
    assert line.driver.finished
