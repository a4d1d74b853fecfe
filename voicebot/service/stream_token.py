"""The per-call token that lets only the stream of the call /voice answered start.

Twilio's handshake signature covers only the fixed /media URL, so a captured handshake could
be replayed for any call. The TwiML for a call therefore carries a token in a <Parameter>
(it comes back in the `start` message): an HMAC-SHA256 of the CallSid and an expiry time,
keyed with VOICEBOT_STREAM_SECRET (or a key derived from the Twilio auth token). Checking it
needs no stored state, so any instance that shares the key can check any call's token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

PARAMETER = "stream_token"  # the <Parameter> name (customParameters in `start`)
_DERIVATION = b"voicebot media stream token v1"


def stream_key(stream_secret: str | None, twilio_auth_token: str | None) -> bytes:
    """The token key: the configured secret, else derived from the Twilio auth token (never
    the token itself), else random for this process (insecure local development)."""
    if stream_secret:
        return stream_secret.encode("utf-8")
    if twilio_auth_token:
        return hmac.new(twilio_auth_token.encode("utf-8"), _DERIVATION, hashlib.sha256).digest()
    return secrets.token_bytes(32)


class StreamTokens:
    """issue(call_sid) at /voice; check(call_sid, token) at `start`."""

    def __init__(self, key: bytes, ttl_s: float, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self.ttl_s = ttl_s
        self._clock = clock  # wall time: another instance may check the token

    def issue(self, call_sid: str) -> str:
        expires = int(self._clock() + self.ttl_s) + 1
        return f"{expires}.{self._mac(call_sid, expires)}"

    def check(self, call_sid: str, token: str | None) -> str | None:
        """None if `token` lets `call_sid` start its stream now, else why not."""
        if not token:
            return "the start has no stream token"
        expires_text, _, mac = token.partition(".")
        if not (expires_text.isascii() and expires_text.isdigit()) or len(expires_text) > 12:
            return "the stream token is malformed"
        expires = int(expires_text)
        if not hmac.compare_digest(mac.encode("utf-8", "replace"),
                                   self._mac(call_sid, expires).encode("ascii")):
            return "the stream token is not this call's"
        if expires < self._clock():
            return "the stream token has expired"
        return None

    def _mac(self, call_sid: str, expires: int) -> str:
        message = f"{expires}:{call_sid}".encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()
