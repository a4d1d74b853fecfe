"""The speech path's shared types: what an engine returns and what the endpointer reports.

Engines and the endpointer work on 16-bit little-endian mono PCM at 8 kHz (phone rate), in
20 ms frames (160 samples, 320 bytes). Engines that need another rate resample inside.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

PHONE_RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = PHONE_RATE * FRAME_MS // 1000  # 160
FRAME_BYTES = FRAME_SAMPLES * 2  # 320 bytes of 16-bit PCM, or 160 bytes of mu-law
# How long before the end of an utterance its decode may start (speech_pause): about what the
# decode of a short answer takes, so the result is ready when the silence is confirmed. A
# longer lead would cut the end silence the early decode hears, and cost accuracy.
PREFETCH_LEAD_MS = 160


@dataclass(frozen=True)
class Word:
    word: str
    start: float  # seconds from the start of the utterance
    end: float
    confidence: float  # 0..1


@dataclass(frozen=True)
class Hypothesis:
    """A final recognition result for one utterance."""

    text: str  # normalised: lower case, no punctuation; "" when nothing was recognised
    confidence: float  # 0..1; low for out-of-grammar speech and noise
    words: tuple[Word, ...] = ()
    in_grammar: bool = True  # False when the reject path of a grammar fired
    engine: str = ""


@dataclass(frozen=True)
class Grammar:
    """What the recognizer may hear in this turn. Empty phrases: free speech."""

    phrases: tuple[str, ...] = ()
    allow_digits: bool = False  # also accept any string of spoken digits (collect digits)
    # At most this many digits (a collect node's length): a recognizer that may hear any
    # number of them inserts extras ("four" -> "four oh"); None: any number.
    max_digits: int | None = None
    # Phrases that mean the same (synonyms of one answer). An engine's confidence compares
    # the answer with what means something else: "yes" against "yeah" is no doubt at all.
    groups: tuple[tuple[str, ...], ...] = ()
    # The phrases that ask for a person (the flow's escape phrases; its rules also find a
    # request in other words), and what kind of answer the turn takes: "" (one of the
    # groups), "digits", "yes_no", "number" or "free". An engine that weighs several
    # transcripts of one utterance looks for these meanings in them.
    escapes: tuple[str, ...] = ()
    answer: str = ""

    @property
    def is_free(self) -> bool:
        return not self.phrases and not self.allow_digits


class Recognizer(Protocol):
    """One utterance's decoder. Not thread-safe; one per call turn."""

    def accept(self, pcm: bytes) -> str | None:
        """Feed 8 kHz 16-bit PCM; returns partial text when it changed, else None."""

    def finish(self) -> Hypothesis:
        """End of utterance: the final hypothesis. The recognizer is spent afterwards."""


@runtime_checkable
class EarlyDecoder(Recognizer, Protocol):
    """A recognizer that can decode before the end of the utterance is confirmed, so the
    answer is ready when it is (pocketsphinx). `isinstance(rec, EarlyDecoder)` is how a
    caller asks; recognizers without it simply decode at finish()."""

    def prefetch(self, tail_ms: int) -> None:
        """The caller paused (speech_pause): start decoding what was heard, followed by
        `tail_ms` of silence. Superseded if the caller goes on."""

    def peek(self) -> Hypothesis | None:
        """The early decode, if one is done and nothing was said after its pause."""


class Engine(Protocol):
    """A loaded model shared by every call of the process (thread-safe to create recognizers)."""

    name: str  # "vosk" | "pocketsphinx"
    model: str  # model name or path, for logs and records

    def recognizer(self, grammar: Grammar) -> Recognizer: ...


# ------------------------------------------------------------------- endpointer events

EndpointKind = Literal["speech_start", "speech_pause", "end_check", "speech_end", "no_input",
                       "max_length"]


@dataclass(frozen=True)
class EndpointEvent:
    """Reported by voicebot.speech.endpoint.Endpointer when fed frames.

    speech_start: the caller has been voiced for the minimum duration (barge-in uses this);
      `audio` holds the PCM from slightly before the start (pre-roll) so nothing is lost.
    speech_pause: the trailing silence is PREFETCH_LEAD_MS short of ending the utterance; a
      recognizer may start decoding now (speech_end follows unless the caller goes on).
      With a check point armed (Endpointer.listen(check_ms=...)) it comes before each.
      `tail_ms`: the silence to add to the audio so far for that decode: what is left of
      the usual end silence (at least PREFETCH_LEAD_MS), so an early decode hears the
      utterance end as a usual one does (confidence is calibrated on that).
    end_check: the trailing silence reached the shorter check point; the session may end the
      utterance now (Endpointer.end_now) if what was said is already a complete answer.
    speech_end: trailing silence reached; the utterance is complete.
    max_length: the utterance hit the maximum length and was cut.
    no_input: nothing was said within the timeout since listening began.
    t: stream time in seconds of the frame that triggered the event.
    """

    kind: EndpointKind
    t: float
    audio: bytes = field(default=b"", repr=False)
    tail_ms: int = 0
