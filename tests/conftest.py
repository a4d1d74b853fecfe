"""Shared test fixtures: where the real recordings are, and espeak-ng speech for phrases that
no recording has (made here, in the test set-up, with several voices and speeds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.speechgen import SpeechMaker

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = (ROOT.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the checkout (real recordings; CI has it too)."""
    if not (SHARED_DATA / "fsdd").is_dir():
        pytest.fail(f"real recordings not found at {SHARED_DATA} (see the README)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> SpeechMaker:
    """Makes WAV files of phrases with espeak-ng: speech("agent", voice="en-us", speed=150)."""
    return SpeechMaker(tmp_path_factory.mktemp("espeak"))


@pytest.fixture
def immutable():
    """immutable(*paths): chattr +i on them, undone by immutable.release() or at the end."""
    from tests.faults import Immutable

    files = Immutable()
    yield files
    files.release()
