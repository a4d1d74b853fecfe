"""Charts for the KPI page, drawn as SVG on the server: no charting library, no script, no
CDN. This module only does the geometry (rectangles and labels at coordinates); the
template `console/_charts.html` writes them as SVG elements, escaping every label, and the
stylesheet colours them by class.

Two kinds: horizontal bars (a value per named thing: hand-overs per reason or node) and
columns, optionally stacked (a value per bucket: calls per day, confidence in tenths, CSAT
scores).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

LABEL_W = 170  # room for a node's name left of horizontal bars
ROW_H = 24
VALUE_W = 70


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    cls: str
    tip: str  # shown on hover (an SVG <title>)


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "start"  # start | middle | end
    cls: str = ""


@dataclass
class Chart:
    title: str
    width: int
    height: int
    rects: list[Rect] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    legend: tuple[tuple[str, str], ...] = ()  # (text, class) of stacked parts

    @property
    def empty(self) -> bool:
        return not self.rects


def bars(title: str, rows: Sequence[tuple[str, float]], *, width: int = 560,
         value: Callable[[float], str] = lambda v: f"{v:g}", cls: str = "bar") -> Chart:
    """A horizontal bar per (name, value), longest first as given."""
    chart = Chart(title, width, ROW_H * len(rows) + 8)
    top = max((v for _, v in rows), default=0) or 1
    room = width - LABEL_W - VALUE_W
    for i, (name, v) in enumerate(rows):
        y = 4 + i * ROW_H
        w = max(1.0, room * v / top) if v else 0.0
        chart.rects.append(Rect(LABEL_W, y + 3, round(w, 1), ROW_H - 8, cls,
                                f"{name}: {value(v)}"))
        chart.labels.append(Label(LABEL_W - 8, y + ROW_H / 2 + 4, _short(name), "end"))
        chart.labels.append(Label(LABEL_W + w + 6, y + ROW_H / 2 + 4, value(v), "start",
                                  "value"))
    return chart


def columns(title: str, buckets: Sequence[tuple[str, Sequence[tuple[float, str]]]], *,
            width: int = 560, height: int = 190,
            value: Callable[[float], str] = lambda v: f"{v:g}",
            every: int = 1, legend: tuple[tuple[str, str], ...] = ()) -> Chart:
    """A column per (bucket label, [(value, class), ...]): the values stacked, bottom up.
    `every`: label every n-th bucket (dates); `legend`: what each class stands for."""
    chart = Chart(title, width, height, legend=legend)
    base, top_pad, left = height - 24, 16, 36
    tallest = max((sum(v for v, _ in parts) for _, parts in buckets), default=0) or 1
    step = (width - left - 8) / max(1, len(buckets))
    gap = min(6.0, step * 0.2)
    chart.labels.append(Label(left - 6, top_pad + 4, value(tallest), "end", "axis"))
    chart.labels.append(Label(left - 6, base, "0", "end", "axis"))
    for i, (name, parts) in enumerate(buckets):
        x, y = left + i * step + gap / 2, float(base)
        for v, cls in parts:
            h = (base - top_pad) * v / tallest
            y -= h
            if v:
                chart.rects.append(Rect(round(x, 1), round(y, 1), round(step - gap, 1),
                                        round(h, 1), cls, f"{name}: {value(v)}"))
        if i % every == 0:
            chart.labels.append(Label(round(x + (step - gap) / 2, 1), base + 16, name,
                                      "middle", "axis"))
    return chart


def _short(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
