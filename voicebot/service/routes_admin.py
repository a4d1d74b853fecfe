"""Routes for admins: the audit log (and the data-subject requests).

`GET /admin/audit?since=ISO&call_sid=CA...&limit=N` lists the newest entries first: who
read which call's contents, when and through which endpoint, and every export, erasure
and purge. Reading the audit log is itself written to it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from voicebot.records.access import AccessStore
from voicebot.service.auth import ADMINS, audit, json_error, require_role
from voicebot.service.runtime import Service

AUDIT_LIMIT_MAX = 10000


def make_blueprint(svc: Service) -> Blueprint:
    bp = Blueprint("admin", __name__, url_prefix="/admin")
    records = svc.store

    @bp.get("/audit")
    @require_role(*ADMINS)
    def audit_log() -> Any:
        try:
            limit = int(request.args.get("limit", "1000"))
        except ValueError:
            return json_error(400, "limit must be a whole number")
        if not 1 <= limit <= AUDIT_LIMIT_MAX:
            return json_error(400, f"limit must be between 1 and {AUDIT_LIMIT_MAX}")
        since, call_sid = request.args.get("since"), request.args.get("call_sid")
        entries = records.ask(lambda store: AccessStore(store.database).audit_entries(
            since=since, call_sid=call_sid, limit=limit))
        audit(records, "read_audit", detail=f"{len(entries)} entries")
        return jsonify({"entries": [e.to_dict() for e in entries]})

    return bp
