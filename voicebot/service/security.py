"""Only Twilio may drive a call: every Twilio route checks X-Twilio-Signature.

The signature covers the URL Twilio requested plus the POST parameters, keyed with the
account's auth token (twilio.request_validator.RequestValidator does the HMAC). Behind a
reverse proxy the service sees its own host, not the one Twilio signed, so the URL is rebuilt
from VOICEBOT_PUBLIC_URL + path + query string. The WebSocket handshake of the media stream is
signed over the wss:// URL, so that scheme is used for it (the https:// form is also accepted,
because some proxies terminate TLS and Twilio tooling has differed here).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

from flask import Blueprint, Request, abort, request
from twilio.request_validator import RequestValidator

from voicebot.logs import log_event

log = logging.getLogger("voicebot.security")
SIGNATURE_HEADER = "X-Twilio-Signature"


def _is_websocket(req: Request) -> bool:
    return req.headers.get("Upgrade", "").lower() == "websocket"


class SignatureGuard:
    """Decides whether a request really comes from Twilio (or checking is disabled for dev)."""

    def __init__(self, auth_token: str | None, public_url: str, insecure: bool = False) -> None:
        self.public_url = public_url.rstrip("/")
        self.insecure = insecure and not auth_token
        self._validator = RequestValidator(auth_token) if auth_token else None

    def signed_urls(self, req: Request) -> list[str]:
        """The URL(s) Twilio signed for this request, as reached through the public URL."""
        url = self.public_url + req.path
        query = req.query_string.decode("latin-1")
        if query:
            url += "?" + query
        if not _is_websocket(req):
            return [url]
        parts = urlsplit(url)
        ws_scheme = "wss" if parts.scheme == "https" else "ws"
        return [urlunsplit((ws_scheme, *parts[1:])), url]

    def is_valid(self, req: Request) -> bool:
        if self._validator is None:
            return self.insecure
        signature = req.headers.get(SIGNATURE_HEADER, "")
        if not signature:
            return False
        params = req.form if req.method == "POST" else {}
        return any(self._validator.validate(url, params, signature)
                   for url in self.signed_urls(req))

    def protect(self, bp: Blueprint) -> None:
        """Every route of `bp` answers 403 (and logs it) unless the request is signed."""

        @bp.before_request
        def _check_signature() -> None:
            if self.is_valid(request):
                return
            log_event(log, "twilio.signature_rejected", logging.WARNING,
                      call_sid=request.form.get("CallSid") if request.method == "POST" else None,
                      path=request.path, websocket=_is_websocket(request),
                      signed=bool(request.headers.get(SIGNATURE_HEADER)))
            abort(403)
