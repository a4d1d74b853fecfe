"""The TwiML documents the service answers, built with the twilio package (never by hand).

Kept apart from the routes so each document can be read (and tested) on its own, and so the
URL rules live in one place: every URL Twilio is given is absolute and built from the public
base URL, because behind a reverse proxy the service cannot know how Twilio reaches it.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit, urlunsplit

from twilio.twiml.voice_response import Connect, Dial, VoiceResponse

# Characters XML 1.0 cannot hold (NUL and most control characters, lone surrogates): a
# document with one does not parse, so they are dropped from every value put into TwiML.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
MAX_PARAMETER_CHARS = 256


def xml_text(value: str) -> str:
    """`value` without the characters XML cannot carry."""
    return _NOT_XML.sub("", value)


def public(base_url: str, path: str, query: dict[str, str] | None = None) -> str:
    """Absolute public URL of one of our routes."""
    url = base_url.rstrip("/") + path
    return f"{url}?{urlencode(query)}" if query else url


def websocket_url(base_url: str, path: str) -> str:
    """wss:// for an https:// public URL, ws:// for http:// (local tests only)."""
    parts = urlsplit(public(base_url, path))
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))


def connect_stream(action_url: str, stream_url: str, parameters: dict[str, str]) -> str:
    """Incoming call: a bidirectional Media Stream; custom values as <Parameter>s.

    Twilio's <Stream url> takes no query string, so everything the stream needs rides in
    <Parameter> elements (they come back in the `start` message's customParameters).
    """
    response = VoiceResponse()
    connect = Connect(action=action_url, method="POST")
    stream = connect.stream(url=stream_url)
    for name, value in parameters.items():
        stream.parameter(name=xml_text(name), value=xml_text(value)[:MAX_PARAMETER_CHARS])
    response.append(connect)
    return str(response)


def enqueue(queue: str, wait_url: str) -> str:
    response = VoiceResponse()
    response.enqueue(queue, wait_url=wait_url, wait_url_method="POST")
    return str(response)


def hangup() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)


def say_then_enqueue(text: str, queue: str, wait_url: str) -> str:
    """A caller the bot cannot take (at capacity, shutting down): told why, then queued."""
    response = VoiceResponse()
    response.say(xml_text(text))
    response.enqueue(queue, wait_url=wait_url, wait_url_method="POST")
    return str(response)


def say_then_hangup(text: str) -> str:
    response = VoiceResponse()
    response.say(xml_text(text))
    response.hangup()
    return str(response)


def queue_wait(position: int | None, backup_offer: str | None, hold_music_url: str | None,
               redirect_url: str, pause_s: int = 20) -> str:
    """Hold message for a queued caller, then music (or a pause) and back to this route."""
    response = VoiceResponse()
    if position is not None and position > 0:
        if position == 1:
            response.say("Thank you for waiting. You are next in line for a person.")
        else:
            response.say(f"Thank you for waiting. You are number {position} in line "
                         "for a person.")
    else:
        response.say("Thank you for waiting. A person will be with you shortly.")
    if backup_offer:
        response.say(xml_text(backup_offer))
    if hold_music_url:
        response.play(hold_music_url)
    else:
        response.pause(length=pause_s)
    response.redirect(redirect_url, method="POST")
    return str(response)


def dial_queue(queue: str, whisper_url: str, briefing: str | None = None) -> str:
    """An agent takes the next caller from `queue`, hearing `briefing` (the caller's summary)
    first; the whisper URL runs on the caller's leg before bridging."""
    response = VoiceResponse()
    if briefing:
        response.say(xml_text(briefing))
    dial = Dial()
    dial.queue(queue, url=whisper_url, method="POST")
    response.append(dial)
    return str(response)


def say(text: str) -> str:
    response = VoiceResponse()
    response.say(xml_text(text))
    return str(response)
