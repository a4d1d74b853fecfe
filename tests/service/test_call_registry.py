"""The call registry and the drain on a clock the test moves: admission, one stream per
call, giving up, and when a drain may end; and two instances' registries on one shared
store (a stream may start on either, once)."""

from __future__ import annotations

from tests.backends import HASH_KEY
from voicebot.records.store import CallStore
from voicebot.service.calls import (
    ACTION_WAIT_S,
    STREAM_WAIT_S,
    Admission,
    LocalCallRegistry,
    SharedCallRegistry,
)
from voicebot.service.drain import HANDOVER_ALLOWANCE_S, Drain


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_admission_counts_calls_until_their_stream_ends_or_is_given_up():
    clock = Clock()
    calls = LocalCallRegistry(2, wait_s=30, clock=clock)
    assert calls.admit("CA1") is Admission.ADMITTED
    assert calls.admit("CA1") is Admission.ADMITTED  # the same call asking again
    assert calls.admit("CA2") is Admission.ADMITTED
    assert calls.admit("CA3") is Admission.FULL
    assert calls.claim("CA1") is None and calls.active() == 2
    calls.end("CA1")
    assert calls.active() == 1 and calls.admit("CA1") is Admission.KNOWN
    clock.t += 31  # CA2's stream never came: given up
    assert calls.active() == 0 and calls.given_up == 1
    assert calls.claim("CA2") == "this call is already ended"
    assert calls.admit("CA3") is Admission.ADMITTED


def test_one_stream_per_call():
    calls = LocalCallRegistry(5, wait_s=30, clock=Clock())
    assert calls.claim("CAx") == "no call is waiting for a stream with this CallSid"
    calls.admit("CAx")
    assert calls.claim("CAx") is None
    assert calls.claim("CAx") == "this call is already streaming"
    calls.end("CAx")
    assert calls.claim("CAx") == "this call is already ended"


def test_a_drain_ends_once_streams_and_action_requests_are_done():
    clock = Clock()
    calls = LocalCallRegistry(5, wait_s=30, clock=clock)
    assert calls.settled()
    calls.admit("CAa")
    assert not calls.settled()  # Twilio is about to open its stream
    clock.t += STREAM_WAIT_S + 0.1
    assert calls.settled()  # it would have by now
    calls.admit("CAb")
    calls.claim("CAb")
    clock.t += 60
    assert not calls.settled()  # streaming
    calls.end("CAb")
    assert not calls.settled()  # Twilio will request the <Connect> action URL
    calls.action_served("CAb")
    assert calls.settled()
    calls.admit("CAc")
    calls.claim("CAc")
    calls.end("CAc")
    clock.t += ACTION_WAIT_S + 0.1  # (the caller hung up: no action request comes)
    assert calls.settled()


def test_the_drain_hands_over_after_the_grace_and_gives_up_after_the_allowance():
    clock = Clock()
    drain = Drain(10, clock=clock)
    assert not drain.draining and not drain.hand_over_due()
    assert drain.begin() and not drain.begin()
    clock.t += 9.9
    assert drain.draining and not drain.hand_over_due()
    clock.t += 0.2
    assert drain.hand_over_due() and not drain.give_up_due()
    clock.t += HANDOVER_ALLOWANCE_S
    assert drain.give_up_due()
    def sleep(seconds: float) -> None:
        clock.t += seconds

    assert drain.wait(lambda: False, sleep=sleep) is False  # not settled: up to its deadline
    assert clock.t >= 1000 + drain.deadline_s
    assert drain.wait(lambda: True, sleep=sleep) is True  # (and lingers LINGER_S)


def test_a_stream_may_reach_another_instance_than_its_webhook_but_only_once(store_backend,
                                                                             tmp_path):
    where = store_backend.new_location(tmp_path)  # one shared store, two instances
    stores = CallStore(where, HASH_KEY), CallStore(where, HASH_KEY)
    a, b = (SharedCallRegistry(LocalCallRegistry(2, wait_s=30), store) for store in stores)
    assert a.admit("CA1") is Admission.ADMITTED  # /voice reached a
    assert b.claim("CA1") is None  # its stream reached b
    assert b.active() == 1 and b.state("CA1") == "streaming"
    for registry in (a, b):  # a replayed handshake, on either
        assert registry.claim("CA1") == "this call is already streaming"
        assert registry.admit("CA1") is Admission.KNOWN  # a replayed /voice re-arms nothing
    assert a.active() == 0  # nor does it count where it was answered
    b.end("CA1")
    for registry in (a, b):
        assert registry.claim("CA1") == "this call is already ended"
        assert registry.state("CA1") == "ended"
    assert b.active() == 0
    assert a.claim("CAnever") == b.claim("CAnever") == (
        "no call is waiting for a stream with this CallSid")
    for store in stores:
        store.close()
