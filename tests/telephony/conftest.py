"""Real parts for driving calls: the pocketsphinx engine (loaded once), the TTS renderer with
a cache shared by the session's tests, and the default flow."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.speechgen import SpeechMaker
from voicebot.speech.audio import load_phone_audio

ROOT = Path(__file__).resolve().parents[2]
SUPPORT_FLOW = ROOT / "call_flows" / "support.yaml"


@pytest.fixture(scope="session")
def engine():
    from voicebot.speech.engines import load_engine

    return load_engine("pocketsphinx")


@pytest.fixture(scope="session")
def support_flow():
    from voicebot.flow.loader import load_flow

    return load_flow(SUPPORT_FLOW)


@pytest.fixture(scope="session")
def renderer(tmp_path_factory: pytest.TempPathFactory, support_flow):
    from voicebot.speech.tts import PromptRenderer

    renderer = PromptRenderer(tmp_path_factory.mktemp("tts-cache"), voice=support_flow.voice,
                              rate=support_flow.rate)
    yield renderer
    renderer.close()


@pytest.fixture(scope="session")
def phrase(speech: SpeechMaker) -> Callable[..., bytes]:
    """Caller audio of a phrase no recording has (espeak-ng), as the phone carries it."""

    def make(text: str, voice: str = "en-us", speed: int = 150) -> bytes:
        return load_phone_audio(speech(text, voice=voice, speed=speed, pad_s=0.3))

    return make


@pytest.fixture(scope="session")
def digit_audio(shared_data: Path) -> Callable[[int], bytes]:
    """A real recording of one spoken digit (FSDD, 8 kHz), as the phone carries it."""

    def make(digit: int, speaker: str = "jackson", index: int = 0) -> bytes:
        return load_phone_audio(shared_data / "fsdd" / f"{digit}_{speaker}_{index}.wav")

    return make
