"""A gate in front of the Whisper model: at most `slots` decodes in it at once, and when one
ends, the waiting decode of the lowest rank goes in next (first come, first served within a
rank).

Why: CTranslate2 serves the decodes it is given in order. A turn that meant nothing is read
again several times (other speeds, other prompts), and with twenty callers those readings
queued ahead of other callers' first decodes, the ones a caller is waiting on to hear the
bot answer. Readings go in at rank 1, a turn's first decode at rank 0: a reading already
running is not stopped, but nothing waiting overtakes a first decode.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager

FIRST = 0  # a turn's first decode: a caller waits on it
AGAIN = 1  # a turn read again


class PriorityGate:
    """Thread-safe; `held(rank)` blocks until the caller's turn to hold a slot."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("a gate needs at least one slot")
        self._free = slots
        self._waiting: list[tuple[int, int]] = []  # (rank, arrival)
        self._arrivals = itertools.count()
        self._cond = threading.Condition()

    @property
    def waiting(self) -> int:
        """How many decodes wait for a slot now."""
        with self._cond:
            return len(self._waiting)

    @contextmanager
    def held(self, rank: int = FIRST) -> Iterator[None]:
        with self._cond:
            ticket = (rank, next(self._arrivals))
            heapq.heappush(self._waiting, ticket)
            while self._free == 0 or self._waiting[0] != ticket:
                self._cond.wait()
            heapq.heappop(self._waiting)
            self._free -= 1
            self._cond.notify_all()  # the next in line may take another free slot
        try:
            yield
        finally:
            with self._cond:
                self._free += 1
                self._cond.notify_all()
