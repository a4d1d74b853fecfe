"""Routes for people and machines other than Twilio: call records for an agent desktop and
for supervisors, and the audit log for admins.

Every route needs a token with a role (voicebot.service.auth): `agent` reads the context
of the caller its own call took (`/agents/<AgentCallSid>/context`, for AGENT_WINDOW_H
after that call started) and the caller at the head of a queue; `supervisor` and `admin`
read any call. Every read of a call's contents is written to the audit log. Errors are
JSON (`{"error": ..., "status": ...}`); when the call records do not answer in time, 503.
The data-subject requests are voicebot.service.routes_admin.
"""

from __future__ import annotations

import calendar
import logging
import time
from typing import Any

from flask import Blueprint, Flask, abort, g, jsonify, request
from werkzeug.exceptions import HTTPException

from voicebot.logs import log_event
from voicebot.records.resilient import RecordsUnavailable
from voicebot.records.transcript import CallTranscript
from voicebot.service.auth import AGENTS, READERS, audit, json_error, require_role
from voicebot.service.briefing import whisper_text
from voicebot.service.runtime import Service

log = logging.getLogger("voicebot.api")

AGENT_WINDOW_H = 12  # an agent token reads a hand-over's context this long after the call
API_PREFIXES = ("/calls", "/agents", "/queues", "/admin")


def context_of(transcript: CallTranscript) -> dict[str, Any]:
    """What an agent is told about a caller (also spoken to them as the whisper)."""
    return {
        "call_sid": transcript.call_sid, "flow": transcript.flow_name,
        "outcome": transcript.outcome, "reason": transcript.reason,
        "queue": transcript.queue, "summary": transcript.summary,
        "spoken": whisper_text(transcript), "context": transcript.context,
    }


def _started_within(row: dict[str, Any] | None, hours: float) -> bool:
    started = (row or {}).get("started")
    if not started:
        return False
    then = calendar.timegm(time.strptime(started[:19], "%Y-%m-%dT%H:%M:%S"))
    return time.time() - then <= hours * 3600


def make_blueprint(svc: Service) -> Blueprint:
    bp = Blueprint("api", __name__)
    routes = ApiRoutes(svc)
    bp.get("/calls/<call_sid>")(require_role(*READERS)(routes.call))
    bp.get("/calls/<call_sid>/context")(require_role(*READERS)(routes.context))
    bp.get("/agents/<agent_call_sid>/context")(require_role(*AGENTS)(routes.agent_context))
    bp.get("/queues/<queue>/next")(require_role(*AGENTS)(routes.queue_head))
    return bp


class ApiRoutes:
    """The handlers of the blueprint, each with the Service of the app it serves."""

    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.records = svc.store

    def _transcript(self, call_sid: str) -> CallTranscript:
        transcript = self.records.get(call_sid)
        if transcript is None:
            abort(404, f"no call {call_sid!r} in the records")
        return transcript

    def call(self, call_sid: str) -> Any:
        transcript = self._transcript(call_sid)
        try:
            row = self.records.call_row(call_sid) or {}
        except RecordsUnavailable:  # the transcript came from memory; the row can wait
            row = {}
        audit(self.records, "read_call", call_sid=call_sid)
        out = transcript.to_dict()
        out.update({k: row.get(k) for k in ("started", "ended", "status")})
        return jsonify(out)

    def context(self, call_sid: str) -> Any:
        transcript = self._transcript(call_sid)
        audit(self.records, "read_context", call_sid=call_sid)
        return jsonify(context_of(transcript))

    def agent_context(self, agent_call_sid: str) -> Any:
        """The context of the caller this agent's call took from a queue."""
        call_sid = self.records.caller_for_agent(agent_call_sid)
        if call_sid is None:
            abort(404, f"no caller was handed to the call {agent_call_sid!r}")
        if g.principal.role == "agent" and not _started_within(
                self.records.call_row(call_sid), AGENT_WINDOW_H):
            abort(403, f"this hand-over is older than {AGENT_WINDOW_H} hours: an agent "
                       "token reads only current callers")
        transcript = self._transcript(call_sid)
        audit(self.records, "read_agent_context", call_sid=call_sid)
        return jsonify({"agent_call_sid": agent_call_sid, **context_of(transcript)})

    def queue_head(self, queue: str) -> Any:
        """The caller an agent of `queue` takes next (Twilio dequeues first in, first out)."""
        if queue not in self.svc.allowed_queues:
            abort(404, f"no queue {queue!r} (known: "
                       f"{', '.join(sorted(self.svc.allowed_queues))})")
        waiting = self.records.next_waiting(queue)
        if waiting is None:
            abort(404, f"nobody is waiting in {queue!r}")
        audit(self.records, "read_queue_head", call_sid=waiting.call_sid)
        return jsonify({"queue": queue, **context_of(waiting)})


def register_json_errors(app: Flask) -> None:
    """Errors under the API's paths as JSON (an unknown URL, a wrong method, the records
    out); elsewhere as they are."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if request.path.startswith(API_PREFIXES):
            return json_error(exc.code or 500, exc.description or exc.name)
        return exc

    @app.errorhandler(RecordsUnavailable)
    def records_unavailable(exc: RecordsUnavailable) -> Any:
        log_event(log, "api.records_unavailable", logging.WARNING, path=request.path)
        return json_error(503, "the call records are not available now", detail=str(exc))
