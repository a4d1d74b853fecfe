"""The Media Streams messages, as Twilio sends them and as we send them back."""

from __future__ import annotations

import base64
import json

import pytest

from voicebot.telephony import media_stream as ms

SID = "MZ18ad3ab5a668481ce02b83e7395059f0"
CALL = "CA5f7e3b1c0d9a4e2f8b6c1d0e9f8a7b6c"
ACCOUNT = "AC25e16e9a716a4a1786a7c83f58e30482"


def test_connected_and_start_as_twilio_sends_them() -> None:
    assert ms.parse_message(
        '{"event": "connected", "protocol": "Call", "version": "1.0.0"}'
    ) == ms.Connected("Call", "1.0.0")
    start = ms.parse_message(json.dumps({
        "event": "start",
        "sequenceNumber": "1",
        "start": {
            "accountSid": ACCOUNT,
            "streamSid": SID,
            "callSid": CALL,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {"from": "+15550100", "flow": "support"},
        },
        "streamSid": SID,
    }))
    assert isinstance(start, ms.Start)
    assert (start.stream_sid, start.call_sid, start.account_sid) == (SID, CALL, ACCOUNT)
    assert start.custom_parameters == {"from": "+15550100", "flow": "support"}
    assert start.tracks == ("inbound",)
    assert start.media_format == ms.MediaFormat("audio/x-mulaw", 8000, 1)


def test_media_dtmf_mark_stop() -> None:
    audio = bytes(range(160))
    media = ms.parse_message(json.dumps({
        "event": "media", "sequenceNumber": "3", "streamSid": SID,
        "media": {"track": "inbound", "chunk": "2", "timestamp": "40",
                  "payload": base64.b64encode(audio).decode()},
    }))
    assert media == ms.Media(SID, audio, timestamp=40, chunk=2, track="inbound")
    assert ms.parse_message(json.dumps({
        "event": "dtmf", "streamSid": SID, "sequenceNumber": "5",
        "dtmf": {"track": "inbound_track", "digit": "0"},
    })) == ms.Dtmf(SID, "0")
    assert ms.parse_message(json.dumps({
        "event": "mark", "sequenceNumber": "4", "streamSid": SID, "mark": {"name": "p1"},
    })) == ms.Mark(SID, "p1")
    assert ms.parse_message(json.dumps({
        "event": "stop", "sequenceNumber": "5", "streamSid": SID,
        "stop": {"accountSid": ACCOUNT, "callSid": CALL},
    })) == ms.Stop(SID, CALL, ACCOUNT)


def test_twilio_side_builders_parse_back() -> None:
    assert isinstance(ms.parse_message(ms.twilio_connected()), ms.Connected)
    start = ms.parse_message(ms.twilio_start(SID, CALL, ACCOUNT, {"flow": "support"}))
    assert isinstance(start, ms.Start) and start.custom_parameters == {"flow": "support"}
    media = ms.parse_message(ms.twilio_media(SID, b"\xff" * 160, chunk=1, timestamp_ms=0))
    assert isinstance(media, ms.Media) and media.payload == b"\xff" * 160
    assert ms.parse_message(ms.twilio_dtmf(SID, "#")) == ms.Dtmf(SID, "#")
    assert ms.parse_message(ms.twilio_mark(SID, "p9")) == ms.Mark(SID, "p9")
    assert ms.parse_message(ms.twilio_stop(SID, CALL, ACCOUNT)) == ms.Stop(SID, CALL, ACCOUNT)


def test_outbound_messages_have_twilio_shapes() -> None:
    media = json.loads(ms.media_message(SID, b"\x7f\x00\xff"))
    assert media == {"event": "media", "streamSid": SID,
                     "media": {"payload": base64.b64encode(b"\x7f\x00\xff").decode()}}
    assert json.loads(ms.mark_message(SID, "p1")) == {
        "event": "mark", "streamSid": SID, "mark": {"name": "p1"}}
    assert json.loads(ms.clear_message(SID)) == {"event": "clear", "streamSid": SID}
    assert ms.parse_outbound(ms.media_message(SID, b"\x01\x02")) == ("media", b"\x01\x02")
    assert ms.parse_outbound(ms.mark_message(SID, "p1")) == ("mark", "p1")
    assert ms.parse_outbound(ms.clear_message(SID)) == ("clear", None)


def _media(payload: object) -> str:
    return json.dumps({"event": "media", "streamSid": SID,
                       "media": {"track": "inbound", "chunk": "1", "timestamp": "0",
                                 "payload": payload}})


@pytest.mark.parametrize(("text", "reason"), [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"streamSid": "MZ1"}', "no 'event'"),
    ('{"event": "hello"}', "unknown event 'hello'"),
    (_media("!!!!AAAAAAAA"), "not valid base64"),
    (_media("AAA"), "not a multiple of 4"),
    (_media(""), "empty payload"),
    (_media(None), "empty payload"),
    ('{"event": "media", "streamSid": "MZ1"}', "without a 'media' object"),
    ('{"event": "start", "start": {"streamSid": "MZ1"}}', "without a 'callSid'"),
    ('{"event": "start", "streamSid": "MZ1", "start": {"callSid": "CA1", "mediaFormat": '
     '{"encoding": "audio/l16", "sampleRate": 16000, "channels": 1}}}', "unsupported media"),
    ('{"event": "dtmf", "streamSid": "MZ1", "dtmf": {"digit": "x"}}', "not one of 0-9"),
    ('{"event": "mark", "streamSid": "MZ1", "mark": {}}', "without a 'name'"),
    (_media(base64.b64encode(b"\xff" * 40000).decode()), "longer than 2 s"),
])
def test_malformed_messages_raise_a_short_reason(text: str, reason: str) -> None:
    with pytest.raises(ms.StreamProtocolError) as info:
        ms.parse_message(text)
    assert reason in info.value.reason
    assert "\n" not in str(info.value)


def test_non_utf8_bytes_are_a_protocol_error() -> None:
    with pytest.raises(ms.StreamProtocolError, match="not UTF-8"):
        ms.parse_message(b"\xff\xfe\x00")


def _media_with(**fields: object) -> str:
    media = {"track": "inbound", "chunk": "1", "timestamp": "0",
             "payload": base64.b64encode(b"\xff" * 160).decode(), **fields}
    return json.dumps({"event": "media", "streamSid": SID, "media": media})


@pytest.mark.parametrize(("text", "reason"), [
    (_media_with(timestamp=float("inf")), "unusable number"),  # json.dumps writes Infinity
    (_media_with(chunk=float("nan")), "unusable number"),
    ('{"event": "media", "streamSid": "MZ1", "media": {"timestamp": 1e999}}', "unusable number"),
    (_media_with(timestamp=0).replace('"timestamp": 0', '"timestamp": ' + "9" * 5000),
     "unusable number"),
    (_media_with(timestamp=int("9" * 30)), "unusable number"),
    (_media_with(timestamp="9" * 40), "bad 'timestamp'"),
    (_media_with(timestamp=-20), "bad 'timestamp'"),
    (_media_with(timestamp=[1, 2]), "bad 'timestamp'"),
    (_media_with(chunk={"n": 1}), "bad 'chunk'"),
    (_media_with(chunk=True), "bad 'chunk'"),
    (_media_with(track={"a": [1]}), "non-text 'track'"),
    ('{"event": "media", "media": ' + "[" * 2000 + "]" * 2000 + "}", "nested too deeply"),
    ("[" * 100_000 + "]" * 100_000, "longer than"),
    (json.dumps({"event": "connected", "protocol": [[["deep"]]]}), "non-text 'protocol'"),
    (json.dumps({"event": "stop", "streamSid": SID, "stop": {"callSid": {"x": 1}}}),
     "non-text 'callSid'"),
    (json.dumps({"event": "start", "start": {"streamSid": SID, "callSid": CALL,
                                             "customParameters": {"from": ["+1"]}}}),
     "non-text 'from'"),
    (json.dumps({"event": ["media"]}), "no 'event'"),
    (json.dumps({"event": "dtmf", "streamSid": SID, "dtmf": {"digit": 5}}), "'digit' string"),
])
def test_hostile_messages_raise_only_a_protocol_error(text: str, reason: str) -> None:
    with pytest.raises(ms.StreamProtocolError) as info:
        ms.parse_message(text)
    assert reason in info.value.reason


def test_counters_as_twilio_sends_them_and_as_numbers() -> None:
    for stamp in ("40", 40, 40.0):
        assert ms.parse_message(_media_with(timestamp=stamp)).timestamp == 40
    assert ms.parse_message(_media_with(timestamp=ms.MAX_COUNTER)).timestamp == ms.MAX_COUNTER
    start = ms.parse_message(json.dumps({"event": "start", "start": {
        "streamSid": SID, "callSid": CALL, "customParameters": {"n": 7, "ok": True}}}))
    assert start.custom_parameters == {"n": "7", "ok": "True"}
