"""Hypothesis strategies for Media Streams messages a call must survive.

Message shapes, not audio: valid messages of every event with one field replaced by a hostile
value (non-finite and huge numbers, deep nesting, wrong types, control characters), valid
messages with extra keys, random JSON (with NaN/Infinity) and random text or bytes.
`meaningful` tells apart the few that are real caller input for the call's own stream (a
key, a `stop`, audio other than silence): those may change or end a call by design, so the
fuzz leaves them out and counts everything else.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import strategies as st

from tests.telephony.scripted_line import ACCOUNT_SID, CALL_SID, STREAM_SID
from voicebot.telephony import media_stream as ms

SILENCE = base64.b64encode(b"\xff" * 160).decode()
_HOLE = "__hostile__"

HOSTILE = [
    "Infinity", "-Infinity", "NaN", "1e999", "-1e999", "9" * 5000, "-" + "9" * 30,
    str(2**64), "-20", "0.5", "-0", "true", "false", "null", "[]", "{}", '""',
    "[" * 2000 + "]" * 2000, '{"a":' * 1500 + "1" + "}" * 1500,
    '"\\u0000"', '"\\ud800"', '"\\u001b[2J"', '"' + "x" * 5000 + '"', '"%%%not-base64%%%"',
    '"AAA"', json.dumps(base64.b64encode(b"\xff" * 40000).decode()), '["inbound", 1]',
    '{"encoding": "audio/x-mulaw", "sampleRate": Infinity}',
]


def _templates() -> list[dict[str, Any]]:
    """Valid messages, as Twilio sends them (our stream, silent audio, harmless names)."""
    return [
        {"event": "connected", "protocol": "Call", "version": "1.0.0"},
        {"event": "start", "sequenceNumber": "1", "streamSid": STREAM_SID,
         "start": {"streamSid": STREAM_SID, "accountSid": ACCOUNT_SID, "callSid": CALL_SID,
                   "tracks": ["inbound"], "customParameters": {"from": "+15550100"},
                   "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                   "channels": 1}}},
        {"event": "media", "sequenceNumber": "3", "streamSid": STREAM_SID,
         "media": {"track": "inbound", "chunk": "2", "timestamp": "40", "payload": SILENCE}},
        {"event": "dtmf", "sequenceNumber": "4", "streamSid": STREAM_SID,
         "dtmf": {"track": "inbound_track", "digit": "5"}},
        {"event": "mark", "sequenceNumber": "5", "streamSid": STREAM_SID,
         "mark": {"name": "no-such-mark"}},
        {"event": "stop", "sequenceNumber": "6", "streamSid": STREAM_SID,
         "stop": {"accountSid": ACCOUNT_SID, "callSid": CALL_SID}},
    ]


def _paths(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    return out


def _replace(message: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(message))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A valid message with one field (at any depth) replaced by a hostile value."""
    message = draw(st.sampled_from(_templates()))
    path = draw(st.sampled_from(_paths(message)))
    raw = draw(st.sampled_from(HOSTILE))
    return json.dumps(_replace(message, path, _HOLE)).replace(json.dumps(_HOLE), raw)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20)
    | st.floats(allow_nan=True, allow_infinity=True),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)


@st.composite
def with_extra_keys(draw: st.DrawFn) -> str:
    message = draw(st.sampled_from(_templates()))
    extra = draw(st.dictionaries(st.text(max_size=10), JSON, min_size=1, max_size=3))
    return json.dumps({**extra, **message})


@st.composite
def wrong_event(draw: st.DrawFn) -> str:
    """An event name with random content in the places the real ones have objects."""
    event = draw(st.sampled_from(["connected", "start", "media", "dtmf", "mark", "stop",
                                  "clear", "Media", ""]))
    body = draw(st.dictionaries(st.sampled_from(["streamSid", "start", "media", "dtmf",
                                                 "mark", "stop", "sequenceNumber"]), JSON,
                                max_size=4))
    return json.dumps({"event": event, **body})


MESSAGES = st.one_of(
    mutated(), mutated(), mutated(), with_extra_keys(), wrong_event(),
    JSON.map(json.dumps), st.text(max_size=200), st.binary(max_size=200),
)


def meaningful(text: str | bytes) -> bool:
    """Real input for the call's own stream, which may change or end the call by design."""
    try:
        event = ms.parse_message(text)
    except ms.StreamProtocolError:
        return False
    if getattr(event, "stream_sid", None) != STREAM_SID:
        return False
    if isinstance(event, ms.Media):
        return event.payload != b"\xff" * len(event.payload) and event.track in (
            "inbound", "inbound_track")
    return isinstance(event, ms.Dtmf | ms.Stop)
