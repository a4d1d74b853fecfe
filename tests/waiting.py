"""Waiting in tests for something a background thread or process gets to (bounded polling,
never a timing check)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], limit_s: float = 30.0,
               what: str = "the condition") -> None:
    """Poll `condition` until it holds; fail the test if it does not within `limit_s`."""
    end = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < end, f"{what} did not happen within {limit_s:.0f} s"
        time.sleep(0.02)
