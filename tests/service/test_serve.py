"""`voicebot serve` as operators run it: a real subprocess on gunicorn.

SIGTERM during 10 calls drains: each caller hears the hand-over message to the end (or its
own hand-over, already begun), new callers go to a person, and the process exits 0. A bad
address is one clear line, not a server's traceback.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.backends import DATA_KEY, TEST_CIPHER
from tests.service.conftest import API_TOKEN, AUTH_TOKEN, dtmf, wait
from voicebot.records.hashing import load_hash_key
from voicebot.records.store import CallStore
from voicebot.replay.standin import TwilioStandin
from voicebot.service.routes_twilio import UNAVAILABLE


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VOICEBOT_", "TWILIO_"))}
    return {**clean, "VOICEBOT_DB": str(tmp_path / "calls.sqlite3"),
            "VOICEBOT_TTS_CACHE": str(tmp_path / "tts"), "VOICEBOT_WARM_RECOGNIZERS": "2",
            "VOICEBOT_LOG_LEVEL": "warning", "VOICEBOT_DATA_KEY": DATA_KEY, **extra}


def _serve(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "voicebot", "serve", *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("args", "expected"), [
    (["--host", "no-such-host.invalid"], "cannot listen on no-such-host.invalid:"),
    (["--host", "http://0.0.0.0"], "VOICEBOT_HOST='http://0.0.0.0' is not an address"),
    (["--port", "99999"], "VOICEBOT_PORT=99999 must be between 1 and 65535"),
])
def test_a_bad_address_is_one_clear_line(tmp_path, args, expected):
    done = _serve(["--insecure-no-signature", *args], _env(tmp_path))
    assert done.returncode == 2
    assert expected in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) <= 3


def test_a_port_in_use_is_one_clear_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _serve(["--insecure-no-signature", "--port", str(port)], _env(tmp_path))
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_nonsense_urls_are_refused_before_serving(tmp_path):
    env = _env(tmp_path, VOICEBOT_PUBLIC_URL="javascript:alert(1)",
               VOICEBOT_HOLD_MUSIC_URL="https://music example.com/a.mp3",
               VOICEBOT_HASH_KEY="   ")
    done = _serve(["--insecure-no-signature"], env)
    assert done.returncode == 2
    for name in ("VOICEBOT_PUBLIC_URL", "VOICEBOT_HOLD_MUSIC_URL", "VOICEBOT_HASH_KEY"):
        assert name in done.stderr
    assert "Traceback" not in done.stderr


CALLS = 10


@pytest.mark.slow
def test_sigterm_during_calls_hands_each_caller_over_and_exits_0(tmp_path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = _env(tmp_path, TWILIO_AUTH_TOKEN=AUTH_TOKEN, VOICEBOT_API_TOKEN=API_TOKEN,
               VOICEBOT_PUBLIC_URL=base, VOICEBOT_PORT=str(port), VOICEBOT_DRAIN_GRACE_S="0")
    proc = subprocess.Popen([sys.executable, "-m", "voicebot", "serve"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _until_up(proc, base)
        # Twilio posts the status callback when the call ends, after the queue (often to
        # another instance): not as the stream ends, so the stand-in does not either
        standin = TwilioStandin(base + "/voice", auth_token=AUTH_TOKEN, api_token=API_TOKEN,
                                speed=2.0, max_call_s=120, post_status=False)
        results: dict[int, object] = {}

        def call(i: int) -> None:
            # the last caller presses 0 about when SIGTERM comes: its own hand-over, if it
            # has begun, plays on as it is
            turns = [wait(60.0)] if i < CALLS - 1 else [wait(5.0), dtmf("0")]
            try:
                results[i] = standin.run(turns)
            except Exception as exc:  # noqa: BLE001 - reported below
                results[i] = exc

        callers = [threading.Thread(target=call, args=(i,)) for i in range(CALLS)]
        for caller in callers:
            caller.start()
            time.sleep(0.2)
        time.sleep(1.5)  # every call is in its disclosure
        proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        status, body = standin.post(base + "/voice", standin.call_params("CAlate", "ringing"))
        late = ET.fromstring(body)
        for caller in callers:
            caller.join(120)
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=30)
    assert code == 0, err[-2000:]
    assert "Traceback" not in err
    assert status == 200 and late.find("Say").text == UNAVAILABLE
    assert late.find("Enqueue") is not None and late.find("Connect") is None
    store = CallStore(tmp_path / "calls.sqlite3",
                      load_hash_key(None, tmp_path / "calls.sqlite3"), cipher=TEST_CIPHER)
    for i, result in results.items():
        assert not isinstance(result, Exception), f"call {i}: {result}"
        t = store.get(result.call_sid)
        reasons = ("service",) if i < CALLS - 1 else ("service", "dtmf")
        assert t.outcome == "transfer" and t.reason in reasons, (t.reason, t.path)
        assert t.prompts[-1].kind == "handover" and t.prompts[-1].t_played is not None
        assert result.closed_by_service and "<Enqueue" in (result.twiml_after or "")
    assert len(results) == CALLS
    store.close()


def _until_up(proc: subprocess.Popen, base: str) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as resp:
                assert json.loads(resp.read())["status"] == "ok"
                return
        except OSError:
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "voicebot serve did not come up"
            time.sleep(0.3)
