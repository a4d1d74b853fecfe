"""Where the service's metrics come from: the edges of a call, watched.

- MeteredRecorder stands between the call driver and the records: the driver reports every
  call's start, each turn and the end to its recorder, so that is where calls started and
  ended, turns and turn gaps are seen (then the save is passed on unchanged);
- MeteredEngine wraps the speech engine the calls use: how long a turn's end waited for its
  decode, and every engine failure (which the call session still turns into a hand-over).

Both emit typed events to voicebot.service.metrics.Metrics; neither changes what happens.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from voicebot.records.recorder import Recorder
from voicebot.records.transcript import CallTranscript
from voicebot.service.metrics import (
    CallEnded,
    CallStarted,
    Decoded,
    EngineFailed,
    Metrics,
    TurnTaken,
)
from voicebot.speech.types import EarlyDecoder, Engine, Grammar, Hypothesis, Recognizer


class MeteredRecorder:
    """A Recorder that emits CallStarted, TurnTaken and CallEnded, then saves."""

    def __init__(self, recorder: Recorder, metrics: Metrics) -> None:
        self._recorder = recorder
        self._metrics = metrics
        self._lock = threading.Lock()
        self._turns_seen: dict[str, int] = {}  # calls going on: turns already counted

    def save(self, transcript: CallTranscript, *, from_number: str | None = None,
             ended: bool = False) -> None:
        try:
            self._watch(transcript, ended)
        finally:
            self._recorder.save(transcript, from_number=from_number, ended=ended)

    def _watch(self, t: CallTranscript, ended: bool) -> None:
        with self._lock:
            seen = self._turns_seen.get(t.call_sid)
            if seen is None:
                seen = 0
                self._metrics.emit(CallStarted(t.flow_name, t.flow_variant))
            for turn in t.turns[seen:]:
                gap = turn.t_reply - turn.t_end if turn.t_reply is not None and \
                    turn.t_end is not None and turn.t_reply >= turn.t_end else None
                self._metrics.emit(TurnTaken(turn.node, turn.result, gap))
            if ended:
                self._turns_seen.pop(t.call_sid, None)
                self._metrics.emit(CallEnded(t.outcome or "none", t.reason or "none"))
            else:
                self._turns_seen[t.call_sid] = len(t.turns)


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
