"""Shared test fixtures: where the real recordings are, and espeak-ng speech for phrases that
no recording has (made here, in the test set-up, with several voices and speeds)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.speechgen import SpeechMaker

# Scenario YAML files are test items (tests/scenarios/). Installed, the package registers
# the plugin under this same name, so naming it here loads it once either way.
pytest_plugins = ["voicebot.replay.pytest_plugin"]

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = (ROOT.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the checkout (real recordings; CI has it too)."""
    if not (SHARED_DATA / "fsdd").is_dir():
        pytest.fail(f"real recordings not found at {SHARED_DATA} (see the README)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpeechMaker]:
    """Makes WAV files of phrases with espeak-ng: speech("agent", voice="en-us", speed=150)."""
    with SpeechMaker(tmp_path_factory.mktemp("espeak")) as maker:
        yield maker


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The CLI configures the root logger (its edge); give other tests theirs back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
