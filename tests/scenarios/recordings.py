"""The example suite's recordings: `voicebot synth` of the default flow (espeak-ng phrases in
several voices and speeds; real digits come from ../shared/data/fsdd), rendered once per test
run into a temporary directory. By hand, from any directory:

    voicebot synth call_flows/support.yaml -o /tmp/voicebot-audio
    voicebot replay --audio-dir /tmp/voicebot-audio tests/scenarios/*.yaml
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from voicebot.flow.loader import load_flow
from voicebot.replay.synth import synthesize
from voicebot.settings import DEFAULT_FLOW
from voicebot.speech.caller_audio import CallerAudio

_AUDIO = pytest.StashKey[Path]()


def render(dest: Path, tts_cache: Path) -> Path:
    """Everything a caller of the default flow may say, into `dest` (synth's layout)."""
    with CallerAudio(tts_cache) as audio:
        synthesize(load_flow(DEFAULT_FLOW), dest, audio)
    return dest


def suite_audio(config: pytest.Config) -> Path:
    """The suite's recordings for this test run (rendered the first time they are needed)."""
    if _AUDIO not in config.stash:
        tmp = tempfile.TemporaryDirectory(prefix="voicebot-suite-audio-")
        config.add_cleanup(tmp.cleanup)
        config.stash[_AUDIO] = render(Path(tmp.name) / "audio", Path(tmp.name) / "tts-cache")
    return config.stash[_AUDIO]
