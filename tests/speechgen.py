"""Synthetic caller speech for phrases no real recording has: the package's one way of making
caller audio (voicebot.speech.caller_audio: espeak-ng, a process per phrase, the speech
path's conversion to phone audio) writing 8 kHz WAV files, as `voicebot synth` does.

Used only where ../shared/data has no recording of a phrase; every test that uses it says so
by calling it. Several voices and speeds make the test less tied to one rendering.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from voicebot.replay.synth import DEFAULT_SPEEDS, DEFAULT_VOICES
from voicebot.speech.caller_audio import CallerAudio

VOICES = DEFAULT_VOICES
SPEEDS = DEFAULT_SPEEDS


class SpeechMaker:
    """speech("agent", voice="en-gb", speed=150, pad_s=0.3) -> a WAV file of it (cached)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._audio: CallerAudio | None = None

    def __call__(self, text: str, voice: str = "en-us", speed: int = 160,
                 pad_s: float = 0.0) -> Path:
        """A WAV (8 kHz mono 16-bit) of `text`, optionally padded with silence both sides."""
        key = hashlib.sha1(f"{text}|{voice}|{speed}|{pad_s}".encode()).hexdigest()[:12]
        out = self.directory / f"{key}.wav"
        if not out.exists():
            if self._audio is None:
                self._audio = CallerAudio(self.directory / "cache")
            self._audio.write(out, text, voice, speed, pad_s=pad_s)
        return out

    def variants(self, text: str) -> list[Path]:
        """The phrase in every voice and speed (for accuracy checks across renderings)."""
        return [self(text, voice, speed) for voice in VOICES for speed in SPEEDS]

    def close(self) -> None:
        if self._audio is not None:
            self._audio.close()
            self._audio = None

    def __enter__(self) -> SpeechMaker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
