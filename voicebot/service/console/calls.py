"""The calls pages: the searchable list, a call's page (its transcript, how it ended, its
reviews and the review form), the scenario download that turns a call into a regression
test, and the review queue of calls worth a look. For supervisors and admins.

Opening a call's page, downloading its scenario and reviewing it are each written to the
audit log. The list and the review queue show no caller's words (times, outcomes, nodes,
confidences), so they are not.
"""

from __future__ import annotations

import math
import time
from typing import Any

from flask import Response, abort, g, redirect, render_template, request, url_for

from voicebot.records.as_scenario import scenario_skeleton
from voicebot.records.browse import CallFilter, choices, list_calls, review_queue
from voicebot.records.database import now_iso
from voicebot.records.kpi_data import PeriodError, parse_time
from voicebot.records.reviews import VERDICTS, ReviewError, ReviewStore, check_review
from voicebot.service.auth import audit
from voicebot.service.console.access import error_page
from voicebot.service.console.timeline import timeline
from voicebot.service.runtime import Service

PER_PAGE = 50
FILTER_KEYS = ("call_sid", "result", "reason", "queue", "flow", "version", "variant",
               "reviewed", "since", "until")


def _period(text: str, default: str | None) -> str | None:
    text = (text or "").strip() or (default or "")
    if not text:
        return None
    try:
        return now_iso(parse_time(text, before=time.time()))
    except PeriodError as exc:
        abort(400, str(exc))


class CallPages:
    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.records = svc.store

    def list(self) -> str:
        args = {k: (request.args.get(k) or "").strip() for k in FILTER_KEYS}
        where = CallFilter(**{**args, "since": _period(args["since"], None),
                              "until": _period(args["until"], None)})
        try:
            page = max(1, int(request.args.get("page", 1)))
        except ValueError:
            page = 1
        rows, total = self.records.ask(
            lambda s: list_calls(s.database, where, page=page, per_page=PER_PAGE))
        latest = self.records.ask(lambda s: ReviewStore(s.database).latest(
            r.call_sid for r in rows))
        options = self.records.ask(lambda s: choices(s.database))
        pages = max(1, math.ceil(total / PER_PAGE))
        return render_template("console/calls.html", rows=rows, total=total, page=page,
                               pages=pages, args=args, options=options, latest=latest,
                               verdicts=VERDICTS, link=_page_link(args))

    def _call(self, call_sid: str) -> Any:
        transcript = self.records.get(call_sid)
        if transcript is None:
            abort(404, f"There is no call {call_sid} in the records.")
        return transcript

    def call(self, call_sid: str, problem: str | None = None, status: int = 200) -> Any:
        transcript = self._call(call_sid)
        row = self.records.call_row(call_sid) or {}
        reviews = self.records.ask(lambda s: ReviewStore(s.database).for_call(call_sid))
        audit(self.records, "read_call", call_sid=call_sid)
        body = render_template("console/call.html", t=transcript, row=row, reviews=reviews,
                               entries=timeline(transcript), verdicts=VERDICTS,
                               problem=problem, note=request.form.get("note", ""))
        return Response(body, status=status, mimetype="text/html")

    def review(self, call_sid: str) -> Any:
        verdict = request.form.get("verdict", "")
        note = request.form.get("note", "")
        who = g.principal
        self._call(call_sid)  # 404 for a call that is not there
        try:
            check_review(verdict, note)
        except ReviewError as exc:
            return self.call(call_sid, problem=str(exc), status=400)
        self.records.ask(lambda s: ReviewStore(s.database).add(
            call_sid, reviewer=who.name, role=who.role, verdict=verdict, note=note))
        audit(self.records, "review_call", call_sid=call_sid, detail=verdict)
        return redirect(url_for("console.call", call_sid=call_sid, reviewed=1) + "#reviews")

    def scenario(self, call_sid: str) -> Response:
        """The call as a replay scenario (what `voicebot export-scenario` writes)."""
        transcript = self._call(call_sid)
        audit(self.records, "export_scenario", call_sid=call_sid)
        text = scenario_skeleton(transcript)
        header = (f"# replay: voicebot replay --flow {self.svc.flow.path.name} --audio-dir DIR "
                  f"{call_sid}.yaml  (flow {transcript.flow_name} {transcript.flow_version})\n")
        return Response(header + text, mimetype="application/x-yaml", headers={
            "Content-Disposition": f'attachment; filename="{call_sid}.yaml"'})

    def queue(self) -> Any:
        since = _period(request.args.get("since", ""), "7d") or ""
        worth = self.records.ask(lambda s: review_queue(s.database, since=since))
        return render_template("console/review.html", worth=worth,
                               since=request.args.get("since") or "7d")


def _page_link(args: dict[str, str]) -> Any:
    def link(page: int) -> str:
        kept = {k: v for k, v in args.items() if v}
        return url_for("console.calls", page=page, **kept)

    return link


def not_found() -> Response:
    return error_page(404, f"There is no console page at {request.path}.")
