"""Twilio Media Streams messages as typed events, and the JSON texts we send back.

The one place for the wire format, both directions. Pure, like h11: `parse_message(text)`
turns one inbound WebSocket text into a frozen dataclass (Connected, Start, Media, Dtmf,
Mark, Stop) or raises StreamProtocolError with a short reason, so the driver can log and
skip a bad message without ending the call; nothing a message holds (non-finite or huge
numbers, deep nesting, wrong types, oversize texts) raises anything else. `media_message`,
`mark_message` and `clear_message` build what a bidirectional stream may send to Twilio;
`parse_outbound` reads them back. The `twilio_*` builders make Twilio's side of the
conversation (connected, start, media, dtmf, mark echo, stop) for the Twilio simulator
(replay.twilio_side), so every party speaks exactly the same shapes.

Shapes (Twilio "Media Streams - WebSocket Messages"):
  {"event": "connected", "protocol": "Call", "version": "1.0.0"}
  {"event": "start", "sequenceNumber": "1", "streamSid": "MZ..", "start": {"streamSid",
   "accountSid", "callSid", "tracks": ["inbound"], "customParameters": {..},
   "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}
  {"event": "media", "sequenceNumber": "3", "streamSid": "MZ..", "media": {"track":
   "inbound", "chunk": "1", "timestamp": "5", "payload": "<base64 mu-law>"}}
  {"event": "dtmf", "streamSid": "MZ..", "dtmf": {"track": "inbound_track", "digit": "1"}}
  {"event": "mark", "streamSid": "MZ..", "mark": {"name": "p3"}}
  {"event": "stop", "streamSid": "MZ..", "stop": {"accountSid": "AC..", "callSid": "CA.."}}
Outbound: media {"event", "streamSid", "media": {"payload"}}, mark {"event", "streamSid",
"mark": {"name"}}, clear {"event", "streamSid"}.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from voicebot.errors import VoicebotError

DTMF_KEYS = frozenset("0123456789*#")
MULAW_ENCODING = "audio/x-mulaw"
SAMPLE_RATE = 8000
# Twilio sends 20 ms (160 bytes); anything over 2 s in one message is not a phone stream.
MAX_MEDIA_BYTES = 2 * SAMPLE_RATE
# No inbound Twilio message comes near this (a start with its parameters is under 2 KB).
MAX_MESSAGE_CHARS = 64 * 1024
MAX_COUNTER = 2**53 - 1  # counters and timestamps: 285 years of a stream, exact in a float
_COUNTER_TEXT = re.compile(r"\d{1,16}")
_MAX_NUMBER_DIGITS = 20  # a longer number in a message is junk, not a value


class StreamProtocolError(VoicebotError):
    """An inbound message that does not follow the Media Streams protocol."""

    def __init__(self, reason: str, event: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.event = event  # the message's "event" if it could be read (for logs)


@dataclass(frozen=True)
class MediaFormat:
    encoding: str = MULAW_ENCODING
    sample_rate: int = SAMPLE_RATE
    channels: int = 1


@dataclass(frozen=True)
class Connected:
    protocol: str = "Call"
    version: str = "1.0.0"


@dataclass(frozen=True)
class Start:
    stream_sid: str
    call_sid: str
    account_sid: str
    custom_parameters: dict[str, str] = field(default_factory=dict, hash=False)
    media_format: MediaFormat = MediaFormat()
    tracks: tuple[str, ...] = ("inbound",)


@dataclass(frozen=True)
class Media:
    stream_sid: str
    payload: bytes = field(repr=False)  # mu-law 8 kHz, decoded from base64
    timestamp: int = 0  # ms since the stream started (Twilio's clock)
    chunk: int = 0
    track: str = "inbound"


@dataclass(frozen=True)
class Dtmf:
    stream_sid: str
    digit: str
    track: str = "inbound_track"


@dataclass(frozen=True)
class Mark:
    stream_sid: str
    name: str


@dataclass(frozen=True)
class Stop:
    stream_sid: str
    call_sid: str = ""
    account_sid: str = ""


StreamEvent = Connected | Start | Media | Dtmf | Mark | Stop


# ------------------------------------------------------------------------------- parsing


def _obj(parent: dict[str, Any], key: str, event: str) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise StreamProtocolError(f"{event} message without a {key!r} object", event)
    return value


def _text(parent: dict[str, Any], key: str, event: str, *, required: bool = True) -> str:
    value = parent.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise StreamProtocolError(f"{event} message without a {key!r} string", event)
    return value


def _scalar(parent: dict[str, Any], key: str, event: str, default: str) -> str:
    """An optional field read as text: a string or a plain number; never a container."""
    value = parent.get(key, default)
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):  # finite: the parser refuses the others
        return str(value)
    raise StreamProtocolError(f"{event} message has a non-text {key!r}", event)


def _int(parent: dict[str, Any], key: str, event: str) -> int:
    """A counter or timestamp: a whole number from 0 to MAX_COUNTER, or its digits."""
    value = parent.get(key, 0)
    if (isinstance(value, str) and _COUNTER_TEXT.fullmatch(value)
            or isinstance(value, float) and value.is_integer()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNTER:
        raise StreamProtocolError(f"{event} message has a bad {key!r} (not a count)", event)
    return value


def _parse_int(digits: str) -> int:
    if len(digits.lstrip("-")) > _MAX_NUMBER_DIGITS:
        raise ValueError("number too long")
    return int(digits)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _no_constant(name: str) -> None:  # NaN, Infinity, -Infinity
    raise ValueError(f"{name} is not a number")


def _load_json(text: str) -> Any:
    """json.loads that refuses what Twilio never sends instead of raising something else:
    NaN/Infinity, numbers beyond any counter, nesting deeper than the interpreter allows."""
    try:
        return json.loads(text, parse_int=_parse_int, parse_float=_parse_float,
                          parse_constant=_no_constant)
    except RecursionError:
        raise StreamProtocolError("message is nested too deeply") from None
    except (ValueError, TypeError):  # JSONDecodeError is a ValueError
        raise StreamProtocolError("message is not valid JSON (or holds an unusable "
                                  "number)") from None


def parse_message(text: str | bytes) -> StreamEvent:
    """One inbound Twilio message -> its event; StreamProtocolError if it is malformed."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise StreamProtocolError("message is not UTF-8 text") from None
    if not isinstance(text, str):
        raise StreamProtocolError("message is not text")
    if len(text) > MAX_MESSAGE_CHARS:
        raise StreamProtocolError(f"message is longer than {MAX_MESSAGE_CHARS} characters")
    msg = _load_json(text)
    if not isinstance(msg, dict):
        raise StreamProtocolError("message is not a JSON object")
    event = msg.get("event")
    if not isinstance(event, str):
        raise StreamProtocolError("message has no 'event'")
    parser = _PARSERS.get(event)
    if parser is None:
        raise StreamProtocolError(f"unknown event {event[:32]!r}", event[:32])
    return parser(msg)


def _parse_connected(msg: dict[str, Any]) -> Connected:
    return Connected(protocol=_scalar(msg, "protocol", "connected", "Call"),
                     version=_scalar(msg, "version", "connected", ""))


def _parse_start(msg: dict[str, Any]) -> Start:
    start = _obj(msg, "start", "start")
    stream_sid = _text(start, "streamSid", "start", required=False) or _text(
        msg, "streamSid", "start")
    params = start.get("customParameters") or {}
    if not isinstance(params, dict):
        raise StreamProtocolError("start message has non-object 'customParameters'", "start")
    fmt = start.get("mediaFormat") or {}
    if not isinstance(fmt, dict):
        raise StreamProtocolError("start message has non-object 'mediaFormat'", "start")
    media_format = MediaFormat(
        encoding=_scalar(fmt, "encoding", "start", MULAW_ENCODING),
        sample_rate=_int(fmt, "sampleRate", "start") if "sampleRate" in fmt else SAMPLE_RATE,
        channels=_int(fmt, "channels", "start") if "channels" in fmt else 1,
    )
    if (media_format.encoding != MULAW_ENCODING or media_format.sample_rate != SAMPLE_RATE
            or media_format.channels != 1):
        raise StreamProtocolError(
            f"unsupported media format {media_format.encoding} {media_format.sample_rate} Hz "
            f"{media_format.channels} ch (need audio/x-mulaw 8000 Hz mono)", "start")
    tracks = start.get("tracks") or ["inbound"]
    if not isinstance(tracks, list) or not all(isinstance(t, str) for t in tracks):
        raise StreamProtocolError("start message has a bad 'tracks' list", "start")
    return Start(
        stream_sid=stream_sid,
        call_sid=_text(start, "callSid", "start"),
        account_sid=_text(start, "accountSid", "start", required=False),
        custom_parameters={k: _scalar(params, k, "start", "") for k in params},
        media_format=media_format,
        tracks=tuple(tracks),
    )


def _parse_media(msg: dict[str, Any]) -> Media:
    media = _obj(msg, "media", "media")
    payload_text = media.get("payload")
    if not isinstance(payload_text, str) or not payload_text:
        raise StreamProtocolError("media message has an empty payload", "media")
    if len(payload_text) % 4:
        raise StreamProtocolError(
            f"media payload length {len(payload_text)} is not a multiple of 4 (bad base64)",
            "media")
    if len(payload_text) > MAX_MEDIA_BYTES * 4 // 3 + 4:
        raise StreamProtocolError("media payload is longer than 2 s of audio", "media")
    try:
        payload = base64.b64decode(payload_text, validate=True)
    except (binascii.Error, ValueError):
        raise StreamProtocolError("media payload is not valid base64", "media") from None
    if not payload:
        raise StreamProtocolError("media message has an empty payload", "media")
    return Media(
        stream_sid=_text(msg, "streamSid", "media"),
        payload=payload,
        timestamp=_int(media, "timestamp", "media"),
        chunk=_int(media, "chunk", "media"),
        track=_scalar(media, "track", "media", "inbound"),
    )


def _parse_dtmf(msg: dict[str, Any]) -> Dtmf:
    dtmf = _obj(msg, "dtmf", "dtmf")
    digit = _text(dtmf, "digit", "dtmf")
    if digit not in DTMF_KEYS:
        raise StreamProtocolError(f"dtmf digit {digit[:4]!r} is not one of 0-9 * #", "dtmf")
    return Dtmf(stream_sid=_text(msg, "streamSid", "dtmf"), digit=digit,
                track=_scalar(dtmf, "track", "dtmf", "inbound_track"))


def _parse_mark(msg: dict[str, Any]) -> Mark:
    mark = _obj(msg, "mark", "mark")
    return Mark(stream_sid=_text(msg, "streamSid", "mark"), name=_text(mark, "name", "mark"))


def _parse_stop(msg: dict[str, Any]) -> Stop:
    stop = msg.get("stop") if isinstance(msg.get("stop"), dict) else {}
    return Stop(
        stream_sid=_text(msg, "streamSid", "stop"),
        call_sid=_scalar(stop, "callSid", "stop", ""),
        account_sid=_scalar(stop, "accountSid", "stop", ""),
    )


_PARSERS = {
    "connected": _parse_connected,
    "start": _parse_start,
    "media": _parse_media,
    "dtmf": _parse_dtmf,
    "mark": _parse_mark,
    "stop": _parse_stop,
}


# ----------------------------------------------------------------- outbound (us -> Twilio)


def _dump(msg: dict[str, Any]) -> str:
    return json.dumps(msg, separators=(",", ":"))


def media_message(stream_sid: str, ulaw: bytes) -> str:
    """Audio for the caller: 8 kHz mu-law, any length (Twilio buffers and plays in order)."""
    return _dump({"event": "media", "streamSid": stream_sid,
                  "media": {"payload": base64.b64encode(ulaw).decode("ascii")}})


def mark_message(stream_sid: str, name: str) -> str:
    """Ask Twilio to tell us (a 'mark' back) when the audio sent before it has played."""
    return _dump({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_message(stream_sid: str) -> str:
    """Drop the audio Twilio still has buffered (barge-in); pending marks come back."""
    return _dump({"event": "clear", "streamSid": stream_sid})


def parse_outbound(text: str) -> tuple[str, Any]:
    """Read one message we sent: ("media", mu-law bytes) | ("mark", name) | ("clear", None),
    or ("unknown", event) for JSON that is none of those (Twilio ignores it).

    For Twilio's side (replay, the stand-in, tests). Raises StreamProtocolError when the
    message is not JSON or a media/mark message is malformed.
    """
    msg = _load_json(text)
    event = msg.get("event") if isinstance(msg, dict) else None
    if event == "media":
        payload = _obj(msg, "media", "media").get("payload", "")
        try:
            return "media", base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise StreamProtocolError("outbound media payload is not base64", "media") from None
    if event == "mark":
        return "mark", _text(_obj(msg, "mark", "mark"), "name", "mark")
    if event == "clear":
        return "clear", None
    return "unknown", event


# --------------------------------------------------------- Twilio's side (tests, replay)


def twilio_connected() -> str:
    return _dump({"event": "connected", "protocol": "Call", "version": "1.0.0"})


def twilio_start(stream_sid: str, call_sid: str, account_sid: str,
                 custom_parameters: dict[str, str] | None = None, sequence: int = 1) -> str:
    return _dump({
        "event": "start",
        "sequenceNumber": str(sequence),
        "streamSid": stream_sid,
        "start": {
            "streamSid": stream_sid,
            "accountSid": account_sid,
            "callSid": call_sid,
            "tracks": ["inbound"],
            "customParameters": dict(custom_parameters or {}),
            "mediaFormat": {"encoding": MULAW_ENCODING, "sampleRate": SAMPLE_RATE,
                            "channels": 1},
        },
    })


def twilio_media(stream_sid: str, ulaw: bytes, chunk: int, timestamp_ms: int,
                 sequence: int = 0) -> str:
    return _dump({
        "event": "media",
        "sequenceNumber": str(sequence),
        "streamSid": stream_sid,
        "media": {"track": "inbound", "chunk": str(chunk), "timestamp": str(timestamp_ms),
                  "payload": base64.b64encode(ulaw).decode("ascii")},
    })


def twilio_dtmf(stream_sid: str, digit: str, sequence: int = 0) -> str:
    return _dump({"event": "dtmf", "sequenceNumber": str(sequence), "streamSid": stream_sid,
                  "dtmf": {"track": "inbound_track", "digit": digit}})


def twilio_mark(stream_sid: str, name: str, sequence: int = 0) -> str:
    return _dump({"event": "mark", "sequenceNumber": str(sequence), "streamSid": stream_sid,
                  "mark": {"name": name}})


def twilio_stop(stream_sid: str, call_sid: str, account_sid: str, sequence: int = 0) -> str:
    return _dump({"event": "stop", "sequenceNumber": str(sequence), "streamSid": stream_sid,
                  "stop": {"accountSid": account_sid, "callSid": call_sid}})
