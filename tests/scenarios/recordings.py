"""The example suite's synthetic recordings: phrases no real recording has, made with
espeak-ng in several voices and speeds (real digits come from ../shared/data/fsdd).

Scenarios name them as `recordings/<name>.wav`; they are generated outside the repository
and found with `voicebot replay --audio-dir DIR` (see README.md):

    python3 -m tests.scenarios.recordings /tmp/voicebot-audio
    voicebot replay --audio-dir /tmp/voicebot-audio tests/scenarios/*.yaml
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from tests.speechgen import SpeechMaker

# file name -> (text, espeak-ng voice, words per minute)
RECORDINGS: dict[str, tuple[str, str, int]] = {
    "agent.wav": ("agent", "en-us", 165),
    "order-status.wav": ("order status", "en-us+m3", 165),
    "billing.wav": ("billing", "en-gb+f2", 150),
    "operator.wav": ("operator", "en-gb", 165),
    "yes-please.wav": ("yes please", "en-us", 190),
    "no.wav": ("no", "en-gb", 165),
    # unintelligible answers: nonsense syllables, nothing the menu can match
    "mumble-1.wav": ("vrosh kelteng umbrazi", "en-us+m3", 190),
    "mumble-2.wav": ("plinda mork zevarth", "en-gb+f2", 180),
}


def make_recordings(dest: Path, maker: SpeechMaker | None = None) -> Path:
    """Render every recording into dest/recordings/ (cached by the maker); returns dest."""
    out = dest / "recordings"
    out.mkdir(parents=True, exist_ok=True)
    maker = maker or SpeechMaker(Path(tempfile.mkdtemp(prefix="espeak-")))
    for name, (text, voice, speed) in RECORDINGS.items():
        target = out / name
        if not target.exists():
            shutil.copyfile(maker(text, voice=voice, speed=speed, pad_s=0.2), target)
    return dest


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python3 -m tests.scenarios.recordings DIR", file=sys.stderr)
        raise SystemExit(2)
    print(make_recordings(Path(sys.argv[1])) / "recordings")
