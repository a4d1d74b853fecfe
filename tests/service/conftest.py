"""The real service on a loopback port, driven by the Twilio stand-in over a real WebSocket.

Heavy parts (the pocketsphinx engine, rendered prompts) load once per test session; each
service gets its own SQLite file or PostgreSQL database (every test that starts a service
runs on both backends). Twilio's cloud is the only thing replaced (by the stand-in).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from voicebot.flow.loader import load_flow
from voicebot.replay.caller import CallerTurn
from voicebot.replay.standin import TwilioStandin
from voicebot.service.app import create_app
from voicebot.settings import DEFAULT_FLOW, Settings
from voicebot.speech.audio import load_phone_audio

AUTH_TOKEN = "test-twilio-auth-token"
API_TOKEN = "test-api-token"
SPEED = 5.0  # the stand-in sends audio 5x faster than real time (the service follows)


class _Late:
    """WSGI app set after the server socket exists (the public URL needs its port)."""

    app: Any = None

    def __call__(self, environ: dict, start_response: Any) -> Any:
        return self.app(environ, start_response)


class RunningService:
    """create_app's app in werkzeug's threaded server (a thread per request and per call)."""

    def __init__(self, store_env: dict[str, str] | Path, *, engine: Any, renderer: Any,
                 env: dict[str, str] | None = None) -> None:
        if not isinstance(store_env, dict):  # a SQLite file
            store_env = {"VOICEBOT_DB": str(store_env)}
        late = _Late()
        self.server = make_server("127.0.0.1", 0, late, threaded=True)
        self.base_url = f"http://127.0.0.1:{self.server.server_port}"
        self.settings = Settings.from_env({
            "VOICEBOT_PUBLIC_URL": self.base_url, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "VOICEBOT_API_TOKEN": API_TOKEN, "VOICEBOT_FLOW": str(DEFAULT_FLOW),
            **store_env, **(env or {}),
        })
        self.app = create_app(self.settings, engine=engine, renderer=renderer)
        late.app = self.app
        self.service = self.app.extensions["voicebot"]
        self.store = self.service.store
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def webhook_url(self) -> str:
        return self.base_url + "/voice"

    def standin(self, **kwargs: Any) -> TwilioStandin:
        kwargs.setdefault("speed", SPEED)
        return TwilioStandin(self.webhook_url, auth_token=AUTH_TOKEN, api_token=API_TOKEN,
                             **kwargs)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.store.close()


@pytest.fixture(scope="session")
def flow():
    return load_flow(DEFAULT_FLOW)


@pytest.fixture(scope="session")
def engine():
    from voicebot.speech.engines import load_engine

    return load_engine("pocketsphinx")


@pytest.fixture(scope="session")
def renderer(tmp_path_factory: pytest.TempPathFactory, flow):
    from voicebot.speech.tts import PromptRenderer

    return PromptRenderer(tmp_path_factory.mktemp("tts"), voice=flow.voice, rate=flow.rate)


@pytest.fixture
def start_service(tmp_path: Path, engine, renderer, store_backend):
    """start_service(location=None, engine_override=None, renderer_override=None, env=None)
    -> RunningService (stopped after), its records on the test's backend (a new SQLite file
    or database unless `location`: a SQLite file Path, or a location of the backend)."""
    running: list[RunningService] = []

    def start(location: str | Path | None = None, *, engine_override: Any = None,
              renderer_override: Any = None,
              env: dict[str, str] | None = None) -> RunningService:
        where = location or store_backend.new_location(tmp_path)
        store = where if isinstance(where, Path) else store_backend.env(str(where))
        svc = RunningService(store, engine=engine_override or engine,
                             renderer=renderer_override or renderer, env=env)
        running.append(svc)
        return svc

    yield start
    for svc in running:
        svc.stop()


@pytest.fixture(scope="module")
def shared_service(tmp_path_factory, engine, renderer, store_backend
                   ) -> Iterator[RunningService]:
    """One service for the tests of a module that need no restart or special engine."""
    where = store_backend.new_location(tmp_path_factory.mktemp("db"))
    svc = RunningService(store_backend.env(where), engine=engine, renderer=renderer)
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def say(speech, shared_data):
    """say("agent") -> a caller turn of espeak-ng speech; say(fsdd="4_jackson_0") -> real."""

    def make(text: str | None = None, *, fsdd: list[str] | None = None, voice: str = "en-us",
             barge_in: bool = False) -> CallerTurn:
        if fsdd:
            silence = b"\x00" * 3200  # 200 ms between digits
            audio = silence.join(load_phone_audio(shared_data / "fsdd" / f"{name}.wav")
                                 for name in fsdd)
            audio = b"\x00" * 4800 + audio + b"\x00" * 4800
            return CallerTurn("say", audio=audio, barge_in=barge_in, label="fsdd")
        path = speech(text, voice=voice, speed=150, pad_s=0.3)
        return CallerTurn("say", audio=load_phone_audio(path), barge_in=barge_in, label=text)

    return make


def dtmf(digits: str) -> CallerTurn:
    return CallerTurn("dtmf", digits=digits, label=f"dtmf {digits}")


def wait(seconds: float) -> CallerTurn:
    return CallerTurn("silence", seconds=seconds, label=f"wait {seconds:g}")
