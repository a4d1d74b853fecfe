"""The example suite runs as pytest items (voicebot.replay.pytest_plugin), with recordings
`voicebot synth` renders for it once per run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scenarios.recordings import suite_audio


def pytest_voicebot_audio_dirs(config: pytest.Config) -> list[Path]:
    return [suite_audio(config)]
