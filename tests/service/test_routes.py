"""Twilio routes and the API over real HTTP: signatures, TwiML answers, bearer token, start-up.

Requests are signed exactly as Twilio signs them (the stand-in's signer); forged ones must be
refused with 403 and start no call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import pytest
import websocket
from twilio.request_validator import RequestValidator

from tests.backends import DATA_KEY
from tests.service.conftest import API_TOKEN, AUTH_TOKEN, dtmf
from voicebot.replay.standin import StandinError, TwilioStandin


def _forger(service) -> TwilioStandin:
    return TwilioStandin(service.webhook_url, auth_token="not-the-real-token",
                         api_token=API_TOKEN)


def test_forged_or_unsigned_webhook_gets_403_and_starts_no_call(shared_service):
    forged = _forger(shared_service)
    status, _ = forged.post(shared_service.webhook_url, forged.call_params("CAforged1", "ringing"))
    assert status == 403
    unsigned = TwilioStandin(shared_service.webhook_url, auth_token=None, api_token=API_TOKEN)
    status, _ = unsigned.post(shared_service.webhook_url,
                              unsigned.call_params("CAforged2", "ringing"))
    assert status == 403
    assert shared_service.store.get("CAforged1") is None
    assert shared_service.store.get("CAforged2") is None
    with pytest.raises(StandinError, match="403"):
        forged.run([dtmf("0")])


def test_signed_webhook_answers_connect_stream_with_parameters(shared_service):
    standin = shared_service.standin(from_number="+15550100555")
    status, body = standin.post(shared_service.webhook_url,
                                standin.call_params("CAtwiml", "ringing"))
    assert status == 200
    root = ET.fromstring(body)
    connect = root.find("Connect")
    stream = connect.find("Stream")
    assert connect.get("action") == shared_service.base_url + "/voice/after-stream"
    assert stream.get("url") == "ws://" + shared_service.base_url.split("://")[1] + "/media"
    assert "?" not in stream.get("url")
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    token = params.pop("stream_token")
    assert params == {"from": "+15550100555", "flow": "support"}
    assert shared_service.service.tokens.check("CAtwiml", token) is None
    assert shared_service.service.tokens.check("CAother", token) is not None


def test_forged_websocket_handshake_gets_403(shared_service):
    url = "ws://" + shared_service.base_url.split("://")[1] + "/media"
    for headers in ({}, {"X-Twilio-Signature": "Zm9yZ2Vk"}):
        with pytest.raises(websocket.WebSocketBadStatusException) as err:
            websocket.create_connection(url, header=headers, timeout=5)
        assert err.value.status_code == 403


def test_after_stream_without_a_record_fails_safe_to_the_fallback_queue(shared_service):
    standin = shared_service.standin()
    status, body = standin.post(shared_service.base_url + "/voice/after-stream",
                                standin.call_params("CAunknown", "in-progress"))
    assert status == 200
    enqueue = ET.fromstring(body).find("Enqueue")
    assert enqueue.text == "support"
    assert enqueue.get("waitUrl") == shared_service.base_url + "/queue/wait"


def test_queue_wait_says_position_then_offers_backup_channels(shared_service):
    standin = shared_service.standin()
    url = shared_service.base_url + "/queue/wait"
    early = {**standin.call_params("CAq", "in-progress"), "QueuePosition": "3",
             "QueueTime": "10", "QueueSid": "QU1", "CurrentQueueSize": "4"}
    status, body = standin.post(url, early)
    assert status == 200
    says = " ".join(s.text for s in ET.fromstring(body).iter("Say"))
    assert "number 3" in says
    assert "help@acme.example" not in says
    assert ET.fromstring(body).find("Redirect").text == url
    late = {**early, "QueueTime": str(int(shared_service.settings.queue_backup_after_s) + 5)}
    _, body = standin.post(url, late)
    says = " ".join(s.text for s in ET.fromstring(body).iter("Say"))
    assert "help@acme.example" in says and "555 0100" in says


@pytest.mark.slow
def test_agent_dials_the_queue_and_gets_the_dequeued_callers_context(shared_service):
    standin = shared_service.standin()
    result = standin.run([dtmf("0")])
    base = shared_service.base_url
    status, body = standin.post(base + "/agent?queue=billing",
                                standin.call_params("CAagent", "in-progress"))
    assert status == 200
    queue = ET.fromstring(body).find("Dial").find("Queue")
    assert queue.text == "billing" and queue.get("url") == base + "/agent/whisper"
    status, body = standin.post(base + "/agent?queue=nosuchqueue",
                                standin.call_params("CAagent", "in-progress"))
    assert ET.fromstring(body).find("Dial") is None
    # Twilio requests the <Queue url> for the dequeued caller's leg: CallSid is the caller.
    whisper = {**standin.call_params(result.call_sid, "in-progress"),
               "DequeingCallSid": "CAagent", "QueueSid": "QU1", "QueueTime": "30"}
    status, body = standin.post(base + "/agent/whisper", whisper)
    said = ET.fromstring(body).find("Say").text
    assert "connected to a person" in said
    assert result.transcript.summary not in said  # the caller never hears their own summary
    req = urllib.request.Request(f"{base}/agents/CAagent/context",
                                 headers={"Authorization": f"Bearer {API_TOKEN}"})
    with urllib.request.urlopen(req) as resp:
        context = json.loads(resp.read())
    assert context["call_sid"] == result.call_sid and context["reason"] == "dtmf"
    assert context["summary"] == result.transcript.summary
    assert "pressed the key for a person" in context["spoken"]


@pytest.mark.slow
def test_call_records_need_the_bearer_token(shared_service):
    result = shared_service.standin().run([dtmf("0")])
    url = f"{shared_service.base_url}/calls/{result.call_sid}"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": API_TOKEN}):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(urllib.request.Request(url, headers=headers))
        assert err.value.code == 401  # no token, or an unknown one
        assert json.loads(err.value.read())["status"] == 401
    with urllib.request.urlopen(shared_service.base_url + "/healthz") as resp:
        assert resp.status == 200


def _serve(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("VOICEBOT_", "TWILIO_"))}
    return subprocess.run([sys.executable, "-m", "voicebot", "serve", *args],
                          env={**clean, **env}, capture_output=True, text=True, timeout=60)


def _free_port() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def test_serve_refuses_to_start_without_an_auth_token(tmp_path):
    done = _serve(["--port", _free_port()], {"VOICEBOT_DB": str(tmp_path / "x.sqlite3")})
    assert done.returncode == 2
    assert "TWILIO_AUTH_TOKEN" in done.stderr and "--insecure-no-signature" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_reports_a_bad_flow_with_its_location(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("start: nowhere\ndisclosure: hi\nqueues: {support: people}\nnodes: {}\n")
    done = _serve(["--flow", str(bad), "--port", _free_port()],
                  {"TWILIO_AUTH_TOKEN": "x", "VOICEBOT_DB": str(tmp_path / "x.sqlite3"),
                   "VOICEBOT_DATA_KEY": DATA_KEY})
    assert done.returncode != 0
    assert f"{bad}:" in done.stderr
    assert "Traceback" not in done.stderr


def test_signatures_are_checked_against_the_public_url_behind_a_proxy(start_service):
    service = start_service(env={"VOICEBOT_PUBLIC_URL": "https://voice.example.com"})
    params = TwilioStandin(service.webhook_url, auth_token=AUTH_TOKEN,
                           api_token=API_TOKEN).call_params("CAproxy", "ringing")
    validator = RequestValidator(AUTH_TOKEN)
    data = urllib.parse.urlencode(params).encode()

    def post(signed_url: str) -> tuple[int, str]:
        req = urllib.request.Request(service.webhook_url, data=data, headers={
            "X-Twilio-Signature": validator.compute_signature(signed_url, params)})
        try:
            with urllib.request.urlopen(req) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, ""

    assert post(service.webhook_url)[0] == 403  # signed for the internal address: not Twilio
    status, body = post("https://voice.example.com/voice")
    assert status == 200
    stream = ET.fromstring(body).find("Connect").find("Stream")
    assert stream.get("url") == "wss://voice.example.com/media"


@pytest.mark.slow
def test_insecure_development_mode_accepts_unsigned_requests(start_service):
    service = start_service(env={"TWILIO_AUTH_TOKEN": None, "VOICEBOT_INSECURE_NO_SIGNATURE": "1"})
    unsigned = TwilioStandin(service.webhook_url, auth_token=None, api_token=API_TOKEN,
                             speed=5.0)
    result = unsigned.run([dtmf("0")])
    assert (result.transcript.outcome, result.transcript.reason) == ("transfer", "dtmf")


def test_queues_outside_voicebot_queues_stop_the_start(tmp_path, engine, renderer):
    from voicebot.errors import SettingsError
    from voicebot.service.app import create_app
    from voicebot.settings import Settings

    settings = Settings.from_env({"TWILIO_AUTH_TOKEN": "x", "VOICEBOT_QUEUES": "support",
                                  "VOICEBOT_DATA_KEY": DATA_KEY,
                                  "VOICEBOT_DB": str(tmp_path / "q.sqlite3")})
    with pytest.raises(SettingsError, match="billing"):
        create_app(settings, engine=engine, renderer=renderer)


@pytest.mark.slow
def test_agent_hears_the_summary_of_the_caller_at_the_head_of_the_queue(start_service):
    # Twilio plays <Queue url> to the caller, so the agent is briefed before <Dial><Queue>:
    # first in, first out, a caller taken by an agent or gone is no longer waiting.
    service = start_service()
    standin = service.standin(post_status=False)  # callers stay in the queue, as on Twilio
    base = service.base_url
    first = standin.run([dtmf("0")])  # asks for a person by key
    second = standin.run([dtmf("2")])  # billing
    third = standin.run([dtmf("0")])

    def briefing(queue: str) -> ET.Element:
        status, body = standin.post(f"{base}/agent?queue={queue}",
                                    standin.call_params("CAagent2", "in-progress"))
        assert status == 200
        root = ET.fromstring(body)
        assert [child.tag for child in root] == ["Say", "Dial"]  # briefed before the bridge
        return root.find("Say").text

    said = briefing("support")
    assert "pressed the key for a person" in said and first.transcript.summary in said
    assert second.transcript.summary not in said
    assert second.transcript.summary in briefing("billing")
    # The first caller is taken by an agent: the next support agent hears about the third.
    standin.post(base + "/agent/whisper",
                 {**standin.call_params(first.call_sid, "in-progress"),
                  "DequeingCallSid": "CAagent2", "QueueSid": "QU1", "QueueTime": "12"})
    assert third.transcript.summary in briefing("support")
    assert third.call_sid != first.call_sid
    # Once Twilio reports the third call over, nobody waits in support.
    standin.post(base + "/status", standin.call_params(third.call_sid, "completed"))
    assert "next caller in the support queue" in briefing("support")


@pytest.mark.slow
def test_serve_as_the_readme_runs_it_answers_with_urls_of_the_port_it_serves(tmp_path):
    # The README's run command: `VOICEBOT_INSECURE_DEV_DATA=1 voicebot serve
    # --insecure-no-signature`, here on a free port and with no VOICEBOT_PUBLIC_URL: the
    # stream and action URLs must name that port.
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VOICEBOT_", "TWILIO_"))}
    env = {**clean, "VOICEBOT_DB": str(tmp_path / "calls.sqlite3"),
           "VOICEBOT_TTS_CACHE": str(tmp_path / "tts"), "VOICEBOT_WARM_RECOGNIZERS": "1",
           "VOICEBOT_INSECURE_DEV_DATA": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "voicebot", "serve",
                             "--insecure-no-signature", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as resp:
                    health = json.loads(resp.read())
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, "voicebot serve did not come up"
                time.sleep(0.5)
        assert health["status"] == "ok" and health["flow"] == "support"
        data = urllib.parse.urlencode({"CallSid": "CAreadme", "From": "+15550100"}).encode()
        with urllib.request.urlopen(base + "/voice", data=data) as resp:
            root = ET.fromstring(resp.read())
        connect = root.find("Connect")
        assert connect.get("action") == base + "/voice/after-stream"
        assert connect.find("Stream").get("url") == f"ws://127.0.0.1:{port}/media"
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert "Traceback" not in err
