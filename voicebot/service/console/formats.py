"""How the console writes figures and times (Jinja filters, for the pages and for the
stand-alone KPI report alike). Every filter returns plain text: the templates escape it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from voicebot.records.reviews import VERDICTS

RESULTS = {"contained": "contained", "handed_over": "handed over", "abandoned": "abandoned",
           "in_progress": "in progress"}


def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "–"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return text + unit


def clock(seconds: float | None) -> str:
    """1:05, 12:30, 1:02:03."""
    if seconds is None:
        return "–"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def when(iso: str | None) -> str:
    """A record's time as people read it: 2025-03-01 10:00:05 UTC."""
    return "–" if not iso else iso[:19].replace("T", " ") + " UTC"


def ago(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def confidence(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def words(value: Any) -> str:
    """A code (reason, result, verdict) in words: no_match -> no match."""
    if value is None or value == "":
        return "–"
    text = str(value)
    return VERDICTS.get(text) or RESULTS.get(text) or text.replace("_", " ")


def value(v: Any) -> str:
    """A slot's value: a looked-up record as its fields, anything else as text."""
    if isinstance(v, dict):
        return ", ".join(f"{k} {x}" for k, x in v.items())
    return "–" if v is None else str(v)


FILTERS: dict[str, Callable[..., Any]] = {
    "pct": pct, "num": num, "clock": clock, "when": when, "ago": ago,
    "confidence": confidence, "words": words, "value": value,
}
