"""What every engine shares: text normalisation, digit words, grammar phrase lists, the
confidence scale and the engine error.

Why here and not in each engine: the flow compares recognised text with its phrases and one
threshold (0.5) for every engine, so both engines must normalise the same way and put their
confidence on the same calibrated 0..1 scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from voicebot.errors import VoicebotError
from voicebot.flow.normalize import compare_form
from voicebot.speech.types import Grammar

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGIT_ALIASES = ("oh",)  # "oh" is how many callers say 0 in numbers
SPOKEN_DIGITS = frozenset(DIGIT_WORDS + DIGIT_ALIASES)
DEFAULT_THRESHOLD = 0.5  # the team's default cut: below it, the flow re-asks or hands over


class EngineError(VoicebotError):
    """A requested engine or model is missing or unusable."""


def normalize(text: str) -> str:
    """Text as engines return and compare it: the flow's one normaliser, comparison form
    (lower case, no punctuation, no apostrophes), so the flow reads it by the same rules."""
    return compare_form(text)


def spelling(word: str, known: Callable[[str], bool]) -> str | None:
    """A normalised word as an engine's vocabulary spells it, or None if it has no such word.

    normalize() drops apostrophes ("that's" -> "thats") so that phrases compare equal
    however they were typed, but dictionaries keep them: without this, "that's right" fell
    out of a yes/no grammar and the caller's yes was heard as "not right".
    """
    if known(word):
        return word
    for i in range(len(word) - 1, 0, -1):  # "thats" -> "that's", "isnt" -> "isn't", "im"...
        candidate = f"{word[:i]}'{word[i:]}"
        if known(candidate):
            return candidate
    return None


def grammar_phrases(grammar: Grammar) -> tuple[str, ...]:
    """The normalised, de-duplicated phrases of a grammar (digit words added if allowed)."""
    seen: dict[str, None] = {}
    for phrase in grammar.phrases:
        norm = normalize(phrase)
        if norm:
            seen.setdefault(norm, None)
    return tuple(seen)


def logistic(x: float) -> float:
    """Numerically safe 1 / (1 + e^-x)."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def clamp01(x: float) -> float:
    return 0.0 if x < 0 else 1.0 if x > 1 else x
