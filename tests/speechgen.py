"""Synthetic caller speech for phrases no real recording has, made with espeak-ng.

Used only where ../shared/data has no recording of a phrase; every test that uses it says so
by calling it. Several voices and speeds make the test less tied to one rendering.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

VOICES = ("en-us", "en-gb", "en-us+m3", "en-gb+f2")
SPEEDS = (140, 175)


class SpeechMaker:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        if shutil.which("espeak-ng") is None:
            raise RuntimeError("espeak-ng is not installed: run ./scripts/setup.sh")

    def __call__(self, text: str, voice: str = "en-us", speed: int = 160,
                 pad_s: float = 0.0) -> Path:
        """A WAV (22.05 kHz mono 16-bit) of `text`, optionally padded with silence both sides."""
        key = hashlib.sha1(f"{text}|{voice}|{speed}|{pad_s}".encode()).hexdigest()[:12]
        out = self.directory / f"{key}.wav"
        if out.exists():
            return out
        raw = self.directory / f"{key}.raw.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), text],
                       check=True, capture_output=True)
        if pad_s > 0:
            subprocess.run(["sox", str(raw), str(out), "pad", str(pad_s), str(pad_s)],
                           check=True, capture_output=True)
            raw.unlink()
        else:
            raw.rename(out)
        return out

    def variants(self, text: str) -> list[Path]:
        """The phrase in every voice and speed (for accuracy checks across renderings)."""
        return [self(text, voice, speed) for voice in VOICES for speed in SPEEDS]
