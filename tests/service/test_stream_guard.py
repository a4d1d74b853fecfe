"""The media stream cannot be hijacked or held: the real service over a real WebSocket.

A `start` needs the call's own, unexpired stream token and a call waiting for its stream;
a refused one closes the socket and leaves the record as it was. Sockets that never start
or go quiet are closed, the number open at once is bounded, and hostile messages (huge,
non-finite, deeply nested) are skipped while the call goes on.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import time

import pytest
import websocket

from tests.service.conftest import AUTH_TOKEN, dtmf, wait
from voicebot.replay.standin import new_sid, parse_connect_twiml
from voicebot.service.stream_token import PARAMETER, StreamTokens, stream_key
from voicebot.telephony import media_stream as ms


def _voice(service, call_sid: str) -> dict[str, str]:
    """POST /voice as Twilio does; the <Stream> parameters of the answer."""
    standin = service.standin()
    status, body = standin.post(service.webhook_url, standin.call_params(call_sid, "ringing"))
    assert status == 200
    return parse_connect_twiml(body)[2]


def _open(service) -> websocket.WebSocket:
    """A media WebSocket with a valid (Twilio-signed) handshake."""
    url = "ws://" + service.base_url.split("://")[1] + "/media"
    return websocket.create_connection(url, timeout=10,
                                       header=service.standin().sign(url, {}))


def _start(ws: websocket.WebSocket, call_sid: str, params: dict[str, str]) -> str:
    stream_sid = new_sid("MZ")
    ws.send(ms.twilio_connected())
    ws.send(ms.twilio_start(stream_sid, call_sid, new_sid("AC"), params))
    return stream_sid


def _closed_without_audio(ws: websocket.WebSocket, within_s: float = 15.0) -> bool:
    """True if the service closes the socket (sending no audio first) within `within_s`."""
    ws.settimeout(within_s)
    try:
        while True:
            opcode, data = ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return True
            if opcode == websocket.ABNF.OPCODE_TEXT and b'"media"' in data:
                return False
    except websocket.WebSocketTimeoutException:
        return False
    except (websocket.WebSocketConnectionClosedException, OSError):
        return True


def _record(service, call_sid: str) -> tuple:
    return service.store.get(call_sid), service.store.call_row(call_sid)


def _refused(caplog) -> list[str]:
    return [r.reason for r in caplog.records if r.getMessage() == "stream.start_refused"]


@pytest.mark.slow
def test_a_replayed_handshake_cannot_rewrite_a_finished_call(shared_service, caplog):
    result = shared_service.standin(from_number="+15550100444").run([dtmf("0")])
    params = parse_connect_twiml(result.twiml)[2]
    before = _record(shared_service, result.call_sid)
    assert before[0].outcome == "transfer"
    with caplog.at_level(logging.WARNING, logger="voicebot"):
        ws = _open(shared_service)  # the captured handshake (it covers only /media)
        _start(ws, result.call_sid, params)  # and the captured start, token and all
        assert _closed_without_audio(ws)
        # a replayed /voice must not re-arm the call either
        assert "<Connect" not in shared_service.standin().post(
            shared_service.webhook_url,
            shared_service.standin().call_params(result.call_sid, "ringing"))[1]
    assert _refused(caplog) == ["this call is already ended"]
    assert _record(shared_service, result.call_sid) == before


def test_a_token_of_another_call_an_expired_one_or_none_is_refused(shared_service, caplog):
    mine, other = new_sid("CA"), new_sid("CA")
    params = _voice(shared_service, mine)
    others = _voice(shared_service, other)
    before = _record(shared_service, mine)  # /voice recorded the call (flow, caller)
    expired = StreamTokens(stream_key(None, AUTH_TOKEN), 5, clock=lambda: 0).issue(mine)
    attempts = [{**params, PARAMETER: others[PARAMETER]}, {**params, PARAMETER: expired},
                {k: v for k, v in params.items() if k != PARAMETER},
                {**params, PARAMETER: "soon.abc"}]
    with caplog.at_level(logging.WARNING, logger="voicebot"):
        for attempt in attempts:
            ws = _open(shared_service)
            _start(ws, mine, attempt)
            assert _closed_without_audio(ws)
        # a valid token for a call that never came through /voice (or unknown to us)
        ws = _open(shared_service)
        _start(ws, "CAnever", {PARAMETER: shared_service.service.tokens.issue("CAnever")})
        assert _closed_without_audio(ws)
    assert _refused(caplog) == [
        "the stream token is not this call's", "the stream token has expired",
        "the start has no stream token", "the stream token is malformed",
        "no call is waiting for a stream with this CallSid"]
    assert _record(shared_service, mine) == before
    assert _record(shared_service, "CAnever") == (None, None)
    # the refusals did not use up the call: its own token still starts it
    assert shared_service.service.calls.state(mine) == "waiting"
    ws = _open(shared_service)
    _start(ws, mine, params)
    assert not _closed_without_audio(ws, within_s=10)
    ws.close()


def test_a_stream_begins_on_another_instance_than_its_webhook_once(start_service,
                                                                    store_backend, tmp_path,
                                                                    caplog):
    """Behind a load balancer: /voice answered by `a`, the stream reaching `b` (one shared
    store); a replay of its `start` is refused on either, while it streams and after."""
    where = store_backend.new_location(tmp_path)
    a, b = start_service(where), start_service(where)
    call_sid = new_sid("CA")
    params = _voice(a, call_sid)
    ws = _open(b)
    _start(ws, call_sid, params)
    assert not _closed_without_audio(ws, within_s=10)  # b plays the disclosure
    with caplog.at_level(logging.WARNING, logger="voicebot"):
        for service in (a, b):
            replay = _open(service)
            _start(replay, call_sid, params)
            assert _closed_without_audio(replay)
        ws.close()  # the call's stream ends
        deadline = time.monotonic() + 10
        while a.store.stream_state(call_sid) != "ended":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        before = _record(a, call_sid)
        for service in (a, b):
            replay = _open(service)
            _start(replay, call_sid, params)
            assert _closed_without_audio(replay)
    assert _refused(caplog) == ["this call is already streaming"] * 2 + [
        "this call is already ended"] * 2
    assert _record(b, call_sid) == before


def test_sockets_that_never_start_or_go_quiet_are_closed(start_service):
    service = start_service(env={"VOICEBOT_STREAM_START_TIMEOUT_S": "1",
                                 "VOICEBOT_STREAM_IDLE_TIMEOUT_S": "2"})
    idle = [_open(service) for _ in range(20)]  # open, and never a `start`
    for ws in idle:
        assert _closed_without_audio(ws, within_s=15)
    call_sid = new_sid("CA")
    ws = _open(service)
    _start(ws, call_sid, _voice(service, call_sid))  # then nothing more, not even audio
    ws.settimeout(15)
    with pytest.raises((websocket.WebSocketConnectionClosedException, OSError)):
        while True:
            if ws.recv_data(control_frame=True)[0] == websocket.ABNF.OPCODE_CLOSE:
                raise OSError("closed by the service")
    deadline = time.monotonic() + 10
    while service.store.get(call_sid) is None or service.store.get(call_sid).outcome is None:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    t = service.store.get(call_sid)
    assert (t.outcome, t.reason) == ("transfer", "error")  # a dropped stream: to a person
    assert service.service.active_calls == 0


def test_streams_open_at_once_are_bounded(start_service):
    service = start_service(env={"VOICEBOT_MAX_STREAMS": "2"})
    held = [_open(service), _open(service)]
    with pytest.raises(websocket.WebSocketBadStatusException) as err:
        _open(service)
    assert err.value.status_code == 503
    held[0].close()
    deadline = time.monotonic() + 10
    while True:  # the slot comes back once the service has seen the close
        try:
            held.append(_open(service))
            break
        except websocket.WebSocketBadStatusException:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    for ws in held:
        ws.close()


def _hostile(stream_sid: str) -> list[str]:
    media = {"track": "inbound", "chunk": "1", "timestamp": "20",
             "payload": "/" * 160}  # 120 bytes of 0xff, silence
    def with_field(key: str, raw: str) -> str:
        text = json.dumps({"event": "media", "streamSid": stream_sid,
                           "media": {**media, key: "__x__"}})
        return text.replace('"__x__"', raw)
    return [
        with_field("timestamp", "Infinity"), with_field("chunk", "Infinity"),
        with_field("timestamp", "9" * 5000), with_field("timestamp", "NaN"),
        with_field("payload", "[" * 2000 + "]" * 2000),
        '{"event": "dtmf", "streamSid": "' + stream_sid + '", "dtmf": ' + "{" * 2000,
        json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": [[1]]}}),
        json.dumps({"event": "media", "streamSid": stream_sid, "media": "x" * 5_000_000}),
    ]


@pytest.mark.slow
def test_hostile_messages_mid_call_are_skipped_and_the_call_goes_on(shared_service, caplog):
    standin = shared_service.standin()
    # the stand-in's stream SID is made inside run(); messages for "any" SID are as hostile
    inject = [(1.0 + i * 0.1, text) for i, text in enumerate(_hostile(new_sid("MZ")))]
    with caplog.at_level(logging.WARNING, logger="voicebot"):
        result = standin.run([wait(2.0), dtmf("0")], inject=inject)
    t = result.transcript
    assert (t.outcome, t.reason) == ("transfer", "dtmf")  # the call went on to its own end
    reasons = [r.reason for r in caplog.records if r.getMessage() == "stream.bad_message"
               and r.call_sid == result.call_sid]
    assert len(reasons) == 8
    assert "message over the size limit, dropped" in reasons


def _raw_frame_header(length: int) -> bytes:
    """A masked text frame header (client to server) for `length` bytes; mask key 0."""
    return bytes([0x81, 0x80 | 127]) + struct.pack(">Q", length) + b"\0\0\0\0"


@pytest.mark.slow
def test_a_200_mb_message_is_dropped_as_it_arrives_and_the_call_goes_on(start_service):
    service = start_service(env={"VOICEBOT_STREAM_IDLE_TIMEOUT_S": "300"})
    call_sid = new_sid("CA")
    params = _voice(service, call_sid)
    ws = _open(service)
    stream_sid = _start(ws, call_sid, params)
    raw: socket.socket = ws.sock
    size, chunk = 200 * 2**20, b"x" * 2**20
    raw.sendall(_raw_frame_header(size))
    for _ in range(size // len(chunk)):
        raw.sendall(chunk)
    # the same connection still carries the call: the caller presses 0
    ws.send(ms.twilio_dtmf(stream_sid, "0"))
    ws.settimeout(60)
    deadline = time.monotonic() + 60
    while service.store.get(call_sid).outcome is None:
        assert time.monotonic() < deadline
        try:
            ws.recv_data(control_frame=True)
        except websocket.WebSocketException:
            break
    t = service.store.get(call_sid)
    assert (t.outcome, t.reason) == ("transfer", "dtmf")
    ws.close()
