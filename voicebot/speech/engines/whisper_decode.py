"""One Whisper decode of a whole utterance: a pure function of (audio, prompts, options).

Why a module of its own: the decode is what a worker process would run, so everything it
needs is here and picklable (the options, the prompts, the result); the engine around it
(whisper_engine.py) only buffers audio, builds prompts from the turn's grammar and turns a
result into a Hypothesis.

How, and why (figures in the commit history and the README's measurements):
- 8 kHz phone audio is upsampled to Whisper's 16 kHz; the log-mel features come from
  faster-whisper's FeatureExtractor and the decode from CTranslate2 directly (int8 on CPU),
  because faster-whisper's transcribe() always encodes a 30 s window, the costly part.
- Short windows: the encoder sees the utterance padded with digital silence to a few
  seconds (utterance + margin, rounded up), and the encoding of silence at the same
  positions of a 30 s window is spliced after it, so the decoder gets the 1,500 positions
  it was trained on. Without the splice a short window loops ("one, one, one...") or
  invents words; with it, a turn costs a fraction of the CPU and digits are heard as well
  as with the full window.
- The prompt (Whisper's "previous text") is the turn's grammar, so "agent" is heard as
  agent and digits as digits. A prompt can pull the decode into repeating it; a decode
  that runs into the token cap (a few tokens per second of audio) or repeats itself
  (compression ratio) is a loop, and the next prompt is tried.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from voicebot.speech.audio import resample
from voicebot.speech.engines.common import DIGIT_WORDS, SPOKEN_DIGITS, EngineError, normalize
from voicebot.speech.engines.priority import FIRST, PriorityGate
from voicebot.speech.types import PHONE_RATE

WHISPER_RATE = 16000
FRAMES_PER_S = 100  # log-mel frames per second
ENCODER_POSITIONS = 1500  # what a 30 s window encodes to
MAX_WINDOW_S = 30.0


@dataclass(frozen=True)
class WhisperOptions:
    """Decoding choices; the defaults are what measured best on the tuning split."""

    # Beam search measured better on sentences and yes/no answers and worse on digits
    # (whole numbers most of all): greedy where digits are heard.
    beam_size: int = 5
    digits_beam_size: int = 1
    # A number turn whose greedy reading holds no number of the wanted length (a number said
    # inside a sentence: "yes it's nine zero two one" written "yes its time zero two one")
    # is read again with a beam this wide, reusing the encoding; 1: not at all.
    digits_beam_again: int = 5
    window_margin_s: float = 2.0  # silence after the utterance inside the encoder window
    window_step_s: float = 2.0  # the window is rounded up to a multiple of this
    splice: bool = True  # False: encode the whole 30 s window (the original way)
    tokens_per_s: float = 6.0  # token cap per second of audio; a decode that reaches it loops
    extra_tokens: int = 4
    max_compression: float = 2.0  # zlib ratio of the text above which it is a repetition loop
    # > 1 makes tokens already written less likely, the prompt's too: escape phrases were lost
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    # In a prompt of phrases and digits, the digit run first: the phrases then end the prompt,
    # and sentences around a number are written as words rather than forced into digits.
    digits_first: bool = True
    # Transcripts the beam search returns (1: only the best); the engine passes on a less
    # likely one that means something at the turn when the best does not, within this
    # much mean token log probability of the best (engines/alternatives.py).
    alternatives: int = 5
    alternatives_within: float = 0.3
    # A decode that means nothing at the turn is decoded again with requests for a person as
    # the prompt (whisper_engine.request_prompt), taken only if it asks for one.
    request_prompt: bool = True
    # Where no digits are heard, a word or a few written three times or more in a row is a
    # loop too ("sure I'll try nope nope nope nope": the prompt's "nope"), and a decode that
    # loops with every prompt is tried once more with no prompt before it is cut.
    repeat_loops: bool = True
    # A turn that still means nothing is heard again with its audio played at these speeds
    # (whisper_engine.WhisperEngine.decode_turn): a request for a person in any of those
    # readings is taken; an answer only when `speeds_agree` of them give it and none gives
    # another. The first `speeds_request` are also read with the request prompt. () turns
    # it off.
    other_speeds: tuple[float, ...] = (0.9, 1.1, 0.8, 1.2)
    speeds_agree: int = 2
    speeds_request: int = 2  # how many of them are also read with the request prompt


@dataclass(frozen=True)
class WhisperResult:
    """What one decode found (raw figures; whisper_engine turns them into a Hypothesis)."""

    text: str  # normalised: lower case, no punctuation, numerals as digit words
    raw: str  # as Whisper wrote it
    avg_logprob: float  # mean log probability per token (with the end token)
    no_speech_prob: float
    tokens: int
    audio_s: float
    prompt_index: int  # which prompt gave it (0: the first)
    looped: bool = False  # every prompt looped: the first one's text, cut at the repetition
    foreign: bool = False  # characters that are not English text
    # The beam's other transcripts, most likely first: (normalised text, mean token log
    # probability), loops and other scripts left out.
    alternatives: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Encoded:
    """An utterance as the encoder saw it, and its length."""

    features: object  # a CTranslate2 StorageView
    seconds: float


_NUMERAL = re.compile(r"\d+")


def clean_text(raw: str) -> str:
    """Whisper's text as the flow compares it: normalised, and numerals spelt out digit by
    digit ("4512" -> "four five one two"), as callers read order numbers."""
    text = normalize(raw.replace(",", " ").replace("-", " "))
    return _NUMERAL.sub(lambda m: " ".join(DIGIT_WORDS[int(d)] for d in m.group()), text)


def is_foreign(raw: str) -> bool:
    """Text that is not English: letters that are not Latin ("café" is Latin, "カフェ" not)."""
    return any(c.isalpha() and not unicodedata.normalize("NFKD", c)[0].isascii() for c in raw)


def collapse_repeats(text: str, times: int = 3) -> str:
    """A looping decode's text up to the first repetition: "yep yep yep yep" -> "yep",
    "order status order order" stays. A run of one to four words said `times` times or more
    in a row is kept once, and what follows it (more of the loop) is dropped. Digits repeat
    in real numbers ("four one one one one", "five five five"), so a run of digits (as
    words or figures) is never a loop, in any turn."""
    words = text.split()
    for start in range(len(words)):
        for size in range(1, 5):
            unit = words[start:start + size]
            if len(unit) < size:
                break
            if all(_is_digit(word) for word in unit):
                continue
            count = 1
            while words[start + count * size: start + (count + 1) * size] == unit:
                count += 1
            if count >= times:
                return " ".join(words[:start + size])
    return text


def _is_digit(word: str) -> bool:
    bare = normalize(word)
    return bare.isdigit() or bare in SPOKEN_DIGITS


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / max(1, len(zlib.compress(data)))


def loops(raw: str, options: WhisperOptions, digits: bool = False) -> bool:
    """Whether a decode's text repeats itself: too compressible (a long loop), or, with
    `repeat_loops`, a run of words written three times or more in a row (a short loop, which
    compresses too little to show: "sure I'll try nope nope nope nope"), except where
    digits are heard (an order number may be "five five five zero")."""
    if compression_ratio(raw) > options.max_compression:
        return True
    text = clean_text(raw)
    return options.repeat_loops and not digits and collapse_repeats(text) != text


class WhisperCore:
    """A loaded CTranslate2 Whisper model with its tokenizer, feature extractor and the
    encoding of silence. Thread-safe: CTranslate2 runs up to `parallel` decodes at once."""

    def __init__(self, model_dir: Path, parallel: int = 1) -> None:
        try:
            import ctranslate2
            import tokenizers
            from faster_whisper.feature_extractor import FeatureExtractor
            from faster_whisper.tokenizer import Tokenizer
            from faster_whisper.transcribe import get_suppressed_tokens
            from threadpoolctl import threadpool_limits
        except ImportError as exc:  # pragma: no cover - hard dependencies
            raise EngineError(f"the whisper engine needs faster-whisper ({exc}); pip install "
                              "faster-whisper") from None
        self._ct2 = ctranslate2
        # numpy's OpenBLAS (the log-mel features' matrix product) would start a thread per
        # CPU whose busy-waiting after each product doubled a decode's CPU for no faster
        # answer; calls decode side by side, so every thread's CPU is another caller's wait.
        # Process-wide, as the libraries' own thread pools are.
        threadpool_limits(1, user_api="blas")
        try:
            self.model = ctranslate2.models.Whisper(
                str(model_dir), device="cpu", compute_type="int8", intra_threads=1,
                inter_threads=parallel)
            hf = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        except (RuntimeError, ValueError, OSError) as exc:
            raise EngineError(f"CTranslate2 could not load the Whisper model in {model_dir}: "
                              f"{exc}") from None
        if self.model.is_multilingual:
            raise EngineError(f"{model_dir} is a multilingual Whisper model; the engine is "
                              "built for an English-only one (tiny.en, base.en, ...)")
        self.tokenizer = Tokenizer(hf, multilingual=False)
        self.features = FeatureExtractor(feature_size=self.model.n_mels)
        self.suppress = list(get_suppressed_tokens(self.tokenizer, [-1]))
        self._silence: np.ndarray | None = None
        self._lock = threading.Lock()
        self._gate = PriorityGate(parallel)  # first decodes before readings again

    # ------------------------------------------------------------------ pieces

    def _audio(self, pcm: bytes, speed: float = 1.0) -> np.ndarray:
        """Whisper's input: 16 kHz float, played `speed` times as fast (pitch with it).
        (Scaling speech to a fixed level, as pocketsphinx does, measured no better.)"""
        pcm16 = resample(pcm[: len(pcm) // 2 * 2], int(round(PHONE_RATE * speed)),
                         WHISPER_RATE)
        return np.frombuffer(pcm16, dtype="<i2").astype(np.float32) / 32768.0

    def _mel(self, audio: np.ndarray, window_s: float) -> np.ndarray:
        n = int(window_s * WHISPER_RATE)
        audio = np.pad(audio[:n], (0, max(0, n - audio.size)))
        mel = self.features(audio, padding=0)[:, : int(window_s * FRAMES_PER_S)]
        return np.ascontiguousarray(mel[None], dtype=np.float32)

    def silence(self) -> np.ndarray:
        """The encoder output of 30 s of digital silence (computed once: a full encode)."""
        with self._lock:
            if self._silence is None:
                mel = self._mel(np.zeros(0, dtype=np.float32), MAX_WINDOW_S)
                out = self.model.encode(self._ct2.StorageView.from_array(mel))
                self._silence = np.array(out)
            return self._silence

    def encode(self, audio: np.ndarray, options: WhisperOptions, rank: int = FIRST):
        seconds = audio.size / WHISPER_RATE
        if not options.splice:
            return self._ct2.StorageView.from_array(self._mel(audio, MAX_WINDOW_S))
        step = options.window_step_s
        window = min(MAX_WINDOW_S, math.ceil((seconds + options.window_margin_s) / step) * step)
        mel = self._ct2.StorageView.from_array(self._mel(audio, window))
        with self._gate.held(rank):
            encoded = np.array(self.model.encode(mel))
        filled = encoded.shape[1]
        if filled < ENCODER_POSITIONS:
            encoded = np.concatenate([encoded, self.silence()[:, filled:]], axis=1)
        return self._ct2.StorageView.from_array(np.ascontiguousarray(encoded))

    def prompt_tokens(self, prompt: str | None) -> list[int]:
        tok = self.tokenizer
        tokens: list[int] = []
        if prompt:
            tokens = [tok.sot_prev, *tok.encode(" " + prompt.strip())][:200]
        return tokens + [*tok.sot_sequence, tok.no_timestamps]

    # ------------------------------------------------------------------ the decode

    def encoded(self, pcm: bytes, options: WhisperOptions, speed: float = 1.0,
                rank: int = FIRST) -> Encoded:
        """The utterance's encoder output (played at `speed`), the costly part of a decode:
        a turn decoded again with another prompt reuses it. `rank`: priority.PriorityGate."""
        audio = self._audio(pcm, speed)
        return Encoded(self.encode(audio, options, rank), audio.size / WHISPER_RATE)

    def decode(self, pcm: bytes | Encoded, prompts: tuple[str | None, ...],
               options: WhisperOptions, digits: bool = False, rank: int = FIRST
               ) -> WhisperResult:
        """Decode one utterance of 8 kHz PCM (or its encoding) with the first prompt that
        does not loop; `digits`: the turn listens for digits (greedy search, see
        WhisperOptions); `rank`: priority.PriorityGate."""
        beam = options.digits_beam_size if digits else options.beam_size
        enc = pcm if isinstance(pcm, Encoded) else self.encoded(pcm, options, rank=rank)
        features, seconds = enc.features, enc.seconds
        cap = int(math.ceil(seconds * options.tokens_per_s)) + options.extra_tokens
        first = None
        tries = prompts or (None,)
        if options.repeat_loops and not digits and None not in tries:
            tries = (*tries, None)
        for index, prompt in enumerate(tries):
            start = self.prompt_tokens(prompt)
            with self._gate.held(rank):
                out = self.model.generate(
                    features, [start], beam_size=beam, max_length=len(start) + cap,
                    num_hypotheses=max(1, min(beam, options.alternatives)),
                    repetition_penalty=options.repetition_penalty,
                    no_repeat_ngram_size=options.no_repeat_ngram_size,
                    return_scores=True, return_no_speech_prob=True, suppress_blank=True,
                    suppress_tokens=self.suppress)[0]
            decoded = [self._transcript(ids, score, cap, options, digits)
                       for ids, score in zip(out.sequences_ids, out.scores, strict=True)]
            raw, avg, n, looped = decoded[0]
            others = tuple((clean_text(r), a) for r, a, _, loop in decoded[1:]
                           if r and not loop and not is_foreign(r))
            result = WhisperResult(text=clean_text(raw), raw=raw, avg_logprob=avg,
                                   no_speech_prob=float(out.no_speech_prob), tokens=n,
                                   audio_s=seconds, prompt_index=index, looped=looped,
                                   foreign=bool(raw) and is_foreign(raw),
                                   alternatives=others)
            if not looped:
                return result
            first = first or result
        return replace(first, text=collapse_repeats(first.text))

    def _transcript(self, ids: list[int], score: float, cap: int, options: WhisperOptions,
                    digits: bool = False) -> tuple[str, float, int, bool]:
        """(raw text, mean token log probability with the end token, tokens, looped)."""
        raw = self.tokenizer.decode(ids).strip()
        n = len(ids)
        avg = float(score) * n / (n + 1) if n else float(score)
        return raw, avg, n, n >= cap or loops(raw, options, digits)


_cores: dict[tuple[str, int], WhisperCore] = {}
_cores_lock = threading.Lock()


def shared_core(model_dir: Path, parallel: int = 1) -> WhisperCore:
    """The process-wide model for `model_dir` (loaded once, shared by every call)."""
    key = (str(Path(model_dir).resolve()), parallel)
    with _cores_lock:
        core = _cores.get(key)
        if core is None:
            core = _cores[key] = WhisperCore(Path(model_dir), parallel)
        return core


def decode_utterance(model_dir: Path, pcm: bytes, prompts: tuple[str | None, ...],
                     options: WhisperOptions, digits: bool = False,
                     parallel: int = 1) -> WhisperResult:
    """The decode as a plain function of picklable arguments (for a worker process)."""
    return shared_core(model_dir, parallel).decode(pcm, prompts, options, digits)
