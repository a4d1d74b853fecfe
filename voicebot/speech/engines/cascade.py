"""The cascade: Whisper hears every turn; for spoken numbers the grammar pass (pocketsphinx)
decodes the same audio too, and a number of the wrong length gives way to its.

Why this shape (scripts/tune_whisper.py --rules; figures in the README's measurements):
letting the grammar pass answer first when it is confident took wrong branches on
sentences ("I'm calling about my order" forced onto a phrase, confidently) and passed off
noise as answers, while on single phrases and sentences it never added a right answer that
Whisper missed: agreement only confirmed what Whisper had. Where it does help is numbers:
Whisper drops or repeats a digit now and then ("five five five zero" -> "five five zero"),
and a collect node knows how many digits it wants, so when Whisper's digits are the wrong
count and the grammar pass's are the right one, the grammar pass's answer is taken. Both
decode at the same time (the early decode starts both at the pause), so the second opinion
costs CPU, not waiting; other turns don't pay for it.
"""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass

from voicebot.speech.engines.common import DIGIT_ALIASES, DIGIT_WORDS
from voicebot.speech.types import Grammar, Hypothesis, Recognizer

RULES = ("agree", "fast-first")
# Whisper's finish() waits here while the call's thread runs the grammar pass's; not the
# early-decode pool, whose decodes these may be waiting for.
_FINISH_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=64,
                                                     thread_name_prefix="cascade-finish")


@dataclass(frozen=True)
class CascadeOptions:
    """agree (the default): Whisper's answer, the grammar pass's for a number of the right
    length where Whisper's has the wrong length. fast-first (measured, not the default): the
    grammar pass's answer when in its grammar and at least `fast_take` confident."""

    rule: str = "agree"
    fast_take: float = 0.5
    fast_on_all_turns: bool = False  # False: the grammar pass runs on number turns only


def _digits(text: str) -> str | None:
    words = text.split()
    if not words or not all(w in DIGIT_WORDS or w in DIGIT_ALIASES for w in words):
        return None
    return "".join(str(DIGIT_WORDS.index(w)) if w in DIGIT_WORDS else "0" for w in words)


def choose(fast: Hypothesis, slow: Hypothesis, grammar: Grammar,
           options: CascadeOptions = CascadeOptions()) -> Hypothesis:
    """The cascade's answer from the two engines' hypotheses of one utterance."""
    pick = slow
    if options.rule == "fast-first":
        if fast.text and fast.in_grammar and fast.confidence >= options.fast_take \
                or not slow.text:
            pick = fast
    elif grammar.allow_digits and grammar.max_digits and fast.text and slow.text:
        fast_digits, slow_digits = _digits(fast.text), _digits(slow.text)
        if fast_digits is not None and slow_digits is not None:
            if fast_digits == slow_digits:
                pick = max(slow, fast, key=lambda h: h.confidence)
            elif len(fast_digits) == grammar.max_digits != len(slow_digits):
                pick = fast
    return Hypothesis(text=pick.text, confidence=pick.confidence, words=pick.words,
                      in_grammar=pick.in_grammar, engine=f"cascade:{pick.engine}")


class CascadeEngine:
    """Both engines, shared by every call (each keeps its own decoders)."""

    name = "cascade"

    def __init__(self, fast, slow, options: CascadeOptions | None = None) -> None:
        self.options = options or CascadeOptions()
        if self.options.rule not in RULES:
            raise ValueError(f"unknown cascade rule {self.options.rule!r} (choose {RULES})")
        self.fast = fast
        self.slow = slow
        self.model = f"{slow.model} + {fast.model}"

    @property
    def workers(self) -> int:
        return getattr(self.fast, "workers", 0)

    def unknown_words(self, phrases: tuple[str, ...] | list[str]) -> list[str]:
        """Nothing is out of reach: Whisper hears words the grammar pass's dictionary lacks."""
        return []

    def warm(self, grammar: Grammar) -> int:
        return self.fast.warm(grammar)

    def close(self) -> None:
        self.fast.close()

    def recognizer(self, grammar: Grammar) -> Recognizer:
        slow = self.slow.recognizer(grammar)
        if grammar.is_free or not (grammar.allow_digits or self.options.fast_on_all_turns):
            return slow
        return CascadeRecognizer(self.fast.recognizer(grammar), slow, grammar, self.options)


class CascadeRecognizer:
    """One utterance in both engines: audio, the early decode and the answer go to both."""

    def __init__(self, fast: Recognizer, slow: Recognizer, grammar: Grammar,
                 options: CascadeOptions) -> None:
        self.fast = fast
        self.slow = slow
        self._grammar = grammar
        self._options = options

    def accept(self, pcm: bytes) -> str | None:
        self.fast.accept(pcm)
        self.slow.accept(pcm)
        return None

    def prefetch(self, tail_ms: int) -> None:
        self.fast.prefetch(tail_ms)
        self.slow.prefetch(tail_ms)

    def peek(self) -> Hypothesis | None:
        slow = self.slow.peek()
        fast = self.fast.peek() if slow is not None else None
        return None if fast is None else choose(fast, slow, self._grammar, self._options)

    def finish(self) -> Hypothesis:
        # Both decode at once (each waits on its own decoder), unless prefetched already.
        slow: concurrent.futures.Future[Hypothesis] = _FINISH_POOL.submit(self.slow.finish)
        fast = self.fast.finish()
        return choose(fast, slow.result(), self._grammar, self._options)
