"""One pocketsphinx decode of a whole utterance: a pure function of (audio, grammar, options).

Why a module of its own: the decode runs in worker processes (see decode_worker.py), because
pocketsphinx holds the GIL while it searches, so decodes in threads run one at a time and stall
every other call's thread. Everything a worker needs is here and picklable: `DecodeCore`
(one decoder with its compiled grammars), `Compiled` (a grammar as JSGF) and the result.

The endpointer's trailing silence is decoded too, not trimmed: batch CMN needs it.

Determinism: every search starts from the same state: features re-initialised (CMN, noise
estimates), the pad noise seeded, and the decode always uses the whole
utterance in one batch (no streaming partial decode whose state could differ). So the same
audio and grammar give the same text and confidence in any worker, whatever ran before.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pocketsphinx

from voicebot.speech.audio import frame_rms, resample
from voicebot.speech.engines import calibration
from voicebot.speech.engines.common import (
    DIGIT_ALIASES,
    DIGIT_WORDS,
    SPOKEN_DIGITS,
    EngineError,
    clamp01,
    logistic,
    normalize,
)
from voicebot.speech.types import PHONE_RATE, Hypothesis, Word

# One global MLLR mean transform of the model for phone audio (scripts/adapt_pocketsphinx.py,
# from the FSDD tuning split). It learns the channel, not the speakers: it helps as much with
# the test speaker left out (README, Measurements).
PHONE_MLLR = Path(__file__).resolve().parent / "data" / "en-us-phone.mllr"
DECODER_RATE = 16000
FRAME_RATE = 100  # pocketsphinx frames per second
LOG_BASE = 1.0001  # pocketsphinx's logmath base: scores come back as LOG_BASE ** score
MAX_SEARCHES_PER_DECODER = 32  # compiled grammars kept per decoder (LRU)
MIN_BYTES = 2 * PHONE_RATE // 10  # under 100 ms: nothing to hear
# Recognised words shorter than this in all (100 ms) are noise: white noise came back as a
# 30 ms "oh" whose per-frame score gap made confidence 1.0.
MIN_SPEECH_FRAMES = 10

# Extra pronunciations for digit words, for accents the CMU dictionary does not cover.
# Chosen on the tuning split only (see scripts/bench_digits.py).
DIGIT_VARIANTS: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PocketsphinxOptions:
    """Decoding choices; the defaults are what measured best on the tuning split."""

    level: float | None = 1000.0  # scale speech (90th-percentile frame RMS) to this; None: off
    # Low-level noise added before and after the utterance. A call's utterance already
    # brings 300 ms of pre-roll and the end silence, so a short pad is enough (and cheaper).
    pad_s: float = 0.05
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
    mllr: str | None = str(PHONE_MLLR)  # the model's adaptation to phone audio; None: off
    config: dict = field(default_factory=dict)  # extra pocketsphinx settings (beam, ...)
    # Settings for the confidence phone loop only (its search is most of the CPU). Narrower
    # beams save CPU but let more misrecognised answers pass 0.5, so none are set (README).
    phone_loop_config: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Compiled:
    """A turn's grammar as the decoder takes it (built once per grammar in the engine)."""

    search: str
    jsgf: str
    phrases: tuple[str, ...]
    allow_digits: bool
    max_digits: int | None = None
    groups: tuple[tuple[str, ...], ...] = ()  # normalised phrases that mean the same
    spellings: tuple[tuple[str, str], ...] = ()  # normalised phrase -> dictionary spelling

    def accepts(self, text: str) -> bool:
        """Whether `text` is a complete sentence of the grammar."""
        if text in self.phrases:
            return True
        words = text.split()
        return (self.allow_digits and all(w in SPOKEN_DIGITS for w in words)
                and (self.max_digits is None or len(words) <= self.max_digits))

    def rival(self, text: str) -> tuple[str, str] | None:
        """The grammar without the recognised phrase and its synonyms (for the margin: a
        rival that means the same is no doubt), if anything is left."""
        if self.allow_digits or text not in self.phrases:
            return None
        same = next((set(g) for g in self.groups if text in g), {text})
        others = tuple(p for p in self.phrases if p not in same)
        spell = dict(self.spellings)
        return jsgf(tuple(spell.get(p, p) for p in others), False) if others else None


def compile_grammar(phrases: tuple[str, ...], allow_digits: bool,
                    max_digits: int | None = None,
                    groups: tuple[tuple[str, ...], ...] = (),
                    spellings: dict[str, str] | None = None) -> Compiled:
    """`phrases` normalised (what hypotheses are compared with); `spellings` gives the
    dictionary's spelling where it differs ("thats right" -> "that's right")."""
    spell = dict(spellings or {})
    spoken = tuple(spell.get(p, p) for p in phrases)
    return Compiled(*jsgf(spoken, allow_digits, max_digits), phrases, allow_digits, max_digits,
                    groups, tuple(spell.items()))


def jsgf(phrases: tuple[str, ...], allow_digits: bool,
         max_digits: int | None = None) -> tuple[str, str]:
    """(search name, JSGF text): the phrases as alternatives, plus digits if allowed: one to
    `max_digits` of them (nested optionals), or a loop. Bounding the count matters: a loop
    lets the search insert digits ("four" -> "four oh")."""
    rules = []
    if phrases:
        rules.append(" | ".join(phrases))
    if allow_digits and max_digits:
        rest = max_digits - 1
        rules.append("<digit>" + " [ <digit>" * rest + " ]" * rest)
    elif allow_digits:
        rules.append("<digit>+")
    body = " | ".join(f"( {r} )" for r in rules)
    text = "#JSGF V1.0;\ngrammar turn;\n"
    if allow_digits:
        text += "<digit> = " + " | ".join(DIGIT_WORDS + DIGIT_ALIASES) + " ;\n"
    text += f"public <turn> = {body} ;\n"
    return "g" + hashlib.sha1(text.encode()).hexdigest()[:16], text


@dataclass(frozen=True)
class DecodeResult:
    hypothesis: Hypothesis
    features: tuple[float, float | None] | None = None  # (d, m) for calibration scripts


def model_paths() -> tuple[Path, Path, Path]:
    """(acoustic model, dictionary, phone LM) of the wheel's US English model."""
    root = Path(pocketsphinx.get_model_path()) / "en-us"
    paths = (root / "en-us", root / "cmudict-en-us.dict", root / "en-us-phone.lm.bin")
    for path in paths:
        if not path.exists():
            raise EngineError(f"pocketsphinx model file missing: {path} (reinstall "
                              "pocketsphinx)")
    return paths


class DecodeCore:
    """One pocketsphinx Decoder with the grammars it has compiled (LRU). Single-threaded."""

    def __init__(self, options: PocketsphinxOptions) -> None:
        self.options = options
        hmm, dictionary, phone_lm = model_paths()
        cfg = pocketsphinx.Config(hmm=str(hmm), dict=str(dictionary), loglevel="FATAL",
                                  samprate=DECODER_RATE)
        if options.mllr:
            if not Path(options.mllr).is_file():
                raise EngineError(f"the phone-audio adaptation {options.mllr} is missing "
                                  "(reinstall voicebot)")
            cfg["mllr"] = str(options.mllr)
        for key, value in options.config.items():
            cfg[key] = value
        try:
            self.decoder = pocketsphinx.Decoder(cfg)
        except RuntimeError as exc:
            raise EngineError(f"pocketsphinx could not start: {exc}") from None
        for i, (word, phones) in enumerate(options.variants):
            self.decoder.add_word(f"{word}({i + 10})", phones, False)
        # The search reads its beams when it is built: build it under its own settings.
        saved = {key: self.decoder.config[key] for key in options.phone_loop_config}
        for key, value in options.phone_loop_config.items():
            self.decoder.config[key] = value
        self.decoder.add_allphone_file("_phones", str(phone_lm))
        for key, value in saved.items():
            self.decoder.config[key] = value
        self.searches: OrderedDict[str, None] = OrderedDict()

    def use(self, name: str, text: str) -> None:
        """Compile (once) and activate a grammar."""
        if name in self.searches:
            self.searches.move_to_end(name)
        else:
            self.decoder.add_jsgf_string(name, text)
            self.searches[name] = None
            while len(self.searches) > MAX_SEARCHES_PER_DECODER:
                old, _ = self.searches.popitem(last=False)
                self.decoder.remove_search(old)
        self.decoder.activate_search(name)

    def warm(self, grammar: Compiled) -> None:
        self.use(grammar.search, grammar.jsgf)

    # ----------------------------------------------------------------- decoding

    def _prepare(self, pcm: bytes) -> tuple[bytes, int]:
        """Level-scaled, noise-framed 16 kHz audio, and the pad length in frames."""
        opts = self.options
        x = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
        if opts.level and x.size >= 160:
            ref = float(np.percentile(frame_rms(pcm), 90))
            if ref > 1.0:
                x = x * min(opts.level / ref, 100.0)
        pad = int(opts.pad_s * PHONE_RATE)
        if pad:
            x = np.concatenate([np.zeros(pad), x, np.zeros(pad)])
        if opts.pad_noise:
            # Seeded (by length), so the same audio always decodes the same way.
            rng = np.random.default_rng(x.size)
            x = x + rng.normal(0.0, opts.pad_noise, x.size)
        pcm8 = np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()
        return resample(pcm8, PHONE_RATE, DECODER_RATE), int(opts.pad_s * FRAME_RATE)

    def _run(self, pcm16: bytes, search: tuple[str, str] | None) -> tuple[str, float, list]:
        d = self.decoder
        if search is None:
            d.activate_search("_phones")
        else:
            self.use(*search)
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

    def decode(self, grammar: Compiled, pcm: bytes) -> DecodeResult:
        """The final hypothesis for one utterance of 8 kHz 16-bit PCM (all passes here)."""
        return combine(self.options, grammar, self.grammar_part(grammar, pcm, True), None)

    def grammar_part(self, grammar: Compiled, pcm: bytes, with_phone: bool) -> GrammarPart:
        """The grammar pass and the rival pass, and the phone loop too if `with_phone`
        (else another worker runs phone_score on the same audio at the same time)."""
        if len(pcm) < MIN_BYTES:
            return GrammarPart("", 0.0, (), 1, 0)
        pcm16, pad = self._prepare(pcm)
        text, g_score, segs = self._run(pcm16, (grammar.search, grammar.jsgf))
        text = clean(text)
        n_frames = max(1, len(pcm16) // (2 * DECODER_RATE // FRAME_RATE))
        part = GrammarPart(text, g_score, tuple(segs), n_frames, pad)
        if not text or not grammar.accepts(text) or not self.options.confidence_pass:
            return part
        rival = grammar.rival(text) if self.options.margin_pass else None
        if rival is not None:
            part.r_score = self._run(pcm16, rival)[1]
        if with_phone:
            part.p_score = self._run(pcm16, None)[1]
        return part

    def phone_score(self, pcm: bytes) -> float:
        """The free phone loop's best path score over the utterance (for the confidence)."""
        pcm16, _ = self._prepare(pcm)
        return self._run(pcm16, None)[1]


@dataclass
class GrammarPart:
    """What the grammar-side passes found (the phone loop score may come from elsewhere)."""

    text: str
    g_score: float
    segs: tuple
    n_frames: int
    pad: int
    r_score: float | None = None
    p_score: float | None = None


def combine(opts: PocketsphinxOptions, grammar: Compiled, part: GrammarPart,
            p_score: float | None) -> DecodeResult:
    """The hypothesis from the passes' scores: the same arithmetic wherever they ran."""
    text, g_score, segs, pad = part.text, part.g_score, part.segs, part.pad
    if not text or not grammar.accepts(text):
        # Not accepted: the search ended outside a final state, and pocketsphinx then
        # returns the best partial path ("opening" of "opening hours"): not an answer.
        return DecodeResult(_empty(0.0))
    confidence = 0.5
    features = None
    if opts.confidence_pass:
        p_score = part.p_score if p_score is None else p_score
        if p_score is None:
            raise EngineError("the phone-loop score is missing")
        speech = sum(e - s + 1 for w, s, e in segs if not is_filler(w)) or part.n_frames
        if speech < MIN_SPEECH_FRAMES:  # no word is this short: noise matched by a sliver
            return DecodeResult(_empty(0.0))
        diff = (g_score - p_score) / speech
        margin = None
        if part.r_score is not None:
            margin = min((g_score - part.r_score) / speech, calibration.MARGIN_CAP)
            x = opts.slope * diff + opts.margin_slope * margin + opts.bias
        else:
            x = opts.loop_slope * diff + opts.loop_bias
        confidence = clamp01(logistic(x))
        features = (diff, margin)
    if confidence < opts.reject_below:
        return DecodeResult(_empty(confidence), features)
    words = tuple(
        Word(word=clean(w), start=max(0.0, (s - pad) / FRAME_RATE),
             end=max(0.0, (e + 1 - pad) / FRAME_RATE), confidence=confidence)
        for w, s, e in segs if not is_filler(w)
    )
    return DecodeResult(Hypothesis(text=text, confidence=confidence, words=words,
                                   in_grammar=True, engine="pocketsphinx"), features)


def _empty(confidence: float) -> Hypothesis:
    return Hypothesis(text="", confidence=confidence, words=(), in_grammar=False,
                      engine="pocketsphinx")


def is_filler(word: str) -> bool:
    return word.startswith(("<", "[", "+")) or word in ("<s>", "</s>", "<sil>")


def clean(hypstr: str) -> str:
    """Drop alternate-pronunciation markers and fillers, then normalise."""
    words = [w.split("(", 1)[0] for w in hypstr.split() if not is_filler(w)]
    return normalize(" ".join(words))
