"""Routes for people and machines other than Twilio: call records for an agent desktop, health.

The record routes need `Authorization: Bearer VOICEBOT_API_TOKEN`; with no token configured
they answer 403 to everyone, because a transcript holds what callers said. When the call
records do not answer in time they say so with 503 (JSON), never a traceback. Health is
voicebot.service.health.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from flask import Blueprint, abort, jsonify, request

from voicebot.logs import log_event
from voicebot.records.resilient import RecordsUnavailable
from voicebot.service.briefing import whisper_text
from voicebot.service.runtime import Service

log = logging.getLogger("voicebot.api")


def make_blueprint(svc: Service) -> Blueprint:
    bp = Blueprint("api", __name__)

    @bp.before_request
    def _bearer() -> None:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        expected = svc.settings.api_token
        if not expected or not token or not hmac.compare_digest(token.encode(),
                                                                expected.encode()):
            log_event(log, "api.forbidden", logging.WARNING, path=request.path,
                      token_given=bool(token))
            abort(403)

    @bp.get("/calls/<call_sid>")
    def call(call_sid: str) -> Any:
        transcript = svc.store.get(call_sid)
        if transcript is None:
            abort(404)
        try:
            row = svc.store.call_row(call_sid) or {}
        except RecordsUnavailable:  # the transcript came from memory; the row can wait
            row = {}
        out = transcript.to_dict()
        out.update({k: row.get(k) for k in ("started", "ended", "status")})
        return jsonify(out)

    def _context(call_sid: str) -> dict[str, Any]:
        transcript = svc.store.get(call_sid)
        if transcript is None:
            abort(404)
        return {
            "call_sid": transcript.call_sid, "flow": transcript.flow_name,
            "outcome": transcript.outcome, "reason": transcript.reason,
            "queue": transcript.queue, "summary": transcript.summary,
            "spoken": whisper_text(transcript), "context": transcript.context,
        }

    @bp.get("/calls/<call_sid>/context")
    def context(call_sid: str) -> Any:
        return jsonify(_context(call_sid))

    @bp.get("/agents/<agent_call_sid>/context")
    def agent_context(agent_call_sid: str) -> Any:
        """The context of the caller this agent's call took from a queue."""
        call_sid = svc.store.caller_for_agent(agent_call_sid)
        if call_sid is None:
            abort(404)
        return jsonify({"agent_call_sid": agent_call_sid, **_context(call_sid)})

    @bp.errorhandler(RecordsUnavailable)
    def records_unavailable(exc: RecordsUnavailable) -> Any:
        log_event(log, "api.records_unavailable", logging.WARNING, path=request.path)
        return jsonify({"error": "the call records are not available now",
                        "detail": str(exc)}), 503

    return bp
