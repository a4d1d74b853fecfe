"""Admission control and draining in the real service: who gets the bot and who a person.

A call counts from /voice until its stream ends (or its token expires unused); past
VOICEBOT_MAX_CALLS the caller hears a short apology and is queued at once (or told to call
again). While draining, new callers go straight to a person and calls in progress are handed
over with a short message, or finish by themselves within the grace period.
"""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET

import pytest

from tests.service.conftest import dtmf, wait
from voicebot.flow.reasons import TEXTS
from voicebot.replay.standin import new_sid
from voicebot.service.routes_twilio import AT_CAPACITY, BUSY, UNAVAILABLE


def _post_voice(service, call_sid: str, **fields: str) -> ET.Element:
    standin = service.standin()
    status, body = standin.post(service.webhook_url,
                                {**standin.call_params(call_sid, "ringing"), **fields})
    assert status == 200
    return ET.fromstring(body)  # always parseable TwiML


def _until(check, within_s: float = 20.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_calls_beyond_capacity_hear_an_apology_and_are_queued_at_once(start_service):
    service = start_service(env={"VOICEBOT_MAX_CALLS": "2"})
    for sid in ("CAfirst", "CAsecond"):
        assert _post_voice(service, sid).find("Connect/Stream") is not None
    assert service.service.active_calls == 2
    root = _post_voice(service, "CAthird")
    assert root.find("Connect") is None
    assert root.find("Say").text == AT_CAPACITY
    enqueue = root.find("Enqueue")
    assert enqueue.text == "support"
    assert enqueue.get("waitUrl") == service.base_url + "/queue/wait"
    t = service.store.get("CAthird")  # recorded, so agents' briefings keep Twilio's order
    assert (t.outcome, t.reason, t.queue) == ("transfer", "service", "support")
    assert service.store.next_waiting("support").call_sid == "CAthird"
    assert service.service.active_calls == 2


def test_overflow_busy_says_so_and_hangs_up(start_service):
    service = start_service(env={"VOICEBOT_MAX_CALLS": "1", "VOICEBOT_OVERFLOW": "busy"})
    _post_voice(service, "CAone")
    root = _post_voice(service, "CAtwo")
    assert root.find("Say").text == BUSY and root.find("Hangup") is not None
    assert root.find("Enqueue") is None
    t = service.store.get("CAtwo")
    assert (t.outcome, t.reason) == ("hangup", "busy")


@pytest.mark.slow
def test_a_call_counts_until_its_stream_ends_or_is_given_up(start_service):
    service = start_service(env={"VOICEBOT_MAX_CALLS": "1", "VOICEBOT_STREAM_TOKEN_TTL_S": "5"})
    _post_voice(service, "CAnostream")  # Twilio never opens its stream
    assert _post_voice(service, "CAturnedaway").find("Enqueue") is not None
    _until(lambda: service.service.active_calls == 0)  # given up when its token expires
    result: list = []
    caller = threading.Thread(target=lambda: result.append(
        service.standin().run([wait(4.0), dtmf("0")])))
    caller.start()
    _until(lambda: service.service.calls.active() == 1)
    assert _post_voice(service, new_sid("CA")).find("Say").text == AT_CAPACITY
    caller.join(60)
    assert (result[0].transcript.outcome, result[0].transcript.reason) == ("transfer", "dtmf")
    assert service.service.active_calls == 0
    assert _post_voice(service, new_sid("CA")).find("Connect/Stream") is not None


def test_control_characters_in_from_still_give_parseable_twiml(shared_service):
    for odd in ("+1555\x00", "\x01\x1b[2J+1555", "+1555\ud7ff\ufffe", "x" * 5000):
        root = _post_voice(shared_service, new_sid("CA"), From=odd, Caller=odd)
        params = {p.get("name"): p.get("value") for p in root.iter("Parameter")}
        assert "\x00" not in params["from"] and len(params["from"]) <= 256


def _call_in_background(service, turns) -> tuple[threading.Thread, list]:
    out: list = []
    thread = threading.Thread(target=lambda: out.append(service.standin(speed=2.0).run(turns)))
    thread.start()
    return thread, out


@pytest.mark.slow
def test_draining_hands_calls_over_with_a_short_message_and_new_ones_at_once(start_service):
    service = start_service(env={"VOICEBOT_DRAIN_GRACE_S": "0"})
    thread, out = _call_in_background(service, [wait(40.0)])
    _until(lambda: service.service.calls.active() == 1)
    time.sleep(1.5)  # its stream has started: the disclosure plays
    service.service.drain.begin()
    root = _post_voice(service, "CAduringdrain")
    assert root.find("Connect") is None and root.find("Say").text == UNAVAILABLE
    assert root.find("Enqueue").text == "support"
    thread.join(60)
    t = out[0].transcript
    assert (t.outcome, t.reason, t.queue) == ("transfer", "service", "support")
    last = t.prompts[-1]
    assert last.kind == "handover" and last.t_played is not None  # said, and heard to the end
    assert last.text == TEXTS["service"].handover.replace("{queue}", "our support team")
    assert "<Enqueue" in out[0].twiml_after
    _until(service.service.calls.settled)
    # a replayed /voice of that call while draining leaves its record as it is
    before = service.store.call_row(out[0].call_sid)
    assert _post_voice(service, out[0].call_sid).find("Say").text == UNAVAILABLE
    assert service.store.call_row(out[0].call_sid) == before


@pytest.mark.slow
def test_within_the_grace_period_a_call_finishes_by_itself(start_service):
    service = start_service(env={"VOICEBOT_DRAIN_GRACE_S": "60"})
    thread, out = _call_in_background(service, [wait(3.0), dtmf("0")])
    _until(lambda: service.service.calls.active() == 1)
    service.service.drain.begin()
    thread.join(60)
    t = out[0].transcript
    assert (t.outcome, t.reason) == ("transfer", "dtmf")  # its own ending, not the drain's
    assert service.service.draining and not service.service.stop_serving_due
