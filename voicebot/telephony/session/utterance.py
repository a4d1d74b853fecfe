"""The caller's utterance in progress, and the recognizer that hears it.

A recognizer is made when speech starts, so a turn costs only what it hears, and only
buffers until finish(): dropping an utterance (keys, an escape, the hand-over) costs nothing,
while finishing it would spend a decode on speech nobody will use. What an engine raises
becomes a PartFailure naming the step, which the session turns into a hand-over.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from voicebot.speech.types import EarlyDecoder, Engine, Grammar, Hypothesis, Recognizer


class PartFailure(Exception):
    """An exception from a part of the call, with where it happened (for Fault.detail)."""

    def __init__(self, where: str, exc: BaseException) -> None:
        super().__init__(f"{where}: {type(exc).__name__}")
        self.where = where
        self.exc = exc


@contextlib.contextmanager
def part(where: str) -> Iterator[None]:
    """A call into another part of the call; what it raises becomes a PartFailure."""
    try:
        yield
    except Exception as exc:
        raise PartFailure(where, exc) from exc


@dataclass
class Utterance:
    t_start: float
    node: str
    during_prompt: bool
    escape_only: bool = False  # over a prompt the caller may not skip: only an escape counts
    recognizer: Recognizer | None = None  # None: heard, but nothing was asked (not a turn)

    @classmethod
    def heard_by(cls, engine: Engine, grammar: Grammar, t_start: float, node: str, *,
                 during_prompt: bool, escape_only: bool = False) -> Utterance:
        with part("engine.recognizer"):
            recognizer = engine.recognizer(grammar)
        return cls(t_start, node, during_prompt, escape_only, recognizer)

    def accept(self, pcm: bytes) -> None:
        if self.recognizer is not None and pcm:
            with part("engine.accept"):
                self.recognizer.accept(pcm)

    def prefetch(self, tail_ms: int) -> None:
        """The caller paused: an engine that can starts decoding, so the answer is ready
        when the silence is confirmed (others decode at finish)."""
        if isinstance(self.recognizer, EarlyDecoder):
            with part("engine.prefetch"):
                self.recognizer.prefetch(tail_ms)

    def peek(self) -> Hypothesis | None:
        """The early decode, if the engine has one ready for what was said."""
        if not isinstance(self.recognizer, EarlyDecoder):
            return None
        with part("engine.peek"):
            return self.recognizer.peek()

    def finish(self) -> Hypothesis | None:
        """What was said, or None for an utterance nothing was asked for."""
        if self.recognizer is None:
            return None
        with part("engine.finish"):
            return self.recognizer.finish()
