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
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from voicebot.flow.escape import names_whom
from voicebot.flow.matching import HESITATIONS
from voicebot.speech.engines import alternatives, calibration
from voicebot.speech.engines.alternatives import Transcript
from voicebot.speech.engines.common import (
    DIGIT_WORDS,
    SPOKEN_DIGITS,
    clamp01,
    grammar_phrases,
    logistic,
)
from voicebot.speech.engines.early import EarlyDecode
from voicebot.speech.engines.priority import AGAIN, FIRST
from voicebot.speech.engines.whisper_decode import (
    Encoded,
    WhisperOptions,
    WhisperResult,
    shared_core,
)
from voicebot.speech.types import Grammar, Hypothesis

ENGINE = "whisper"
# Words a sentence opens with that say nothing yet (hesitations and discourse markers).
OPENERS = HESITATIONS | {"so", "well", "actually", "oh", "okay", "ok", "and", "but", "hi",
                         "hello"}


def hears_digits(grammar: Grammar) -> bool:
    """Whether the turn listens for digits (a number, or a list of digit words)."""
    phrases = grammar_phrases(grammar)
    return grammar.allow_digits or (bool(phrases) and all(p in SPOKEN_DIGITS for p in phrases))


def prompts_for(grammar: Grammar, digits_first: bool = False) -> tuple[str | None, ...]:
    """The grammar as Whisper's prompt. Phrases are listed with commas; digits are written
    as one run of words ("zero one two ... nine"), which measured far better for spoken
    digits than a comma list (the list invited "six, six, six"); if a decode loops on that
    run (it can repeat it over a sentence), the all-comma list is tried next."""
    words = [p for p in grammar_phrases(grammar) if p not in SPOKEN_DIGITS]
    listed = ", ".join(words)
    run = " ".join(DIGIT_WORDS) if hears_digits(grammar) else ""
    if not listed and not run:
        return (None,)
    if grammar.answer == "yes_no" and not run:
        return (_yes_no_prompt(grammar.escapes), listed + ".")
    if not run:
        return (listed + ".",)
    if not listed:
        return (run, ", ".join(DIGIT_WORDS) + ".")
    if digits_first:
        return (f"{run}. {listed}.", ", ".join([*DIGIT_WORDS, *words]) + ".")
    return (f"{listed}. {run}", ", ".join([*words, *DIGIT_WORDS]) + ".")


def _yes_no_prompt(escapes: tuple[str, ...]) -> str:
    """A yes/no question's prompt: "Yes. No." and the flow's escape phrases. The list of
    every way to say yes and no ("yes, yeah, yep, yup, correct, …") led Whisper to write a
    lone "Yes." as "yeah yeah" or "yep yep" at low confidence, so it was neither taken at
    once nor, often, at all."""
    return "Yes. No." + (f" {', '.join(escapes)}." if escapes else "")


# Ways callers ask for a person, filled with the flow's own person words for the request
# prompt (request_prompt).
_REQUEST_FRAMES = ("I'd like to speak to {}.", "Can I talk to {}?", "Transfer me to {}, please.",
                   "Put me through to {}.", "Get me {}.")


def request_prompt(escapes: tuple[str, ...]) -> str | None:
    """A prompt of requests for a person, in the flow's words: "I'd like to speak to an
    agent. Can I talk to a representative? ..." (each one-word escape phrase once, in a
    frame callers use; the flow's longer phrases as they are). Why: a list of phrases
    primes Whisper for phrases said alone, while callers put the request in a sentence."""
    words = [p for p in escapes if p.isalpha()]
    named = [f"{'an' if w[0] in 'aeiou' else 'a'} {w}" for w in words]
    said = [_REQUEST_FRAMES[i % len(_REQUEST_FRAMES)].format(w) for i, w in enumerate(named)]
    said += [p[0].upper() + p[1:] + ", please." for p in escapes if not p.isalpha()]
    return " ".join(said) or None


def confidence(result: WhisperResult) -> float:
    """P(the answer is right), calibrated on the tuning split (calibration.py)."""
    x = (calibration.WHISPER_LOGPROB_SLOPE * result.avg_logprob
         + calibration.WHISPER_NO_SPEECH_SLOPE * result.no_speech_prob
         + calibration.WHISPER_BIAS)
    return clamp01(logistic(x))


def hypothesis(result: WhisperResult, reject_below: float = calibration.WHISPER_REJECT_BELOW,
               grammar: Grammar | None = None, within: float = 0.0) -> Hypothesis:
    """The Hypothesis a result gives, or a rejection (text "", in_grammar False). With the
    turn's `grammar`, a transcript of the beam other than the best may be passed on
    (engines/alternatives.py), with its own confidence."""
    if result.foreign or not result.text \
            or result.no_speech_prob >= calibration.WHISPER_NO_SPEECH_REJECT:
        return Hypothesis(text="", confidence=0.0, in_grammar=False, engine=ENGINE)
    if grammar is not None and result.alternatives:
        found = [Transcript(result.text, result.avg_logprob),
                 *(Transcript(text, logprob) for text, logprob in result.alternatives)]
        if alternatives.contradicted(found, grammar, within):  # asked again
            return Hypothesis(text="", confidence=0.0, in_grammar=False, engine=ENGINE)
        pick = alternatives.choose(found, grammar, within)
        if pick:
            result = replace(result, text=found[pick].text, avg_logprob=found[pick].logprob)
    conf = confidence(result)
    if conf < reject_below:
        return Hypothesis(text="", confidence=conf, in_grammar=False, engine=ENGINE)
    return Hypothesis(text=result.text, confidence=conf, in_grammar=True, engine=ENGINE)


@dataclass(frozen=True)
class TurnPrompts:
    """A turn's prompts: the grammar's (tried in order while a decode loops), whether it
    listens for digits, and for a number turn with phrases the phrases alone (None: none)."""

    prompts: tuple[str | None, ...]
    digits: bool
    phrases: tuple[str | None, ...] | None = None
    request: str | None = None  # request_prompt of the turn's escape phrases


class WhisperEngine:
    """Shared by every call: the loaded model and the prompts of the grammars seen."""

    name = ENGINE

    def __init__(self, model_dir: Path | str, *, parallel: int = 1,
                 options: WhisperOptions | None = None, model_label: str | None = None) -> None:
        self.model_dir = Path(model_dir)
        self.options = options or WhisperOptions()
        self._beam_again = replace(self.options, digits_beam_size=self.options.digits_beam_again)
        self.parallel = parallel
        self.model = model_label or f"whisper ({self.model_dir})"
        self._core = shared_core(self.model_dir, parallel)  # fails now, not in a call
        self._core.silence()  # a full encode: at start-up rather than in the first call
        self._prompts: dict[tuple, TurnPrompts] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None  # other speeds read side by side

    def prompts(self, grammar: Grammar) -> TurnPrompts:
        """The turn's prompts (cached per grammar)."""
        key = (grammar.phrases, grammar.allow_digits, grammar.escapes)
        with self._lock:
            hit = self._prompts.get(key)
            if hit is None:
                digits = hears_digits(grammar)
                words = replace(grammar, allow_digits=False, max_digits=None)
                phrases = prompts_for(words) if digits and grammar_phrases(words) else None
                hit = self._prompts[key] = TurnPrompts(
                    prompts_for(grammar, self.options.digits_first), digits, phrases,
                    request_prompt(grammar.escapes) if self.options.request_prompt else None)
        return hit

    def decode(self, pcm: bytes | Encoded, prompts: tuple[str | None, ...],
               digits: bool = False, rank: int = FIRST) -> WhisperResult:
        """One utterance, in this thread (CTranslate2 releases the GIL while it works);
        `rank`: AGAIN for a turn read again, which waits behind other turns' first decodes."""
        return self._core.decode(pcm, prompts, self.options, digits, rank)

    def decode_turn(self, pcm: bytes, grammar: Grammar) -> WhisperResult:
        """One utterance of a turn. A number turn's greedy decode that holds no number of the
        wanted length is decoded again with a beam (digits_beam_again): greedy search reads
        numbers said alone best, a beam numbers said inside a sentence. When the decode
        still means nothing at the turn, the caller may have asked for a person in words
        Whisper did not expect: the utterance is decoded again, first (on a number turn,
        whose prompt leads Whisper to write digits even for "representative, please") with
        the turn's phrases alone as the prompt, then with requests for a person
        (request_prompt); a second decode is taken only if it asks for a person (with the
        request prompt, naming whom), so it can hand a caller over but never
        choose an answer. If the turn still means nothing, it is heard at other speeds
        (_other_speeds), except where digits are heard (a number is decoded early at every
        pause between its digits, to hear "agent" said there, and each of those partial
        numbers means nothing yet) and in free speech (any text is the answer there)."""
        turn = self.prompts(grammar)
        encoded = self._core.encoded(pcm, self.options)  # encoded once for every reading
        result = self.decode(encoded, turn.prompts, turn.digits)
        if self._meaning(result, grammar) is not None:
            return result
        if turn.digits and self.options.digits_beam_again > 1:
            again = self._core.decode(encoded, turn.prompts, self._beam_again, True, AGAIN)
            if self._meaning(again, grammar) is not None:
                return again
        heard = self._heard(result, grammar)  # not noise
        asks = self._asks(encoded, turn, grammar, heard)
        if asks is not None:
            return asks
        if heard and self.options.other_speeds and not turn.digits and not grammar.is_free:
            return self._other_speeds(pcm, turn, grammar) or result
        return result

    def _asks(self, encoded: Encoded, turn: TurnPrompts, grammar: Grammar,
              heard: bool) -> WhisperResult | None:
        """A second reading of the utterance that asks for a person, or None. With the
        request prompt it must name whom ("an operator"), not only "someone": Whisper
        writes that from the prompt alone over audio it makes little of ("The person at
        the door said I should call." read "I'd like to speak to someone, please")."""
        again = [(turn.phrases, False)] if turn.phrases is not None else []
        if turn.request and heard:
            again.append(((turn.request,), True))
        for prompts, must_name in again:
            second = self.decode(encoded, prompts, False, AGAIN)
            text = self._text(second, grammar)
            if alternatives.meaning(grammar, text) == alternatives.ESCAPE and (
                    not must_name or names_whom(text, grammar.escapes)):
                return second
        return None

    def _other_speeds(self, pcm: bytes, turn: TurnPrompts, grammar: Grammar
                      ) -> WhisperResult | None:
        """Whisper tiny.en mishears words in ways that change with how fast they are said
        ("billing" as "million", "parcel" as "path"), so a turn that means nothing is heard
        again with its audio played faster and slower. A reading that asks for a person
        (with the turn's prompt or the request prompt) hands the caller over; an answer is
        taken only when `speeds_agree` readings give it and none gives another, because a
        prompt full of the menu's words can pull one reading onto them ("reset my
        password" read once as "refund my password")."""
        readings = [found for speed in self._readings(pcm, turn, grammar) for found in speed]
        pick = alternatives.settle([meant for _, meant in readings], self.options.speeds_agree,
                                   grammar)
        return None if pick is None else readings[pick][0]

    def _readings(self, pcm: bytes, turn: TurnPrompts, grammar: Grammar
                  ) -> Iterator[list[tuple[WhisperResult, str | None]]]:
        """Each other speed's reading with its meaning, followed by its request reading if
        that asks for a person, in the order of `other_speeds`. With more than one decode
        allowed at once, the speeds are read side by side (a lone caller waits for about
        half of them); else one by one, and the reading stops at a request for a person."""
        asked = set(self.options.other_speeds[:self.options.speeds_request])

        def read(speed: float) -> list[tuple[WhisperResult, str | None]]:
            encoded = self._core.encoded(pcm, self.options, speed, AGAIN)
            reading = self.decode(encoded, turn.prompts, rank=AGAIN)  # never a number turn
            found = [(reading, self._meaning(reading, grammar))]
            if found[0][1] != alternatives.ESCAPE and speed in asked:
                asks = self._asks(encoded, turn, grammar, heard=True)
                found += [(asks, alternatives.ESCAPE)] if asks is not None else []
            return found

        if self.parallel < 2:
            return self._until_asked(map(read, self.options.other_speeds))
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.parallel, "whisper-speeds")
        return iter(list(self._pool.map(read, self.options.other_speeds)))

    @staticmethod
    def _until_asked(speeds: Iterator[list[tuple[WhisperResult, str | None]]]
                     ) -> Iterator[list[tuple[WhisperResult, str | None]]]:
        for found in speeds:
            yield found
            if any(meant == alternatives.ESCAPE for _, meant in found):
                return

    def _heard(self, result: WhisperResult, grammar: Grammar) -> bool:
        """Whether the decode is speech worth a second look: not rejected as noise, and not
        a sentence's opening word alone ("um", "actually": what an early decode at a pause
        hears before the caller goes on, and what Whisper, read again, fills with its
        prompt: "Actually," as "I'd like to talk to someone, please")."""
        text = hypothesis(result, grammar=grammar).text
        return bool(text) and not set(text.split()) <= OPENERS

    def _text(self, result: WhisperResult, grammar: Grammar) -> str:
        """What the turn takes from a decode (a near transcript of the beam may stand in)."""
        return hypothesis(result, grammar=grammar, within=self.options.alternatives_within).text

    def _meaning(self, result: WhisperResult, grammar: Grammar) -> str | None:
        return alternatives.meaning(grammar, self._text(result, grammar))

    def unknown_words(self, phrases: tuple[str, ...] | list[str]) -> list[str]:
        """Whisper has an open vocabulary: it can hear any English word."""
        return []

    def recognizer(self, grammar: Grammar) -> WhisperRecognizer:
        return WhisperRecognizer(self, grammar)


class WhisperRecognizer:
    """One utterance; the same early decode as pocketsphinx (prefetch at the pause, peek)."""

    def __init__(self, engine: WhisperEngine, grammar: Grammar) -> None:
        self._utterance: EarlyDecode[WhisperResult] = EarlyDecode(
            lambda pcm: engine.decode_turn(pcm, grammar))
        self._grammar = grammar
        self._within = engine.options.alternatives_within
        self.result: WhisperResult | None = None  # the raw figures, for calibration scripts

    def _hypothesis(self, result: WhisperResult) -> Hypothesis:
        return hypothesis(result, grammar=self._grammar, within=self._within)

    def accept(self, pcm: bytes) -> str | None:
        self._utterance.accept(pcm)
        return None

    def prefetch(self, tail_ms: int) -> None:
        self._utterance.prefetch(tail_ms)

    def peek(self) -> Hypothesis | None:
        result = self._utterance.early()
        return None if result is None else self._hypothesis(result)

    def finish(self) -> Hypothesis:
        self.result = self._utterance.finish()
        return self._hypothesis(self.result)
