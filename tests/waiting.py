"""Waiting in tests for something a background thread or process gets to (bounded polling,
never a timing check)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], limit_s: float = 30.0,
               what: str = "the condition", every_s: float = 0.02) -> T:
    """Poll `condition` every `every_s` until it holds and return what it returned then;
    fail the test if it does not hold within `limit_s`."""
    end = time.monotonic() + limit_s
    while not (value := condition()):
        assert time.monotonic() < end, f"{what} did not happen within {limit_s:.0f} s"
        time.sleep(every_s)
    return value
