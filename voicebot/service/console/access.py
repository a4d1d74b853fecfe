"""Who is using the console, and what keeps its pages safe.

- Login takes an API token (voicebot.service.auth) once and keeps only its principal (name
  and role) in Flask's signed session cookie: HTTP-only, SameSite=Lax, Secure when the
  service's public URL is https, for SESSION_HOURS. Every request checks the principal
  again (Authenticator.still_valid), so revoking the token ends the session on every host
  within seconds. The cookie is signed with a key derived from the callers' hash key, which
  every host of a line shares (so any host accepts any host's session) and no database holds.
- Every form carries a CSRF token (Flask-WTF's, tied to the session); a POST without a good
  one, or from another origin, is refused.
- Pages set a strict Content-Security-Policy (only the console's own script and styles, no
  inline code), and are not cached: they hold callers' words.
- Error pages (403, 404, 503, ...) are pages a person can read.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, Response, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from werkzeug.exceptions import HTTPException
from wtforms import ValidationError

from voicebot.service.auth import Principal, TokensUnavailable, audit, authenticator

SESSION_HOURS = 12
SESSION_KEY = "who"
AUDIT_AGAIN_S = 600  # the live view writes one audit entry per person and call this often
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
TITLES = {400: "This request could not be used", 403: "Not for your role",
          404: "Not found", 405: "Not allowed here", 503: "Not available now"}
F = TypeVar("F", bound=Callable[..., Any])


def configure(app: Flask, hash_key: bytes, public_url: str) -> None:
    """The app's session cookie and CSRF settings for the console."""
    app.secret_key = hmac.new(hash_key, b"voicebot console sessions",
                              hashlib.sha256).hexdigest()
    app.config.update(
        SESSION_COOKIE_NAME="voicebot_console", SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=public_url.startswith("https:"),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
        WTF_CSRF_TIME_LIMIT=SESSION_HOURS * 3600)


def log_in(principal: Principal) -> None:
    session.clear()  # nothing of a session from before the login carries over
    session[SESSION_KEY] = principal.to_dict()
    session.permanent = True


def log_out() -> None:
    session.clear()


def current() -> Principal | None:
    """The session's principal, if its token still works (else the session ends)."""
    who = session.get(SESSION_KEY)
    if not isinstance(who, dict):
        return None
    principal = Principal(str(who.get("name")), str(who.get("role")))
    if not authenticator().still_valid(principal):
        session.clear()
        return None
    return principal


def before_request() -> Response | None:
    """Every console request: who is asking, and a POST's CSRF token and origin."""
    if request.endpoint == "console.static":
        return None
    try:
        g.principal = current()
    except TokensUnavailable:
        return error_page(503, "The console cannot check who you are right now: the call "
                               "records database does not answer. Try again in a moment.")
    if request.method == "POST":
        if not same_origin():
            return error_page(400, "This form was sent from another site.")
        try:
            validate_csrf(request.form.get("csrf_token", ""))
        except (ValidationError, CSRFError):
            return error_page(400, "This form has expired or did not come from this "
                                   "console. Go back, reload the page and send it again.")
    return None


def same_origin() -> bool:
    """A POST's Origin (when the browser sends one) is this service."""
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return origin is None
    mine = {urlsplit(request.host_url).netloc}
    public = g.get("public_url") or ""
    if public:
        mine.add(urlsplit(public).netloc)
    return urlsplit(origin).netloc in mine


def page(*roles: str) -> Callable[[F], F]:
    """A console page for these roles: to the login without a session, 403 without the
    role."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            principal = g.get("principal")
            if principal is None:
                return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
            if not principal.has(*roles):
                return error_page(403, f"The {principal.role} role may not open this page: "
                                       f"it needs {' or '.join(roles)}.")
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate


def safe_next(target: str | None) -> str:
    """Where to go after the login: a console path of this site only."""
    if target and target.startswith("/console/") and not target.startswith("//") \
            and "\\" not in target:
        return target
    return url_for("console.live")


def error_page(status: int, message: str) -> Response:
    body = render_template("console/error.html", status=status,
                           title=TITLES.get(status, "Something went wrong"), message=message)
    return Response(body, status=status, mimetype="text/html")


def http_error(exc: HTTPException) -> Response:
    return error_page(exc.code or 500, exc.description or exc.name)


def secure_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    return response


def template_globals() -> dict[str, Any]:
    return {"csrf_token": generate_csrf, "principal": g.get("principal")}


class AuditOnce:
    """Audit a read once per person, call and action within AUDIT_AGAIN_S: the live view
    refreshes every few seconds, and one entry says as much as a hundred."""

    def __init__(self, records: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self._records = records
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str, str], float] = {}

    def __call__(self, action: str, call_sid: str) -> None:
        key = (g.principal.name, call_sid, action)
        now = self._clock()
        with self._lock:
            if now - self._last.get(key, -AUDIT_AGAIN_S) < AUDIT_AGAIN_S:
                return
            self._last[key] = now
            if len(self._last) > 10000:
                self._last = {k: v for k, v in self._last.items()
                              if now - v < AUDIT_AGAIN_S}
        audit(self._records, action, call_sid=call_sid)
