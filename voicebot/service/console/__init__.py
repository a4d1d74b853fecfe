"""The web console for the people running the line: server-rendered pages (Jinja, little
script, no build step) in the service's own Flask app, under /console/.

    /console/login          a token in, a session cookie out (access.py)
    /console/               live: calls in progress, callers waiting per queue (live.py)
    /console/calls          the calls, searchable and paged; /console/calls/<CallSid> one
                            call: transcript, review, scenario download (calls.py)
    /console/review         calls worth a look (calls.py)
    /console/kpis           KPIs over a period, per version and variant (kpi_page.py)

Agents may open the live page only; supervisors and admins everything.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, g, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from voicebot.records.opening import hash_key
from voicebot.records.resilient import RecordsUnavailable
from voicebot.service.auth import AGENTS, READERS, TokensUnavailable, authenticator
from voicebot.service.console import access
from voicebot.service.console.calls import CallPages, not_found
from voicebot.service.console.formats import FILTERS
from voicebot.service.console.kpi_page import KpiPages
from voicebot.service.console.live import LivePages
from voicebot.service.runtime import Service

PREFIX = "/console"


def install(app: Flask, svc: Service) -> None:
    """Add the console to the service's app (and `/` leading to it)."""
    access.configure(app, hash_key(svc.settings), svc.settings.public_url)
    for name, fn in FILTERS.items():
        app.add_template_filter(fn, name)
    app.register_blueprint(make_blueprint(svc), url_prefix=PREFIX)
    app.add_url_rule("/", "console_home", lambda: redirect(url_for("console.live")))


def make_blueprint(svc: Service) -> Blueprint:
    bp = Blueprint("console", __name__, template_folder="templates", static_folder="static")
    live, calls, kpis = LivePages(svc), CallPages(svc), KpiPages(svc)

    @bp.before_request
    def who() -> Any:
        g.public_url = svc.settings.public_url
        return access.before_request()

    bp.after_request(access.secure_headers)
    bp.context_processor(access.template_globals)
    bp.register_error_handler(RecordsUnavailable, lambda exc: access.error_page(
        503, "The call records do not answer now. The page will work again when they do."))
    bp.register_error_handler(TokensUnavailable, lambda exc: access.error_page(
        503, "The console cannot check who you are right now. Try again in a moment."))
    bp.register_error_handler(HTTPException, access.http_error)
    agents, readers = access.page(*AGENTS), access.page(*READERS)
    for rule, endpoint, view, methods in (
            ("/login", "login", login, ["GET", "POST"]),
            ("/logout", "logout", logout, ["POST"]),
            ("/", "live", agents(live.page), ["GET"]),
            ("/live/part", "live_part", agents(live.part), ["GET"]),
            ("/calls", "calls", readers(calls.list), ["GET"]),
            ("/calls/<call_sid>", "call", readers(calls.call), ["GET"]),
            ("/calls/<call_sid>/review", "review_call", readers(calls.review), ["POST"]),
            ("/calls/<call_sid>/scenario.yaml", "scenario", readers(calls.scenario),
             ["GET"]),
            ("/review", "review", readers(calls.queue), ["GET"]),
            ("/kpis", "kpis", readers(kpis.page), ["GET"]),
            ("/<path:anything>", "not_found", lambda anything: not_found(),
             ["GET", "POST"])):
        bp.add_url_rule(rule, endpoint, view, methods=methods)
    return bp


def login() -> Any:
    """A token in, a session out; a wrong one is said so, with the form again."""
    target = access.safe_next(request.values.get("next"))
    if request.method == "GET":
        if g.get("principal") is not None:
            return redirect(target)
        return render_template("console/login.html", next=target)
    principal = authenticator().principal_for(request.form.get("token", "").strip())
    if principal is None:
        return render_template("console/login.html", next=target,
                               problem="That token is not known here, or it was revoked."), 401
    access.log_in(principal)
    return redirect(target)


def logout() -> Any:
    access.log_out()
    return redirect(url_for("console.login"))
