"""The embedded default engine: PocketSphinx 5 with the US English model its wheel ships.

How an utterance is decoded (the figures behind each choice are in the README's
*Measurements*):
- Phone audio is upsampled to the model's 16 kHz: its features were trained on wide band.
- Speech is scaled to one level, so a quiet caller meets the same noise floor as a loud one.
- The utterance is framed with low-level noise (the decoder needs silence around words) and
  decoded in one batch, with CMN over the whole utterance reset every time, so a result
  depends only on the audio and the grammar. accept() only buffers: no partial results.
- Decoding runs in worker processes (speech/workers.py), because pocketsphinx holds the GIL
  while it searches; `workers=0` decodes in the calling thread (scripts/bench_digits.py).
- A JSGF grammar per turn; compiled searches are cached per decoder, and decoders live as
  long as the engine because building one is slow. The decode is in pocketsphinx_decode.py.
- Confidence compares the grammar's best path with a free phone loop and, for phrase lists,
  with the grammar without the recognised phrase, through a logistic calibrated so that 0.5
  separates right answers from out-of-grammar speech (calibration.py). Below REJECT_BELOW
  the reject path fires: text "", in_grammar False.
"""

from __future__ import annotations

import logging
import os
import queue
import threading

from voicebot.logs import log_event
from voicebot.speech.engines import decode_worker
from voicebot.speech.engines.common import EngineError, grammar_phrases, normalize, spelling
from voicebot.speech.engines.early import EarlyDecode
from voicebot.speech.engines.pocketsphinx_decode import (
    DIGIT_VARIANTS,
    MIN_BYTES,
    Compiled,
    DecodeCore,
    DecodeResult,
    PocketsphinxOptions,
    combine,
    compile_grammar,
    model_paths,
)
from voicebot.speech.types import Grammar, Hypothesis
from voicebot.speech.workers import (
    Lease,
    PoolHealth,
    WorkerCrashed,
    WorkerError,
    WorkerPool,
    WorkerRequestError,
    WorkerSpec,
)

__all__ = ["DIGIT_VARIANTS", "PocketsphinxEngine", "PocketsphinxOptions",
           "PocketsphinxRecognizer"]

log = logging.getLogger(__name__)

DECODE_DEADLINE_S = 30.0  # offline tools; the service passes VOICEBOT_DECODE_DEADLINE_S
START_TIMEOUT_S = 120.0  # a worker loads the model (~1 s; longer on a busy machine)


def default_workers() -> int:
    """One decoder process per CPU this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class PocketsphinxEngine:
    """Shared by every call: owns the grammar cache and the decoders (worker processes, or
    in-process decoders when workers=0)."""

    name = "pocketsphinx"

    def __init__(self, options: PocketsphinxOptions | None = None,
                 workers: int | None = None, *, deadline_s: float | None = None) -> None:
        self.options = options or PocketsphinxOptions()
        self._hmm, self._dict, _ = model_paths()
        self.model = f"pocketsphinx en-us ({self._hmm})"
        self._words = self._read_dictionary()
        self._compiled: dict[tuple, Compiled] = {}
        self._lock = threading.Lock()
        self.workers = default_workers() if workers is None else workers
        if not 0 <= self.workers <= 64:
            raise EngineError(f"decoder workers must be between 0 and 64, not {self.workers}")
        self._cores: queue.SimpleQueue[DecodeCore] = queue.SimpleQueue()
        self._pool: WorkerPool | None = None
        if self.workers > 0:
            spec = WorkerSpec(decode_worker.INITIALIZER, decode_worker.HANDLER, self.options)
            try:  # fails now, not in a call
                self._pool = WorkerPool(spec, self.workers, name="decoder",
                                        deadline_s=deadline_s or DECODE_DEADLINE_S,
                                        start_timeout_s=START_TIMEOUT_S)
            except WorkerError as exc:
                raise EngineError(str(exc)) from None
        else:
            self._cores.put(DecodeCore(self.options))

    def _read_dictionary(self) -> set[str]:
        words = set()
        with open(self._dict, encoding="utf-8") as fh:
            for line in fh:
                head = line.split(" ", 1)[0]
                words.add(head.split("(", 1)[0])
        return words

    def _spell(self, word: str) -> str | None:
        """A normalised word as the dictionary spells it ("thats" -> "that's"), or None."""
        return spelling(word, self._words.__contains__)

    # ------------------------------------------------------------------ decoding

    def decode(self, grammar: Compiled, pcm: bytes) -> DecodeResult:
        """Decode one utterance (8 kHz PCM) in a worker, or here when workers=0."""
        if self._pool is not None:
            return self._decode_in_workers(grammar, pcm)
        try:
            core = self._cores.get_nowait()
        except queue.Empty:
            core = DecodeCore(self.options)
        try:
            return core.decode(grammar, pcm)
        finally:
            self._cores.put(core)

    def _decode_in_workers(self, grammar: Compiled, pcm: bytes) -> DecodeResult:
        """When a second worker is idle, it runs the phone loop (most of the CPU) while the
        first runs the grammar passes, so a lone utterance's answer comes sooner; under load
        each utterance stays in one worker. Same scores, same result either way."""
        pool = self._pool
        assert pool is not None
        try:
            main = pool.take()
            assert main is not None
            helper = None
            if self.options.confidence_pass and len(pcm) >= MIN_BYTES:
                helper = pool.take(block=False)
            return self._split_decode(grammar, pcm, main, helper)
        except WorkerRequestError as exc:
            raise EngineError(f"decoding failed: {exc}") from None
        except WorkerError as exc:
            raise EngineError(str(exc)) from None

    def _split_decode(self, grammar: Compiled, pcm: bytes, main: Lease,
                      helper: Lease | None) -> DecodeResult:
        p_score = None
        try:
            if helper is not None:
                try:
                    helper.submit(("phone", pcm))
                except WorkerCrashed:  # that worker died (and is being replaced): do it here
                    helper = None
            part = main.submit(("grammar", grammar, pcm, helper is None)).result()
        finally:
            if helper is not None:  # always collect it, so its answer goes to no one else
                p_score = helper.result()
        return combine(self.options, grammar, part, p_score)

    def warm(self, grammar: Grammar) -> int:
        """Compile a grammar in every decoder now (the first turn's: every call starts there)."""
        compiled = self._grammar(grammar)
        if self._pool is not None:
            try:
                return self._pool.broadcast(("warm", compiled))
            except WorkerError as exc:
                raise EngineError(str(exc)) from None
        core = self._cores.get()
        try:
            core.warm(compiled)
        finally:
            self._cores.put(core)
        return 1

    @property
    def worker_pids(self) -> list[int]:
        return self._pool.pids if self._pool is not None else []

    def health(self) -> PoolHealth | None:
        """The decoder workers' state (None when decoding in the calling thread)."""
        return self._pool.health() if self._pool is not None else None

    def close(self) -> None:
        """Stop the decoder processes (also done at exit)."""
        if self._pool is not None:
            self._pool.close()

    # ------------------------------------------------------------------ grammars

    def unknown_words(self, phrases: tuple[str, ...] | list[str]) -> list[str]:
        """Words of the phrases that the dictionary lacks (they cannot be recognised)."""
        return sorted({w for p in phrases for w in normalize(p).split() if self._spell(w) is None})

    def _grammar(self, grammar: Grammar) -> Compiled:
        """The compiled form of a grammar (cached: the same turn repeats on every call)."""
        key = (grammar.phrases, grammar.allow_digits, grammar.max_digits, grammar.groups)
        with self._lock:
            hit = self._compiled.get(key)
        if hit:
            return hit
        phrases = grammar_phrases(grammar)
        spelled = {p: [self._spell(w) for w in p.split()] for p in phrases}
        usable = tuple(p for p in phrases if all(spelled[p]))
        dropped = len(phrases) - len(usable)
        if dropped:
            log_event(log, "speech.grammar.unknown_words", level=logging.WARNING,
                      engine=self.name, dropped_phrases=dropped,
                      words=self.unknown_words(phrases))
        if not usable and not grammar.allow_digits:
            raise EngineError("the grammar has no phrase pocketsphinx can recognise "
                              f"(unknown words: {', '.join(self.unknown_words(phrases))})")
        groups = tuple(tuple(dict.fromkeys(n for p in g if (n := normalize(p)) in usable))
                       for g in grammar.groups)
        spellings = {p: s for p in usable if (s := " ".join(spelled[p])) != p}
        value = compile_grammar(usable, grammar.allow_digits, grammar.max_digits, groups,
                                spellings)
        with self._lock:
            self._compiled[key] = value
        return value

    def recognizer(self, grammar: Grammar) -> PocketsphinxRecognizer:
        if grammar.is_free:
            # The free n-gram search is slower than real time and inaccurate on phone
            # audio: a turn must say what it listens for.
            raise EngineError("pocketsphinx needs a grammar (phrases or digits) for each "
                              "turn; free speech needs a Vosk model")
        return PocketsphinxRecognizer(self, self._grammar(grammar))


class PocketsphinxRecognizer:
    """One utterance: accept() buffers (cheap, in the call's thread), finish() decodes the
    whole utterance in a decoder worker while the calling thread waits without the GIL.

    prefetch(tail_ms) starts that decode early, when the endpointer says the end is near
    (speech_pause), and peek() shows it before the turn ends (see early.py).
    """

    def __init__(self, engine: PocketsphinxEngine, grammar: Compiled) -> None:
        self._utterance: EarlyDecode[DecodeResult] = EarlyDecode(
            lambda pcm: engine.decode(grammar, pcm))
        self.features: tuple[float, float | None] | None = None  # for calibration scripts

    def prefetch(self, tail_ms: int) -> None:
        self._utterance.prefetch(tail_ms)

    def accept(self, pcm: bytes) -> str | None:
        """Buffer audio; no partial results (None), see the module docstring."""
        self._utterance.accept(pcm)
        return None

    def peek(self) -> Hypothesis | None:
        """The final hypothesis if the caller says nothing more, when the early decode holds
        it (waits for it); None when it would need a decode of its own. Lets a turn end at
        a shorter silence when what was said decides it (the session's end_check).
        One decode of the whole utterance, not one per pause: decoding digit strings in
        chunks is less accurate."""
        result = self._utterance.early()
        return None if result is None else result.hypothesis

    def finish(self) -> Hypothesis:
        result = self._utterance.finish()
        self.features = result.features
        return result.hypothesis
