"""Test callers' speech: any text in any espeak-ng voice and rate, as a phone line carries it
(8 kHz, mu-law), written to WAV files for scenarios, `voicebot evaluate` and the tests. The
one way the project makes caller audio (`voicebot synth`, the test suite, the benchmarks).

Each phrase is rendered by espeak-ng in a process of its own (its command line, the same
library the bot speaks with), not in the bot's long-lived pyttsx3 worker: espeak-ng's
synthesis carries state from one utterance to the next, so in one process the same phrase
came out differently after another one (measured: a phrase rendered alone and after "agent"
in the same voice differed from the 64th sample on, and in length), and test audio must be
the same whatever was rendered before it. Voice names are resolved as the bot resolves
them (voicebot.speech.voices), so a misspelt voice is an error rather than espeak-ng's
default voice; the conversion to phone audio is the speech path's own (audio.to_phone_rate).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from voicebot.speech.audio import AudioError, read_wav, to_phone_rate, write_wav
from voicebot.speech.tts import TtsError
from voicebot.speech.types import PHONE_RATE
from voicebot.speech.voices import (
    DEFAULT_RATE,
    ESPEAK_HINT,
    VoicesUnavailable,
    installed,
    rate_problem,
    resolve_voice,
)

VERSION = "espeak-ng-cli-1"  # in the cache key: bump when the rendering changes
RENDER_TIMEOUT_S = 30.0


class CallerAudio:
    """Renders caller phrases (cached on disk by text, voice and rate)."""

    def __init__(self, cache_dir: Path, *, render_timeout: float = RENDER_TIMEOUT_S) -> None:
        self.espeak = shutil.which("espeak-ng")
        if self.espeak is None:
            raise TtsError(f"espeak-ng is not installed: {ESPEAK_HINT}")
        self.cache_dir = Path(cache_dir)
        self.render_timeout = render_timeout
        self.renders = 0  # phrases rendered (the rest came from the cache)

    def pcm(self, text: str, voice: str | None = None, rate: int | None = None,
            pad_s: float = 0.0) -> bytes:
        """16-bit PCM at 8 kHz of `text`, with `pad_s` of silence before and after."""
        voice_id = self._voice(voice)
        if (problem := rate_problem(rate)) is not None:
            raise TtsError(problem)
        rate = rate or DEFAULT_RATE
        key = hashlib.sha256(json.dumps([VERSION, text, voice_id, rate]).encode()).hexdigest()
        cached = self.cache_dir / f"{key}.pcm"
        if cached.is_file():
            pcm = cached.read_bytes()
        else:
            pcm = self._render(text, voice_id, rate)
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.cache_dir, suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                out.write(pcm)
            os.replace(tmp, cached)
        pad = b"\x00\x00" * int(PHONE_RATE * pad_s)
        return pad + pcm + pad

    def write(self, path: Path, text: str, voice: str | None = None, rate: int | None = None,
              pad_s: float = 0.0) -> Path:
        """`text` spoken into the WAV file `path` (8 kHz mono 16-bit; its directory is made)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return write_wav(path, self.pcm(text, voice, rate, pad_s), PHONE_RATE)

    def _voice(self, voice: str | None) -> str:
        if not voice:
            return "en"
        try:
            return resolve_voice(voice, installed())
        except (ValueError, VoicesUnavailable) as exc:
            raise TtsError(str(exc)) from None

    def _render(self, text: str, voice_id: str, rate: int) -> bytes:
        with tempfile.TemporaryDirectory(prefix="voicebot-caller-") as tmp:
            wav = Path(tmp) / "phrase.wav"
            try:
                subprocess.run([str(self.espeak), "-v", voice_id, "-s", str(rate), "-w",
                                str(wav), "--", text], check=True, capture_output=True,
                               timeout=self.render_timeout)
                pcm, rate_hz = read_wav(wav)
            except subprocess.TimeoutExpired:
                raise TtsError(f"espeak-ng took longer than {self.render_timeout:g} s for "
                               f"{text[:40]!r}") from None
            except (subprocess.CalledProcessError, AudioError) as exc:
                raise TtsError(f"espeak-ng could not render {text[:40]!r}: {exc}") from None
        self.renders += 1
        return to_phone_rate(pcm, rate_hz)

    def close(self) -> None:
        """Nothing runs between phrases; kept so a with block reads as for the renderer."""

    def __enter__(self) -> CallerAudio:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
