"""The early decode every batch engine shares: buffer an utterance, start its decode at the
pause the endpointer announces, and keep that decode if only silence followed.

Why: a turn's answer is ready when the end silence is confirmed, instead of one decode
later. An utterance is decoded whole at its end (engines here decode in one batch, which
measured better than streaming), so the only early start is the pause: the audio so far
plus `tail_ms` of silence is exactly what finish() would decode if the caller says nothing
more. If they go on (speech after the pause, by level), that decode is dropped.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Generic, TypeVar

import numpy as np

from voicebot.speech.audio import frame_rms
from voicebot.speech.types import FRAME_BYTES

R = TypeVar("R")

# Early decodes wait on a decoder (a worker process, or CTranslate2's own threads): threads
# that wait, not CPUs.
PREFETCH_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=64,
                                                      thread_name_prefix="asr-prefetch")

# Audio after a prefetch holds speech when at least this many 20 ms frames are louder than
# a floor and a tenth (-20 dB) of the utterance's speech level; the endpointer's own rule
# (voiced, 6 dB over the line's floor) is stricter, so what it calls speech is seen here.
_SPEECH_FRAMES = 2
_SPEECH_FLOOR_RMS = 40.0


class EarlyDecode(Generic[R]):
    """One utterance's audio and its decodes. `decode(pcm)` is the engine's whole-utterance
    decode; the result type is the engine's own. Not thread-safe (one call's thread)."""

    def __init__(self, decode: Callable[[bytes], R]) -> None:
        self._decode = decode
        self._pcm = bytearray()
        self._done = False
        self._prefetch: tuple[int, int, concurrent.futures.Future[R]] | None = None

    @property
    def audio(self) -> bytes:
        return bytes(self._pcm)

    def accept(self, pcm: bytes) -> None:
        if self._done:
            raise RuntimeError("recognizer already finished")
        self._pcm += pcm

    def prefetch(self, tail_ms: int) -> None:
        """Start decoding the audio so far plus `tail_ms` of silence (the endpointer's pause)."""
        if self._done:
            return
        pcm = bytes(self._pcm)
        if self._prefetch is not None and not self._spoke_since_prefetch(pcm):
            return  # the same pause again (a long end silence): that decode stands
        tail = tail_ms * 16  # bytes of 8 kHz 16-bit PCM
        # Digital silence stands for the rest of the pause: decoders frame every utterance
        # their own way. (Repeating the pause's own audio measured worse with pocketsphinx:
        # it can hold the weak end of the last word.)
        future = PREFETCH_POOL.submit(self._decode, pcm + b"\x00" * tail)
        self._prefetch = (len(pcm), tail, future)

    def early(self) -> R | None:
        """The prefetched decode (waits for it) if nothing was said after its pause, however
        long the pause went on; None when the utterance needs a decode of its own."""
        if self._done:
            raise RuntimeError("recognizer already finished")
        return self._early(bytes(self._pcm))

    def finish(self) -> R:
        """The decode of the whole utterance: the early one when it still holds."""
        if self._done:
            raise RuntimeError("recognizer already finished")
        self._done = True
        pcm, self._pcm = bytes(self._pcm), bytearray()
        result = self._early(pcm)
        return self._decode(pcm) if result is None else result

    def _early(self, pcm: bytes) -> R | None:
        if self._prefetch is None or self._spoke_since_prefetch(pcm):
            return None
        return self._prefetch[2].result()

    def _spoke_since_prefetch(self, pcm: bytes) -> bool:
        at, tail, _ = self._prefetch
        after = pcm[at:]
        if len(after) <= tail + FRAME_BYTES:
            return False
        return has_speech(after, pcm[:at])


def has_speech(audio: bytes, before: bytes) -> bool:
    """Whether `audio` holds speech, judged against the level of the speech `before` it."""
    frames = frame_rms(audio)
    if frames.size == 0:
        return False
    ref = frame_rms(before)
    level = float(np.percentile(ref, 90)) if ref.size else 0.0
    return int((frames > max(_SPEECH_FLOOR_RMS, 0.1 * level)).sum()) >= _SPEECH_FRAMES
