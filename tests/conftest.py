"""Shared test fixtures: where the real recordings are, espeak-ng speech for phrases that
no recording has (made here, in the test set-up, with several voices and speeds), and the
call store's backends (SQLite, and a PostgreSQL cluster the tests start themselves)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import StoreBackend
from tests.pg import PostgresCluster, find_bin, missing_reason
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


@pytest.fixture(scope="session")
def call_cascade(tmp_path_factory: pytest.TempPathFactory):
    """The engine `auto` takes with the packaged Whisper weights (the cascade of Whisper and
    pocketsphinx), for whole calls: loaded once, pocketsphinx decoding in the call's thread."""
    from voicebot.speech.engines import load_engine

    return load_engine("cascade", model_dir=tmp_path_factory.mktemp("no-models"),
                       whisper_model="", whisper_threads=1, workers=0)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The CLI configures the root logger (its edge); give other tests theirs back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def require_postgres() -> Path:
    """PostgreSQL's bin directory; skipped without it, except in CI, where it fails."""
    bin_dir = find_bin()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail(missing_reason() + " (CI must run the PostgreSQL tests)")
        pytest.skip(missing_reason())
    return bin_dir


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster for the whole test session (tests/pg.py)."""
    cluster = PostgresCluster.start(require_postgres())
    yield cluster
    cluster.remove()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def store_backend(request: pytest.FixtureRequest) -> StoreBackend:
    """Each test that takes it runs on both backends of the call store."""
    if request.param == "sqlite":
        return StoreBackend("sqlite")
    return StoreBackend("postgresql", request.getfixturevalue("postgres"))


@pytest.fixture
def immutable():
    """immutable(*paths): chattr +i on them, undone by immutable.release() or at the end."""
    from tests.faults import Immutable

    files = Immutable()
    yield files
    files.release()
