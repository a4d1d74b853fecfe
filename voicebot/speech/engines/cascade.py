"""The cascade: Whisper hears every turn; the grammar pass (pocketsphinx) decodes the same
audio only where it can change the answer: when Whisper hears a number of the wrong length
(its number of the right length is taken), and when a short utterance means nothing at the
turn in Whisper's transcript (its confident phrase of the grammar is taken).

Why this shape (scripts/tune_whisper.py --rules; figures in the README's measurements):
letting the grammar pass answer first when it is confident took wrong branches on
sentences ("I'm calling about my order" forced onto a phrase, confidently) and passed off
noise as answers, while on single phrases and sentences it never added a right answer that
Whisper missed: agreement only confirmed what Whisper had. Where it does help is numbers:
Whisper drops or repeats a digit now and then ("five five five zero" -> "five five zero"),
and a collect node knows how many digits it wants, so when Whisper's digits are the wrong
count and the grammar pass's are the right one, the grammar pass's answer is taken.
The grammar pass decodes only then, after Whisper: decoding both at every pause of every
number (the early decode) made simultaneous callers wait noticeably longer on every number,
for an answer that changes few of them; and a number of the wrong length would be asked
again, which costs the caller far more than one extra decode.

Short answers are where Whisper is weakest (a word on its own, "Operator.", heard as "the
regular") and a grammar is strongest; forcing a sentence onto a phrase is what a grammar
gets wrong, so the grammar pass is asked only for utterances no longer than SHORT_S (speech
with its end silence), only when Whisper's transcript means nothing at the turn or is under
the default threshold, and its answer is taken only if it is confident and means something.
It is also asked when Whisper's transcript of a short utterance gives an answer only
loosely (not a phrase of the grammar as said: "Operator." written as "order reader", taken
as "order"), and when Whisper's transcript of a number turn means nothing and holds no
digit or is under the default threshold (its prompt there leads with the digits, and
"Representative, please." came out as "reprementative clean" or "rapper man three zero
please"); then only a request for a person is taken from it. In a number turn the
grammar's other sentences are digit strings, which a sentence that is no request is forced
onto, so this needs no length limit. Last, when Whisper's transcript gives a menu answer
but under the default threshold ("Um, yeah." written "um yes" at 0.4), the grammar pass
is asked whether it hears the same answer; two engines that err differently agreeing is
taken at the grammar pass's confidence, and nothing else changes (not on yes/no questions,
where a sentence forced onto "right" would confirm a wrong number).
"""

from __future__ import annotations

from dataclasses import replace

from voicebot.speech.engines import alternatives
from voicebot.speech.engines.common import (
    DEFAULT_THRESHOLD,
    DIGIT_WORDS,
    SPOKEN_DIGITS,
    grammar_phrases,
    normalize,
)
from voicebot.speech.types import Grammar, Hypothesis, Recognizer

# Utterances up to this long (as the recognizer gets them: speech, end silence, pre-roll)
# may be answered by the grammar pass, when it is at least SHORT_TAKE sure.
SHORT_S = 1.2
SHORT_TAKE = DEFAULT_THRESHOLD
_BYTES_PER_S = 16000  # 8 kHz 16-bit PCM


def _digits(text: str) -> str | None:
    words = text.split()
    if not words or not all(w in SPOKEN_DIGITS for w in words):
        return None
    return "".join(str(DIGIT_WORDS.index(w)) if w in DIGIT_WORDS else "0" for w in words)


def needs_fast(slow: Hypothesis, grammar: Grammar) -> bool:
    """Whether the grammar pass could change the answer: Whisper heard digits, but not as
    many as the number turn wants."""
    digits = _digits(slow.text) if slow.text else None
    return bool(grammar.allow_digits and grammar.max_digits and digits is not None
                and len(digits) != grammar.max_digits)


def choose(fast: Hypothesis, slow: Hypothesis, grammar: Grammar) -> Hypothesis:
    """The cascade's answer from both engines' hypotheses of one utterance: Whisper's,
    unless its number has the wrong length and the grammar pass's the right one (or the
    same number: then the higher confidence of the two)."""
    pick = slow
    if grammar.allow_digits and grammar.max_digits and fast.text and slow.text:
        fast_digits, slow_digits = _digits(fast.text), _digits(slow.text)
        if fast_digits is not None and slow_digits is not None:
            if fast_digits == slow_digits:
                pick = max(slow, fast, key=lambda h: h.confidence)
            elif len(fast_digits) == grammar.max_digits != len(slow_digits):
                pick = fast
    return replace(pick, engine=f"cascade:{pick.engine}")


def means_nothing(hyp: Hypothesis, grammar: Grammar) -> bool:
    """Whether a hypothesis gives the turn nothing to act on (no meaning, or too unsure)."""
    return (not hyp.text or hyp.confidence < DEFAULT_THRESHOLD
            or alternatives.meaning(grammar, hyp.text) is None)


def _sure_meaning(fast: Hypothesis, grammar: Grammar) -> str | None:
    """What the grammar pass's hypothesis means at the turn, if it is in the grammar and at
    least SHORT_TAKE sure; else None."""
    if not fast.text or not fast.in_grammar or fast.confidence < SHORT_TAKE:
        return None
    return alternatives.meaning(grammar, fast.text)


def short_answer(fast: Hypothesis, slow: Hypothesis, grammar: Grammar) -> Hypothesis:
    """The grammar pass's answer to a short utterance when Whisper's means nothing: taken
    if it is in the grammar, at least SHORT_TAKE sure and means something at the turn."""
    pick = fast if _sure_meaning(fast, grammar) is not None else slow
    return replace(pick, engine=f"cascade:{pick.engine}")


def loose(hyp: Hypothesis, grammar: Grammar) -> bool:
    """Whether Whisper's transcript gives its answer only loosely: it is not one of the
    grammar's phrases as said ("order reader" for "Operator." is taken as "order"), and
    not a request for a person."""
    return (normalize(hyp.text) not in grammar_phrases(grammar)
            and alternatives.meaning(grammar, hyp.text) != alternatives.ESCAPE)


def number_unheard(slow: Hypothesis, grammar: Grammar) -> bool:
    """Whether Whisper's transcript of a number turn gives it nothing and holds no digit
    (words, "o" or figures) or is unsure: then the grammar pass may hear a request."""
    no_digit = not any(w in SPOKEN_DIGITS or w == "o" or w.isdigit()
                       for w in normalize(slow.text).split())
    return (grammar.allow_digits and means_nothing(slow, grammar)
            and (no_digit or slow.confidence < DEFAULT_THRESHOLD))


def grammar_request(fast: Hypothesis, slow: Hypothesis, grammar: Grammar) -> Hypothesis:
    """The grammar pass's request for a person, when it hears one at least SHORT_TAKE sure
    where Whisper's transcript gives no request (a short utterance taken loosely as
    something else, a number turn with no digit heard); else Whisper's answer. Only a
    request: a missed one sends the caller down the wrong branch, or traps them, while a
    grammar is at its strongest on a word said alone."""
    pick = fast if _sure_meaning(fast, grammar) == alternatives.ESCAPE else slow
    return replace(pick, engine=f"cascade:{pick.engine}")


def unsure_answer(slow: Hypothesis, grammar: Grammar) -> bool:
    """Whether Whisper's transcript gives a menu answer, but under the default threshold
    (not a yes/no question, where a sentence forced onto "right" would confirm a wrong
    number, and not a number)."""
    return (bool(slow.text) and slow.confidence < DEFAULT_THRESHOLD
            and not grammar.allow_digits and grammar.answer != "yes_no"
            and alternatives.meaning(grammar, slow.text) not in (None, alternatives.ESCAPE))


def agreed(fast: Hypothesis, slow: Hypothesis, grammar: Grammar) -> Hypothesis:
    """Whisper's unsure answer, taken at the grammar pass's confidence when the grammar pass
    gives the same answer at least SHORT_TAKE sure: two engines that err differently
    agreeing; else Whisper's as it was."""
    meant = alternatives.meaning(grammar, slow.text)
    pick = slow
    if _sure_meaning(fast, grammar) == meant:
        pick = replace(slow, confidence=max(slow.confidence, fast.confidence))
    return replace(pick, engine=f"cascade:{pick.engine}")


def fast_first(fast: Hypothesis, slow: Hypothesis, take: float) -> Hypothesis:
    """The rule measured against choose() and not used: the grammar pass's answer when it
    is in its grammar and at least `take` confident, else Whisper's."""
    sure = fast.text and fast.in_grammar and fast.confidence >= take
    return fast if sure or not slow.text else slow


class CascadeEngine:
    """Both engines, shared by every call (each keeps its own decoders)."""

    name = "cascade"

    def __init__(self, fast, slow) -> None:
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
        if grammar.is_free:
            return slow  # the grammar pass needs a grammar
        return CascadeRecognizer(self.fast.recognizer(grammar), slow, grammar)


class CascadeRecognizer:
    """One utterance: both engines hear it, Whisper decodes it (early, at the pause, too),
    the grammar pass only when Whisper's number has the wrong length (`needs_fast`), its
    transcript of a number turn means nothing and holds no digit or is unsure, a short
    utterance means nothing in Whisper's transcript (`means_nothing`) or only loosely, or
    its menu answer is unsure (`unsure_answer`)."""

    def __init__(self, fast: Recognizer, slow: Recognizer, grammar: Grammar) -> None:
        self.fast = fast
        self.slow = slow
        self._grammar = grammar
        self._bytes = 0

    def accept(self, pcm: bytes) -> str | None:
        self.fast.accept(pcm)
        self.slow.accept(pcm)
        self._bytes += len(pcm)
        return None

    def prefetch(self, tail_ms: int) -> None:
        self.slow.prefetch(tail_ms)

    def peek(self) -> Hypothesis | None:
        """Whisper's early answer, unless it needs the grammar pass (then: no early answer)."""
        slow = self.slow.peek()
        if slow is None or needs_fast(slow, self._grammar):
            return None
        return replace(slow, engine=f"cascade:{slow.engine}")

    def finish(self) -> Hypothesis:
        slow = self.slow.finish()
        if needs_fast(slow, self._grammar):
            return choose(self.fast.finish(), slow, self._grammar)
        if number_unheard(slow, self._grammar):
            return grammar_request(self.fast.finish(), slow, self._grammar)
        if self._bytes <= SHORT_S * _BYTES_PER_S and not self._grammar.allow_digits:
            if means_nothing(slow, self._grammar):
                return short_answer(self.fast.finish(), slow, self._grammar)
            if loose(slow, self._grammar):
                return grammar_request(self.fast.finish(), slow, self._grammar)
        if unsure_answer(slow, self._grammar):
            return agreed(self.fast.finish(), slow, self._grammar)
        return replace(slow, engine=f"cascade:{slow.engine}")
