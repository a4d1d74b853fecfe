"""The open-vocabulary engine: OpenAI's Whisper tiny.en (CTranslate2, int8 on CPU).

It hears whole sentences ("can I talk to someone please"), which a grammar engine forces
onto its nearest phrase. The turn's grammar still matters: it becomes Whisper's prompt, so
the words the flow listens for are the ones it expects. The decode itself is in
whisper_decode.py; here: prompts, the early decode, guards and calibrated confidence.

Guards (Whisper invents text on silence and noise, and loops): text in another script, a
decode Whisper itself calls probably not speech, or an answer the calibrated confidence puts
under the reject level comes back rejected (text "", in_grammar False), as pocketsphinx's
reject path does; a decode that looped with every prompt keeps the text before the loop.
Confidence is a logistic of the decode's mean token log probability and its no-speech
probability, fitted on the tuning split (calibration.py), so that the flow's thresholds
(0.5 for an answer, 0.25 for an escape phrase) mean what they mean with pocketsphinx.
"""

from __future__ import annotations

import threading
from pathlib import Path

from voicebot.speech.engines import calibration
from voicebot.speech.engines.common import (
    DIGIT_ALIASES,
    DIGIT_WORDS,
    clamp01,
    grammar_phrases,
    logistic,
)
from voicebot.speech.engines.early import EarlyDecode
from voicebot.speech.engines.whisper_decode import (
    WhisperOptions,
    WhisperResult,
    shared_core,
)
from voicebot.speech.types import Grammar, Hypothesis

ENGINE = "whisper"
_DIGITS = frozenset(DIGIT_WORDS + DIGIT_ALIASES)


def hears_digits(grammar: Grammar) -> bool:
    """Whether the turn listens for digits (a number, or a list of digit words)."""
    phrases = grammar_phrases(grammar)
    return grammar.allow_digits or (bool(phrases) and all(p in _DIGITS for p in phrases))


def prompts_for(grammar: Grammar) -> tuple[str | None, ...]:
    """The grammar as Whisper's prompt. Phrases are listed with commas; digits are written
    as one run of words ("zero one two ... nine"), which measured far better for spoken
    digits than a comma list (the list invited "six, six, six"); if a decode loops on that
    run (it can repeat it over a sentence), the all-comma list is tried next."""
    words = [p for p in grammar_phrases(grammar) if p not in _DIGITS]
    listed = ", ".join(words)
    run = " ".join(DIGIT_WORDS) if hears_digits(grammar) else ""
    if not listed and not run:
        return (None,)
    if not run:
        return (listed + ".",)
    if not listed:
        return (run, ", ".join(DIGIT_WORDS) + ".")
    return (f"{listed}. {run}", ", ".join([*words, *DIGIT_WORDS]) + ".")


def confidence(result: WhisperResult) -> float:
    """P(the answer is right), calibrated on the tuning split (calibration.py)."""
    x = (calibration.WHISPER_LOGPROB_SLOPE * result.avg_logprob
         + calibration.WHISPER_NO_SPEECH_SLOPE * result.no_speech_prob
         + calibration.WHISPER_BIAS)
    return clamp01(logistic(x))


def hypothesis(result: WhisperResult, reject_below: float = calibration.WHISPER_REJECT_BELOW,
               ) -> Hypothesis:
    """The Hypothesis a result gives, or a rejection (text "", in_grammar False)."""
    if result.foreign or not result.text \
            or result.no_speech_prob >= calibration.WHISPER_NO_SPEECH_REJECT:
        return Hypothesis(text="", confidence=0.0, in_grammar=False, engine=ENGINE)
    conf = confidence(result)
    if conf < reject_below:
        return Hypothesis(text="", confidence=conf, in_grammar=False, engine=ENGINE)
    return Hypothesis(text=result.text, confidence=conf, in_grammar=True, engine=ENGINE)


class WhisperEngine:
    """Shared by every call: the loaded model and the prompts of the grammars seen."""

    name = ENGINE

    def __init__(self, model_dir: Path | str, *, parallel: int = 1,
                 options: WhisperOptions | None = None, model_label: str | None = None) -> None:
        self.model_dir = Path(model_dir)
        self.options = options or WhisperOptions()
        self.parallel = parallel
        self.model = model_label or f"whisper ({self.model_dir})"
        self._core = shared_core(self.model_dir, parallel)  # fails now, not in a call
        self._core.silence()  # a full encode: at start-up rather than in the first call
        self._prompts: dict[tuple, tuple[tuple[str | None, ...], bool]] = {}
        self._lock = threading.Lock()

    def prompts(self, grammar: Grammar) -> tuple[tuple[str | None, ...], bool]:
        """The turn's prompts, and whether it listens for digits (cached per grammar)."""
        key = (grammar.phrases, grammar.allow_digits)
        with self._lock:
            hit = self._prompts.get(key)
            if hit is None:
                hit = self._prompts[key] = (prompts_for(grammar), hears_digits(grammar))
        return hit

    def decode(self, pcm: bytes, prompts: tuple[str | None, ...],
               digits: bool = False) -> WhisperResult:
        """One utterance, in this thread (CTranslate2 releases the GIL while it works)."""
        return self._core.decode(pcm, prompts, self.options, digits)

    def unknown_words(self, phrases: tuple[str, ...] | list[str]) -> list[str]:
        """Whisper has an open vocabulary: it can hear any English word."""
        return []

    def recognizer(self, grammar: Grammar) -> WhisperRecognizer:
        return WhisperRecognizer(self, *self.prompts(grammar))


class WhisperRecognizer:
    """One utterance; the same early decode as pocketsphinx (prefetch at the pause, peek)."""

    def __init__(self, engine: WhisperEngine, prompts: tuple[str | None, ...],
                 digits: bool) -> None:
        self._utterance: EarlyDecode[WhisperResult] = EarlyDecode(
            lambda pcm: engine.decode(pcm, prompts, digits))
        self.result: WhisperResult | None = None  # the raw figures, for calibration scripts

    def accept(self, pcm: bytes) -> str | None:
        self._utterance.accept(pcm)
        return None

    def prefetch(self, tail_ms: int) -> None:
        self._utterance.prefetch(tail_ms)

    def peek(self) -> Hypothesis | None:
        result = self._utterance.early()
        return None if result is None else hypothesis(result)

    def finish(self) -> Hypothesis:
        self.result = self._utterance.finish()
        return hypothesis(self.result)
