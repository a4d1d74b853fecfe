"""Where the service's metrics come from: the edges of a call, watched.

- TimedDriver stands between the WebSocket loop and the call driver, where the wall clock
  is: it times each step (so the driver can record when a reply really left) and emits
  the call's start, each turn with its gap (end of the caller's turn to the reply going
  out) and the call's end, by outcome and reason;
- MeteredEngine wraps the speech engine the calls use: how long a turn's end waited for its
  decode, and every engine failure (which the call session still turns into a hand-over).

Both emit typed events to voicebot.service.metrics.Metrics; neither changes a decision.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from voicebot.service.metrics import (
    CallEnded,
    CallStarted,
    Decoded,
    EngineFailed,
    Metrics,
    TurnTaken,
)
from voicebot.speech.types import EarlyDecoder, Engine, Grammar, Hypothesis, Recognizer


class TimedDriver:
    """A call's driver, as the WebSocket loop drives it, watched: each step's wall time is
    told back to the driver (CallDriver.replies_sent), so a turn's reply time includes the
    decode and the render; and the call's start, its turns (with their gaps) and its end
    are emitted. Anything else is the driver's own."""

    def __init__(self, driver: Any, metrics: Metrics,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self._driver = driver
        self._metrics = metrics
        self._clock = clock
        self._started = False
        self._ended = False
        self._turns_done = 0  # turns emitted so far

    def __getattr__(self, name: str) -> Any:
        return getattr(self._driver, name)

    def receive(self, text: str | bytes, now: float) -> list[str]:
        return self._step(self._driver.receive, text, now)

    def tick(self, now: float) -> list[str]:
        return self._step(self._driver.tick, now)

    def stream_dropped(self, now: float) -> None:
        self._driver.stream_dropped(now)
        self._watch()

    def _step(self, step: Callable[..., list[str]], *args: Any) -> list[str]:
        began = self._clock()
        out = step(*args)
        if out:
            self._driver.replies_sent(args[-1] + self._clock() - began)
        self._watch()
        return out

    def _watch(self) -> None:
        t = self._driver.transcript
        if not self._started and t.call_sid and self._driver.session.started:
            self._started = True
            self._metrics.emit(CallStarted(t.flow_name, t.flow_variant))
        finished = bool(self._driver.finished)
        for turn in t.turns[self._turns_done:]:
            if turn.t_reply is None and not finished:
                break  # its reply is not out yet: its gap is not known
            gap = turn.t_reply - turn.t_end if turn.t_reply is not None and \
                turn.t_end is not None and turn.t_reply >= turn.t_end else None
            self._metrics.emit(TurnTaken(turn.node, turn.result, gap))
            self._turns_done += 1
        if finished and self._started and not self._ended:
            self._ended = True
            self._metrics.emit(CallEnded(t.outcome or "none", t.reason or "none"))


class MeteredEngine:
    """The engine the calls use, timing decodes and counting failures; anything else
    (name, model, health, ...) is the engine's own."""

    def __init__(self, engine: Engine, metrics: Metrics) -> None:
        self._engine = engine
        self._metrics = metrics
        self.name = engine.name
        self.model = engine.model

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def recognizer(self, grammar: Grammar) -> Recognizer:
        try:
            inner = self._engine.recognizer(grammar)
        except Exception:
            self._metrics.emit(EngineFailed("recognizer"))
            raise
        kind = _MeteredEarlyDecoder if isinstance(inner, EarlyDecoder) else _MeteredRecognizer
        return kind(inner, self._metrics)


class _MeteredRecognizer:
    def __init__(self, inner: Recognizer, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def _call(self, stage: str, *args: Any) -> Any:
        try:
            return getattr(self._inner, stage)(*args)
        except Exception:
            self._metrics.emit(EngineFailed(stage))
            raise

    def accept(self, pcm: bytes) -> str | None:
        return self._call("accept", pcm)

    def finish(self) -> Hypothesis:
        started = time.perf_counter()
        hypothesis = self._call("finish")
        self._metrics.emit(Decoded(time.perf_counter() - started))
        return hypothesis


class _MeteredEarlyDecoder(_MeteredRecognizer):
    """The same, for a recognizer that decodes early (so the session still sees that)."""

    def prefetch(self, tail_ms: int) -> None:
        self._call("prefetch", tail_ms)

    def peek(self) -> Hypothesis | None:
        return self._call("peek")
