"""Engines for tests that are about the call logic, not about recognition.

ScriptedEngine: its recognizers "hear" what a script says, in order (the first utterance
gets the first entry, ...), whatever the audio. For the pure session tests, whose subject is
what the session does with what was heard; recognition itself is tested with the real
engines on real recordings.

FaultInjectionEngine: the one engine for fail-safe tests. It wraps a real (or scripted)
engine and raises in the steps named, as a crashed decoder would.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from voicebot.speech.types import EarlyDecoder, Engine, Grammar, Hypothesis, Recognizer

NOTHING = Hypothesis(text="", confidence=0.0, in_grammar=False, engine="scripted")


def heard(text: str, confidence: float = 0.9) -> Hypothesis:
    """A scripted result: `text` recognised with `confidence`, in the grammar."""
    return Hypothesis(text=text, confidence=confidence, in_grammar=bool(text), engine="scripted")


class ScriptedRecognizer:
    def __init__(self, grammar: Grammar, hypothesis: Hypothesis) -> None:
        self.grammar = grammar
        self.hypothesis = hypothesis
        self.audio_bytes = 0
        self.finished = False

    def accept(self, pcm: bytes) -> str | None:
        if self.finished:
            raise RuntimeError("recognizer already finished")
        self.audio_bytes += len(pcm)
        return None

    def finish(self) -> Hypothesis:
        if self.finished:
            raise RuntimeError("recognizer already finished")
        self.finished = True
        return self.hypothesis


class ScriptedEarlyRecognizer(ScriptedRecognizer):
    """Also decodes early, as pocketsphinx does: after a prefetch, peek shows the result."""

    def __init__(self, grammar: Grammar, hypothesis: Hypothesis) -> None:
        super().__init__(grammar, hypothesis)
        self.prefetched: list[int] = []  # the tail_ms of each prefetch

    def prefetch(self, tail_ms: int) -> None:
        self.prefetched.append(tail_ms)

    def peek(self) -> Hypothesis | None:
        return self.hypothesis if self.prefetched else None


class ScriptedEngine:
    """An Engine whose n-th recognizer hears the n-th scripted hypothesis (then nothing)."""

    name = "scripted"
    model = "script"

    def __init__(self, *script: Hypothesis | str, early_decode: bool = False) -> None:
        self.script = deque(heard(s) if isinstance(s, str) else s for s in script)
        self.early_decode = early_decode
        self.recognizers: list[ScriptedRecognizer] = []

    @property
    def grammars(self) -> list[Grammar]:
        """The grammar of each recognizer made, in order."""
        return [r.grammar for r in self.recognizers]

    def recognizer(self, grammar: Grammar) -> ScriptedRecognizer:
        hypothesis = self.script.popleft() if self.script else NOTHING
        kind = ScriptedEarlyRecognizer if self.early_decode else ScriptedRecognizer
        self.recognizers.append(kind(grammar, hypothesis))
        return self.recognizers[-1]


class InjectedFault(RuntimeError):
    """What a FaultInjectionEngine raises."""


class FaultInjectionRecognizer:
    def __init__(self, real: Recognizer, fail_in: frozenset[str]) -> None:
        self.real = real
        self.fail_in = fail_in

    def _step(self, name: str) -> None:
        if name in self.fail_in:
            raise InjectedFault(f"injected fault in {name}")

    def accept(self, pcm: bytes) -> str | None:
        self._step("accept")
        return self.real.accept(pcm)

    def finish(self) -> Hypothesis:
        self._step("finish")
        return self.real.finish()

    def prefetch(self, tail_ms: int) -> None:
        self._step("prefetch")
        if isinstance(self.real, EarlyDecoder):
            self.real.prefetch(tail_ms)

    def peek(self) -> Hypothesis | None:
        self._step("peek")
        return self.real.peek() if isinstance(self.real, EarlyDecoder) else None


class FaultInjectionEngine:
    """The real engine (name, model, recognizers), raising in the steps of `fail_in`:
    "recognizer", "accept", "finish", "prefetch", "peek"."""

    STEPS = frozenset({"recognizer", "accept", "finish", "prefetch", "peek"})

    def __init__(self, real: Engine, fail_in: Iterable[str] = ("accept",)) -> None:
        self.real = real
        self.name = real.name
        self.model = real.model
        self.fail_in = frozenset(fail_in)
        unknown = self.fail_in - self.STEPS
        if unknown:
            raise ValueError(f"unknown steps {sorted(unknown)}; known: {sorted(self.STEPS)}")

    def recognizer(self, grammar: Grammar) -> FaultInjectionRecognizer:
        if "recognizer" in self.fail_in:
            raise InjectedFault("injected fault in recognizer")
        return FaultInjectionRecognizer(self.real.recognizer(grammar), self.fail_in)
