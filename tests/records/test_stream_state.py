"""The per-call stream state in the shared store, on both backends: armed at /voice, begun
by exactly one `start` whichever host it reaches, and never begun again once streaming or
ended. Two CallStores on one database stand for two hosts."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from tests.backends import HASH_KEY
from voicebot.records.store import CallStore
from voicebot.records.stream_state import ENDED, GIVEN_UP, NOT_WAITING, STREAMING
from voicebot.records.transcript import CallTranscript

LATER = 60.0  # a deadline well after the test


@pytest.fixture
def hosts(store_backend, tmp_path) -> Iterator[tuple[CallStore, CallStore]]:
    where = store_backend.new_location(tmp_path)
    stores = CallStore(where, HASH_KEY), CallStore(where, HASH_KEY)
    yield stores
    for store in stores:
        store.close()


def test_exactly_one_of_many_simultaneous_starts_begins_the_call(hosts):
    a, b = hosts
    assert a.arm_stream("CA1", time.time() + LATER)
    barrier = threading.Barrier(8)
    answers: list[str | None] = []

    def start(store: CallStore) -> None:
        barrier.wait()
        answers.append(store.claim_stream("CA1", armed_here=store is a))

    threads = [threading.Thread(target=start, args=(hosts[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(answers, key=str) == [None] + ["this call is already streaming"] * 7
    assert a.stream_state("CA1") == b.stream_state("CA1") == STREAMING
    assert not b.arm_stream("CA1", time.time() + LATER)  # a replayed /voice re-arms nothing
    assert b.mark_stream("CA1", ENDED)
    assert a.stream_state("CA1") == ENDED
    for store in hosts:
        assert store.claim_stream("CA1", armed_here=True) == "this call is already ended"
        assert not store.arm_stream("CA1", time.time() + LATER)


def test_a_start_needs_a_call_armed_and_within_its_deadline(hosts):
    a, b = hosts
    assert b.claim_stream("CAnever", armed_here=False) == NOT_WAITING
    assert a.stream_state("CAnever") is None and a.call_row("CAnever") is None
    a.open_call("CAopened", from_number=None, flow_name="support", flow_version="1")
    assert b.claim_stream("CAopened", armed_here=False) == NOT_WAITING  # recorded, not armed
    assert a.arm_stream("CAlate", time.time() - 1)
    assert b.stream_state("CAlate") == ENDED  # its deadline passed: read as given up
    assert b.claim_stream("CAlate", armed_here=False) == "this call is already ended"
    assert a.mark_stream("CAlate", GIVEN_UP)  # written so by the host that answered it


def test_the_host_that_answered_may_begin_a_call_whose_arming_never_reached_the_store(hosts):
    a, b = hosts  # (the database did not answer a's /voice in time)
    assert a.claim_stream("CAlost", armed_here=True) is None
    assert b.claim_stream("CAlost", armed_here=False) == "this call is already streaming"
    assert a.claim_stream("CAlost", armed_here=True) == "this call is already streaming"


def test_a_call_that_ended_without_a_stream_is_never_armed(hosts):
    a, b = hosts  # e.g. turned away at capacity, or Twilio reported it over
    a.save(CallTranscript("CAaway", flow_name="support", flow_version="1",
                          outcome="transfer", reason="service", queue="support"), ended=True)
    b.close_call("CAgone", "canceled")
    for sid in ("CAaway", "CAgone"):
        assert b.stream_state(sid) == ENDED
        assert not b.arm_stream(sid, time.time() + LATER)
        assert a.claim_stream(sid, armed_here=True) == "this call is already ended"
