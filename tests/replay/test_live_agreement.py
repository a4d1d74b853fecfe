"""Offline and live runs of the same scenario agree on outcome, reason, queue and path.

Live: the real service (create_app) on a loopback port, called by the Twilio stand-in over
a real WebSocket with the same CallerSimulator, its transcript read back from the service's
records. Offline: the same scenario through the same driver on a virtual clock.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.backends import DATA_KEY
from tests.replay.conftest import SUITE
from voicebot.replay.report import timeline
from voicebot.replay.result import evaluate
from voicebot.replay.scenario import load_scenario
from voicebot.replay.standin import TwilioStandin
from voicebot.service.app import create_app
from voicebot.settings import Settings

pytestmark = pytest.mark.slow  # the example suite, live and offline

AUTH_TOKEN = "replay-test-auth-token"
API_TOKEN = "replay-test-api-token"
LIVE = ("transfer_key", "barge_in_menu", "order_not_found")


class _Late:
    """The WSGI app, set once the server's port (part of the public URL) is known."""

    app: Any = None

    def __call__(self, environ: dict, start_response: Any) -> Any:
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def live_service(tmp_path_factory: pytest.TempPathFactory, replay_env, replay_engine):
    late = _Late()
    server = make_server("127.0.0.1", 0, late, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    db = tmp_path_factory.mktemp("live") / "calls.sqlite3"
    settings = Settings.from_env({
        "VOICEBOT_PUBLIC_URL": base, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "VOICEBOT_API_TOKEN": API_TOKEN, "VOICEBOT_DB": str(db), "VOICEBOT_DATA_KEY": DATA_KEY,
        "VOICEBOT_FLOW": str(Settings().flow_path),
    })
    flow = replay_env.flow_for(load_scenario(SUITE / "transfer_key.yaml"))
    late.app = create_app(settings, engine=replay_engine, flow=flow,
                          renderer=replay_env.renderer_for(flow))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base + "/voice"
    server.shutdown()
    server.server_close()


def test_offline_and_live_verdicts_agree(live_service: str, replay_env, suite_audio: Path):
    scenarios = [load_scenario(SUITE / f"{name}.yaml", audio_dirs=[suite_audio])
                 for name in LIVE]
    standin = TwilioStandin(live_service, auth_token=AUTH_TOKEN, api_token=API_TOKEN,
                            speed=3.0)
    with ThreadPoolExecutor(len(scenarios)) as pool:  # the calls run at once, like callers
        calls = list(pool.map(lambda sc: standin.run(list(sc.turns)), scenarios))
    for scenario, call in zip(scenarios, calls, strict=True):
        assert call.transcript is not None, call.record_error
        live = evaluate(scenario, call.transcript, call.sim, mode="live", call_s=call.call_s,
                        wall_s=call.wall_s)
        offline = replay_env.run(scenario)
        report = timeline(live) + "\n\n" + timeline(offline)
        assert live.passed and offline.passed, report
        for key in ("outcome", "reason", "queue", "path"):
            assert getattr(live.transcript, key) == getattr(offline.transcript, key), report
