"""Test callers' speech: any text in any espeak-ng voice and rate, as a phone line carries it
(8 kHz, mu-law), written to WAV files for scenarios, `voicebot evaluate` and the tests.

It is the bot's own renderer (one pyttsx3 worker, the disk cache keyed by text, voice and
rate), asked for another voice and rate per phrase, so there is one way to make speech in
the project and a phrase is rendered once however many suites use it.
"""

from __future__ import annotations

from pathlib import Path

from voicebot.speech.audio import ulaw_to_pcm16, write_wav
from voicebot.speech.tts import PromptRenderer
from voicebot.speech.types import PHONE_RATE


class CallerAudio:
    """Renders caller phrases; close() (or a with block) stops the speech worker."""

    def __init__(self, cache_dir: Path, *, render_timeout: float = 30.0) -> None:
        self.renderer = PromptRenderer(Path(cache_dir), render_timeout=render_timeout)

    def pcm(self, text: str, voice: str | None = None, rate: int | None = None,
            pad_s: float = 0.0) -> bytes:
        """16-bit PCM at 8 kHz of `text`, with `pad_s` of silence before and after."""
        pcm = ulaw_to_pcm16(self.renderer.render(text, voice=voice, rate=rate))
        pad = b"\x00\x00" * int(PHONE_RATE * pad_s)
        return pad + pcm + pad

    def write(self, path: Path, text: str, voice: str | None = None, rate: int | None = None,
              pad_s: float = 0.0) -> Path:
        """`text` spoken into the WAV file `path` (its directory is made)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return write_wav(path, self.pcm(text, voice, rate, pad_s), PHONE_RATE)

    def close(self) -> None:
        self.renderer.close()

    def __enter__(self) -> CallerAudio:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
