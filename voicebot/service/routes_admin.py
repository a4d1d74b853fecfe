"""Routes for admins: the audit log, the data-subject requests and the purge.

- `GET /admin/audit?since=ISO&call_sid=CA...&limit=N`: the newest entries first (who read
  which call's contents, when and through which endpoint; every export, erasure, purge).
- `POST /admin/export {"caller": "+15550100"}`: everything kept about that caller (JSON).
- `POST /admin/forget {"caller": "+15550100"}`: erase it; answers the counts and the
  request's reference (which the audit log keeps instead of the calls).
- `POST /admin/purge {"dry_run": true}`: remove (or count) what retention says expired.

The number travels in the request body, never in a URL (URLs end up in access logs).
Each of these is written to the audit log, reading the audit log included.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, request

from voicebot.records.access import AccessStore
from voicebot.records.erasure import NUMBER_RE, export_caller, forget_caller
from voicebot.records.retention import Retention, purge
from voicebot.service.auth import ADMINS, audit, require_role
from voicebot.service.runtime import Service

AUDIT_LIMIT_MAX = 10000
REQUEST_DEADLINE_S = 120.0  # an erasure rewrites tables on PostgreSQL


def make_blueprint(svc: Service) -> Blueprint:
    bp = Blueprint("admin", __name__, url_prefix="/admin")
    routes = AdminRoutes(svc)
    bp.get("/audit")(require_role(*ADMINS)(routes.audit_log))
    bp.post("/export")(require_role(*ADMINS)(routes.export))
    bp.post("/forget")(require_role(*ADMINS)(routes.forget))
    bp.post("/purge")(require_role(*ADMINS)(routes.purge))
    return bp


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, "send a JSON object (Content-Type: application/json)")
    return body


def _caller() -> str:
    number = str(_body().get("caller") or "").strip()
    if not NUMBER_RE.fullmatch(number):
        abort(400, 'give the caller\'s phone number as {"caller": "+15550100"}')
    return number


class AdminRoutes:
    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.records = svc.store

    def audit_log(self) -> Any:
        try:
            limit = int(request.args.get("limit", "1000"))
        except ValueError:
            abort(400, "limit must be a whole number")
        if not 1 <= limit <= AUDIT_LIMIT_MAX:
            abort(400, f"limit must be between 1 and {AUDIT_LIMIT_MAX}")
        since, call_sid = request.args.get("since"), request.args.get("call_sid")
        entries = self.records.ask(lambda store: AccessStore(store.database).audit_entries(
            since=since, call_sid=call_sid, limit=limit))
        audit(self.records, "read_audit", detail=f"{len(entries)} entries")
        return jsonify({"entries": [e.to_dict() for e in entries]})

    def export(self) -> Any:
        number = _caller()
        document = self.records.ask(lambda store: export_caller(store, number),
                                    wait_writes=True, deadline_s=REQUEST_DEADLINE_S)
        for call in document["calls"]:
            audit(self.records, "export", call_sid=call["call_sid"])
        audit(self.records, "export", detail=f"{len(document['calls'])} calls of one caller")
        return jsonify(document)

    def forget(self) -> Any:
        number = _caller()
        erased = self.records.ask(lambda store: forget_caller(store, number),
                                  wait_writes=True, deadline_s=REQUEST_DEADLINE_S)
        self.records.forget_calls(set(erased.call_sids))
        audit(self.records, "forget", detail=erased.detail())
        return jsonify({"request": erased.request, "calls": erased.calls,
                        "turns": erased.turns, "prompts": erased.prompts,
                        "handoffs": erased.handoffs,
                        "audit_entries_unlinked": erased.audit_entries,
                        "traces": erased.traces})

    def purge(self) -> Any:
        dry_run = _body().get("dry_run", False)
        if not isinstance(dry_run, bool):  # "false" is not false: ask, do not guess
            abort(400, 'dry_run must be true or false (JSON), e.g. {"dry_run": true}')
        retention = Retention.from_settings(self.svc.settings)
        done = self.records.ask(lambda store: purge(store.database, retention,
                                                    dry_run=dry_run),
                                wait_writes=True, deadline_s=REQUEST_DEADLINE_S)
        self.records.forget_calls(done.affected)
        audit(self.records, "purge_dry_run" if dry_run else "purge", detail=done.detail())
        return jsonify({"dry_run": dry_run, "removed": done.lines(), "calls": done.calls,
                        "turns": done.turns, "prompts": done.prompts,
                        "summaries": done.summaries, "audit": done.audit})
