"""The KPI page: voicebot.records.kpis over a chosen period, flow, version and variant, as
figures, tables and charts (the same template makes `voicebot report --html`). For
supervisors and admins; it reads no caller's words, so nothing is audited."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, request

from voicebot.records.browse import choices
from voicebot.records.kpi_data import PeriodError, Scope
from voicebot.records.kpis import Kpis, report
from voicebot.service.console import charts
from voicebot.service.console.formats import pct
from voicebot.service.runtime import Service

PERIODS = {"24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days",
           "90d": "last 90 days"}
REASON_CLS = "handover"


def kpi_charts(kpis: Kpis) -> dict[str, charts.Chart]:
    """The charts of a report, by name."""
    f = kpis.figures
    days = f["by_day"]
    every = max(1, len(days) // 10)
    out = {
        "by_day": charts.columns(
            "Calls per day",
            [(d["day"][5:], [(d["contained"], "ok"), (d["handed_over"], "handover"),
                             (d["calls"] - d["contained"] - d["handed_over"], "abandon")])
             for d in days], every=every, legend=(("contained", "ok"),
                                                  ("handed over", "handover"),
                                                  ("abandoned", "abandon"))),
        "reasons": charts.bars("Hand-overs by reason", [
            (reason.replace("_", " "), v["calls"]) for reason, v in
            f["handovers_by_reason"].items()], cls=REASON_CLS),
        "nodes": charts.bars("Hand-overs per node", [
            (node, v["calls"]) for node, v in f["handovers_by_node"].items()], cls=REASON_CLS),
        "confidence": charts.columns("Spoken turns by recognition confidence", [
            (f"{i / 10:.1f}", [(n, "low" if i < 5 else "ok")])
            for i, n in enumerate(f["confidence"]["bins"])]),
        "csat": charts.columns("Survey answers (1-5)", [
            (score, [(n, "ok" if int(score) >= 4 else "low")])
            for score, n in f["csat"]["scores"].items()]),
        "variants": charts.bars("Containment per variant", [
            (f"{v['flow']} {v['variant']}", v["containment"] or 0.0) for v in f["variants"]],
            value=pct, cls="ok"),
    }
    return out


def scope_from(args: Any) -> Scope:
    """The page's period and filters (from the query string) as a report's scope."""
    since = (args.get("since") or "7d").strip()
    until = (args.get("until") or "").strip() or None
    try:
        return Scope.parse(since, until, flow=(args.get("flow") or "").strip(),
                           version=(args.get("version") or "").strip(),
                           variant=(args.get("variant") or "").strip())
    except PeriodError as exc:
        abort(400, str(exc))


class KpiPages:
    def __init__(self, svc: Service) -> None:
        self.records = svc.store

    def page(self) -> str:
        scope = scope_from(request.args)
        kpis = self.records.ask(lambda s: report(s.database, scope))
        options = self.records.ask(lambda s: choices(s.database))
        return render_template("console/kpis.html", k=kpis, f=kpis.figures,
                               charts=kpi_charts(kpis), options=options, periods=PERIODS,
                               args={k: request.args.get(k, "") for k in
                                     ("since", "until", "flow", "version", "variant")})
