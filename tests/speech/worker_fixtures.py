"""What the worker-pool tests' workers run (imported inside real worker processes)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def init(arg: dict[str, Any]) -> dict[str, Any]:
    """Fails while the file `arg["fail_if"]` exists (a part that stays broken for a while)."""
    fail_if = arg.get("fail_if")
    if fail_if and Path(fail_if).exists():
        raise ValueError(f"cannot start: {Path(fail_if).read_text()}")
    return {"pid": os.getpid()}


def handle(state: dict[str, Any], request: tuple[Any, ...]) -> Any:
    op, *args = request
    if op == "echo":
        return args[0]
    if op == "pid":
        return state["pid"]
    if op == "sleep":
        time.sleep(args[0])
        return "slept"
    if op == "raise":
        raise RuntimeError(args[0])
    if op == "remember":  # a warm-up: state the worker keeps
        state["remembered"] = args[0]
        return None
    if op == "recall":
        return state.get("remembered")
    raise ValueError(f"unknown op {op!r}")
