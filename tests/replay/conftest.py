"""Heavy parts of the replay tests, loaded once per session: the real pocketsphinx engine,
the prompt renderer's cache, and the example suite's espeak-ng recordings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scenarios.recordings import suite_audio as render_suite_audio
from voicebot.replay.offline import ReplayEnv
from voicebot.settings import Settings

SUITE = Path(__file__).resolve().parent.parent / "scenarios"


@pytest.fixture(scope="session")
def replay_engine():
    from voicebot.speech.engines import load_engine

    return load_engine("pocketsphinx")


@pytest.fixture(scope="session")
def tts_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tts-cache")


@pytest.fixture(scope="session")
def suite_audio(request: pytest.FixtureRequest, shared_data) -> Path:
    """The suite's synthetic recordings (`voicebot synth` of the default flow), made outside
    the repo; the same directory the scenario items use."""
    return render_suite_audio(request.config)


@pytest.fixture(scope="session")
def replay_env(replay_engine, tts_cache: Path) -> Iterator[ReplayEnv]:
    with ReplayEnv(engine=replay_engine, tts_cache=tts_cache, settings=Settings()) as env:
        yield env


def suite_files() -> list[Path]:
    return sorted(SUITE.glob("*.yaml"))
