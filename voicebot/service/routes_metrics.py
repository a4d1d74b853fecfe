"""`GET /metrics`: the service's Prometheus metrics (voicebot.service.metrics). No token,
like /healthz: counts and timings only, never a caller's number, words or a CallSid; keep it
to the monitoring network (deploy/nginx.conf does not pass it on).

It also counts the requests the Twilio routes refused for a missing or wrong signature
(SignatureGuard answers those 403 before any route runs), by route.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from voicebot.service.metrics import CONTENT_TYPE, SignatureRejected
from voicebot.service.runtime import Service

TWILIO_BLUEPRINT = "twilio"


def make_blueprint(svc: Service) -> Blueprint:
    bp = Blueprint("metrics", __name__)

    @bp.get("/metrics")
    def metrics() -> Response:
        return Response(svc.metrics.exposition(), content_type=CONTENT_TYPE)

    @bp.after_app_request
    def count_refused_signatures(response: Response) -> Response:
        if request.blueprint == TWILIO_BLUEPRINT and response.status_code == 403:
            rule = request.url_rule.rule if request.url_rule is not None else request.path
            svc.metrics.emit(SignatureRejected(rule))
        return response

    return bp
