"""The gate in front of the Whisper model: first decodes go in before readings again."""

from __future__ import annotations

import threading
import time

import pytest

from tests.waiting import wait_until
from voicebot.speech.engines.priority import AGAIN, FIRST, PriorityGate


def test_a_waiting_first_decode_goes_in_before_readings_that_came_earlier() -> None:
    gate = PriorityGate(1)
    order: list[str] = []
    waiting = []

    def enter(name: str, rank: int) -> None:
        with gate.held(rank):
            order.append(name)

    with gate.held(FIRST):  # the only slot is taken
        for name, rank in (("again-1", AGAIN), ("again-2", AGAIN), ("first", FIRST)):
            t = threading.Thread(target=enter, args=(name, rank))
            t.start()
            waiting.append(t)
            count = len(waiting)
            wait_until(lambda count=count: gate.waiting == count, 5, "a decode waiting")
    for t in waiting:
        t.join(5)
    assert order == ["first", "again-1", "again-2"]  # in arrival order within a rank


def test_no_more_holders_than_slots_and_every_one_gets_in() -> None:
    gate = PriorityGate(2)
    inside, most, lock = [0], [0], threading.Lock()

    def work(rank: int) -> None:
        with gate.held(rank):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.002)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=work, args=(i % 2,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert most[0] == 2 and inside[0] == 0


def test_a_holder_that_fails_gives_its_slot_back() -> None:
    gate = PriorityGate(1)
    with pytest.raises(RuntimeError), gate.held(AGAIN):
        raise RuntimeError("decode failed")
    with gate.held(FIRST):  # would block forever if the slot had been lost
        pass
    with pytest.raises(ValueError):
        PriorityGate(0)
