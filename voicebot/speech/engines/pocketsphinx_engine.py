"""The embedded default engine: PocketSphinx 5 with the US English model its wheel ships.

How one utterance is decoded, and why (FSDD digits, tuning split = clip indices 0-9; all
figures from scripts/bench_digits.py or the experiments listed in the speech README text):
- The model is 16 kHz wide-band; phone audio is 8 kHz. We upsample. An 8 kHz front end
  (-samprate 8000 -nfft 256 -upperf 3500 / 4000) measured 21% / 39% against 76%: the
  model's cepstra were trained with filters up to 6.8 kHz. (The model's feat.params wins
  over Config values, so such settings need a copy of the model dir to take effect.)
- Loudness: the engine scales speech to a fixed level (90th-percentile frame RMS 1000), so
  a quiet caller meets the same noise floor as a loud one (one FSDD speaker is 20 dB below
  the rest and swung from 96% to 2% with the line-noise level before this).
- Silence: the decoder needs silence around the words (trimmed clips: -10 points), so the
  utterance is framed with 0.3 s of low-level noise (RMS 10) on both sides.
- Batch CMN over the whole utterance at finish() (the model's own setting; live CMN was -3
  points), reset for every utterance: carrying the last caller's CMN over made results
  depend on who spoke before (and cost 2 points). accept() streams a live decode only for
  partial results.
- Grammar per turn as JSGF (phrases, plus a digit loop when allowed); compiled searches are
  cached per decoder (LRU); decoders are pooled because building one takes ~0.4 s.
- Confidence: the grammar's best path is compared with a free phone loop over the same audio
  (d), and for phrase lists with the best path of the grammar without the recognised phrase
  (the rival, m). Both per speech frame, through a logistic calibrated on the tuning split
  so that 0.5 separates correct answers from out-of-grammar speech (see calibration.py).
  Below REJECT_BELOW the reject path fires: text "", in_grammar False.
"""

from __future__ import annotations

import hashlib
import logging
import math
import queue
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voicebot.logs import log_event
from voicebot.speech.audio import resample
from voicebot.speech.engines import calibration
from voicebot.speech.engines.common import (
    DIGIT_ALIASES,
    DIGIT_WORDS,
    EngineError,
    clamp01,
    grammar_phrases,
    logistic,
    normalize,
)
from voicebot.speech.types import PHONE_RATE, Grammar, Hypothesis, Word

log = logging.getLogger(__name__)

DECODER_RATE = 16000
FRAME_RATE = 100  # pocketsphinx frames per second
LOG_BASE = 1.0001  # pocketsphinx's logmath base: scores come back as LOG_BASE ** score
MAX_SEARCHES_PER_DECODER = 32  # compiled grammars kept per decoder (LRU)
PARTIAL_EVERY_BYTES = PHONE_RATE * 2 // 5  # search for a new partial every 200 ms of audio

# Extra pronunciations for digit words, for accents the CMU dictionary does not cover.
# Chosen on the tuning split only (see scripts/bench_digits.py).
DIGIT_VARIANTS: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PocketsphinxOptions:
    """Decoding choices; the defaults are what measured best on the tuning split."""

    level: float | None = 1000.0  # scale speech (90th-percentile frame RMS) to this; None: off
    pad_s: float = 0.3  # low-level noise added before and after the utterance
    pad_noise: float = 10.0  # RMS of that noise (after level scaling), 16-bit units
    variants: tuple[tuple[str, str], ...] = DIGIT_VARIANTS  # (word, phones) added to the dict
    confidence_pass: bool = True  # run the phone loop for confidence (else posterior only)
    reject_below: float = calibration.REJECT_BELOW  # under this, the reject path fires
    margin_pass: bool = True  # also decode without the best phrase (the rival) for a margin
    # confidence = logistic(slope * d + margin_slope * m + bias) for phrase lists,
    # logistic(loop_slope * d + loop_bias) for digit loops (no single rival phrase)
    slope: float = calibration.SLOPE
    margin_slope: float = calibration.MARGIN_SLOPE
    bias: float = calibration.BIAS
    loop_slope: float = calibration.LOOP_SLOPE
    loop_bias: float = calibration.LOOP_BIAS
    config: dict = field(default_factory=dict)  # extra pocketsphinx settings (beam, ...)


class _Decoder:
    """A pocketsphinx Decoder with the grammars it has compiled (LRU)."""

    def __init__(self, decoder) -> None:
        self.decoder = decoder
        self.searches: OrderedDict[str, None] = OrderedDict()

    def use(self, name: str, jsgf: str) -> None:
        if name in self.searches:
            self.searches.move_to_end(name)
        else:
            self.decoder.add_jsgf_string(name, jsgf)
            self.searches[name] = None
            while len(self.searches) > MAX_SEARCHES_PER_DECODER:
                old, _ = self.searches.popitem(last=False)
                self.decoder.remove_search(old)
        self.decoder.activate_search(name)


class PocketsphinxEngine:
    """Shared by every call: owns the decoder pool and the grammar cache."""

    name = "pocketsphinx"

    def __init__(self, options: PocketsphinxOptions | None = None) -> None:
        try:
            import pocketsphinx
        except ImportError as exc:  # pragma: no cover - it is a hard dependency
            raise EngineError(f"pocketsphinx is not installed ({exc}); pip install "
                              "pocketsphinx") from None
        self._ps = pocketsphinx
        self.options = options or PocketsphinxOptions()
        root = Path(pocketsphinx.get_model_path())
        self._hmm = root / "en-us" / "en-us"
        self._dict = root / "en-us" / "cmudict-en-us.dict"
        self._phone_lm = root / "en-us" / "en-us-phone.lm.bin"
        for path in (self._hmm, self._dict, self._phone_lm):
            if not path.exists():
                raise EngineError(f"pocketsphinx model file missing: {path} (reinstall "
                                  "pocketsphinx)")
        self.model = f"pocketsphinx en-us ({self._hmm})"
        self._words = self._read_dictionary()
        self._pool: queue.SimpleQueue[_Decoder] = queue.SimpleQueue()
        self._compiled: dict[tuple, _Compiled] = {}
        self._lock = threading.Lock()
        self._pool.put(self._new_decoder())  # fail now, not on the first call

    # ------------------------------------------------------------------ decoders

    def _read_dictionary(self) -> set[str]:
        words = set()
        with open(self._dict, encoding="utf-8") as fh:
            for line in fh:
                head = line.split(" ", 1)[0]
                words.add(head.split("(", 1)[0])
        return words

    def _new_decoder(self) -> _Decoder:
        cfg = self._ps.Config(hmm=str(self._hmm), dict=str(self._dict), loglevel="FATAL",
                              samprate=DECODER_RATE)
        for key, value in self.options.config.items():
            cfg[key] = value
        try:
            decoder = self._ps.Decoder(cfg)
        except RuntimeError as exc:
            raise EngineError(f"pocketsphinx could not start: {exc}") from None
        for i, (word, phones) in enumerate(self.options.variants):
            decoder.add_word(f"{word}({i + 10})", phones, False)
        decoder.add_allphone_file("_phones", str(self._phone_lm))
        return _Decoder(decoder)

    def _acquire(self) -> _Decoder:
        try:
            return self._pool.get_nowait()
        except queue.Empty:
            return self._new_decoder()

    def _release(self, dec: _Decoder) -> None:
        self._pool.put(dec)

    # ------------------------------------------------------------------ grammars

    def unknown_words(self, phrases: tuple[str, ...] | list[str]) -> list[str]:
        """Words of the phrases that the dictionary lacks (they cannot be recognised)."""
        return sorted({w for p in phrases for w in normalize(p).split() if w not in self._words})

    def _grammar(self, grammar: Grammar) -> _Compiled:
        """The compiled form of a grammar (cached: the same turn repeats on every call)."""
        key = (grammar.phrases, grammar.allow_digits)
        with self._lock:
            hit = self._compiled.get(key)
        if hit:
            return hit
        phrases = grammar_phrases(grammar)
        usable = tuple(p for p in phrases if all(w in self._words for w in p.split()))
        dropped = len(phrases) - len(usable)
        if dropped:
            log_event(log, "speech.grammar.unknown_words", level=logging.WARNING,
                      engine=self.name, dropped_phrases=dropped,
                      words=self.unknown_words(phrases))
        if not usable and not grammar.allow_digits:
            raise EngineError("the grammar has no phrase pocketsphinx can recognise "
                              f"(unknown words: {', '.join(self.unknown_words(phrases))})")
        value = _Compiled(*_jsgf(usable, grammar.allow_digits), usable, grammar.allow_digits)
        with self._lock:
            self._compiled[key] = value
        return value

    def recognizer(self, grammar: Grammar) -> PocketsphinxRecognizer:
        if grammar.is_free:
            # The free n-gram search measured RTF > 1 here and missed "one two three":
            # not fit for a live call, so a turn must say what it listens for.
            raise EngineError("pocketsphinx needs a grammar (phrases or digits) for each "
                              "turn; free speech needs a Vosk model")
        return PocketsphinxRecognizer(self, self._grammar(grammar))


@dataclass(frozen=True)
class _Compiled:
    search: str
    jsgf: str
    phrases: tuple[str, ...]
    allow_digits: bool

    def accepts(self, text: str) -> bool:
        """Whether `text` is a complete sentence of the grammar."""
        if text in self.phrases:
            return True
        digits = set(DIGIT_WORDS + DIGIT_ALIASES)
        return self.allow_digits and all(w in digits for w in text.split())

    def rival(self, text: str) -> tuple[str, str] | None:
        """The grammar without the recognised phrase (for the margin), if that means anything."""
        if self.allow_digits or text not in self.phrases or len(self.phrases) < 2:
            return None
        return _jsgf(tuple(p for p in self.phrases if p != text), False)


def _jsgf(phrases: tuple[str, ...], allow_digits: bool) -> tuple[str, str]:
    """(search name, JSGF text): the phrases as alternatives, plus a digit loop if allowed."""
    rules = []
    if phrases:
        rules.append(" | ".join(phrases))
    if allow_digits:
        rules.append("<digit>+")
    body = " | ".join(f"( {r} )" for r in rules)
    jsgf = "#JSGF V1.0;\ngrammar turn;\n"
    if allow_digits:
        jsgf += "<digit> = " + " | ".join(DIGIT_WORDS + DIGIT_ALIASES) + " ;\n"
    jsgf += f"public <turn> = {body} ;\n"
    return "g" + hashlib.sha1(jsgf.encode()).hexdigest()[:16], jsgf


class PocketsphinxRecognizer:
    """One utterance. Takes a pooled decoder on first audio and gives it back at finish()."""

    def __init__(self, engine: PocketsphinxEngine, grammar: _Compiled) -> None:
        self._engine = engine
        self._grammar = grammar
        self._pcm = bytearray()
        self._fed = 0  # bytes of _pcm already given to the streaming decode
        self._dec: _Decoder | None = None
        self._partial: str | None = None
        self._done = False
        self.features: tuple[float, float | None] | None = None  # for calibration scripts

    def accept(self, pcm: bytes) -> str | None:
        if self._done:
            raise RuntimeError("recognizer already finished")
        self._pcm += pcm
        if len(self._pcm) - self._fed < PARTIAL_EVERY_BYTES:
            return None
        if self._dec is None:
            self._dec = self._engine._acquire()
            self._dec.use(self._grammar.search, self._grammar.jsgf)
            self._dec.decoder.reinit_feat()
            self._dec.decoder.start_utt()
        chunk = bytes(self._pcm[self._fed:])
        self._fed = len(self._pcm)
        self._dec.decoder.process_raw(resample(chunk, PHONE_RATE, DECODER_RATE), False, False)
        hyp = self._dec.decoder.hyp()
        text = _clean(hyp.hypstr) if hyp else ""
        if text and text != self._partial:
            self._partial = text
            return text
        return None

    def finish(self) -> Hypothesis:
        if self._done:
            raise RuntimeError("recognizer already finished")
        self._done = True
        dec = self._dec or self._engine._acquire()
        self._dec = None
        try:
            if self._fed:  # a streaming decode for partials is open
                dec.decoder.end_utt()
            return self._decode(dec)
        finally:
            self._engine._release(dec)

    # ----------------------------------------------------------------- decoding

    def _prepare(self) -> tuple[bytes, int]:
        """Level-scaled, noise-framed 16 kHz audio, and the pad length in frames."""
        opts = self._engine.options
        x = np.frombuffer(bytes(self._pcm[: len(self._pcm) // 2 * 2]), dtype="<i2")
        x = x.astype(np.float64)
        if opts.level and x.size >= 160:
            frames = x[: x.size // 160 * 160].reshape(-1, 160)
            rms = np.sqrt((frames ** 2).mean(axis=1))
            ref = float(np.percentile(rms, 90))
            if ref > 1.0:
                x = x * min(opts.level / ref, 100.0)
        pad = int(opts.pad_s * PHONE_RATE)
        if pad:
            x = np.concatenate([np.zeros(pad), x, np.zeros(pad)])
        if opts.pad_noise:
            # Seeded by length, so the same audio always decodes the same way.
            rng = np.random.default_rng(x.size)
            x = x + rng.normal(0.0, opts.pad_noise, x.size)
        pcm8 = np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()
        return resample(pcm8, PHONE_RATE, DECODER_RATE), int(opts.pad_s * FRAME_RATE)

    def _run(self, dec: _Decoder, pcm16: bytes,
             search: tuple[str, str] | None) -> tuple[str, float, list]:
        d = dec.decoder
        if search is None:
            d.activate_search("_phones")
        else:
            dec.use(*search)
        d.reinit_feat()  # CMN and noise estimates must not leak from the last utterance
        d.start_utt()
        d.process_raw(pcm16, False, True)
        d.end_utt()
        hyp = d.hyp()
        if hyp is None:
            return "", -math.inf, []
        score = math.log(hyp.score) / math.log(LOG_BASE) if hyp.score > 0 else -math.inf
        segs = [(s.word, s.start_frame, s.end_frame) for s in d.seg()] if search else []
        return hyp.hypstr, score, segs

    def _decode(self, dec: _Decoder) -> Hypothesis:
        opts = self._engine.options
        if len(self._pcm) < 2 * PHONE_RATE // 10:  # under 100 ms: nothing to hear
            return Hypothesis(text="", confidence=0.0, in_grammar=False, engine="pocketsphinx")
        pcm16, pad = self._prepare()
        g = self._grammar
        text, g_score, segs = self._run(dec, pcm16, (g.search, g.jsgf))
        text = _clean(text)
        n_frames = max(1, len(pcm16) // (2 * DECODER_RATE // FRAME_RATE))
        if not text:
            return Hypothesis(text="", confidence=0.0, in_grammar=False, engine="pocketsphinx")
        if not g.accepts(text):
            # The search ended outside a final state: pocketsphinx then returns the best
            # partial path ("opening" of "opening hours"), which is not an answer.
            return Hypothesis(text="", confidence=0.0, in_grammar=False, engine="pocketsphinx")
        confidence = 0.5
        if opts.confidence_pass:
            _, p_score, _ = self._run(dec, pcm16, None)
            speech = sum(e - s + 1 for w, s, e in segs if not _is_filler(w)) or n_frames
            diff = (g_score - p_score) / speech
            rival = g.rival(text)
            if rival is not None and opts.margin_pass:
                _, r_score, _ = self._run(dec, pcm16, rival)
                margin = min((g_score - r_score) / speech, calibration.MARGIN_CAP)
                x = (opts.slope * diff + opts.margin_slope * margin + opts.bias)
            else:
                x = opts.loop_slope * diff + opts.loop_bias
            confidence = clamp01(logistic(x))
            self.features = (diff, margin if rival is not None and opts.margin_pass else None)
        words = tuple(
            Word(word=_clean(w), start=max(0.0, (s - pad) / FRAME_RATE),
                 end=max(0.0, (e + 1 - pad) / FRAME_RATE), confidence=confidence)
            for w, s, e in segs if not _is_filler(w)
        )
        if confidence < opts.reject_below:
            return Hypothesis(text="", confidence=confidence, words=(), in_grammar=False,
                              engine="pocketsphinx")
        return Hypothesis(text=text, confidence=confidence, words=words, in_grammar=True,
                          engine="pocketsphinx")


def _is_filler(word: str) -> bool:
    return word.startswith(("<", "[", "+")) or word in ("<s>", "</s>", "<sil>")


def _clean(hypstr: str) -> str:
    """Drop alternate-pronunciation markers and fillers, then normalise."""
    words = [w.split("(", 1)[0] for w in hypstr.split() if not _is_filler(w)]
    return normalize(" ".join(words))
