"""Who is asking, and may they: API tokens per role, and the audit of what they read.

Roles, from the least to the most trusted:

- `agent`: the context of the caller their own call took from a queue, and the caller at
  the head of a queue (what they need to help the next person);
- `supervisor`: call records and reports;
- `admin`: everything, and the data-subject requests (export, forget), purge and the
  audit log.

Tokens are made with `voicebot tokens add` and kept hashed in the shared database
(voicebot.records.access). VOICEBOT_API_TOKEN, when set, is a bootstrap token with the
admin role (named "bootstrap"): it lets an existing deployment, and the first operator,
work before any token exists. A token is compared by its SHA-256 against every active
token's in constant time (hmac.compare_digest, no early exit), so the time an answer
takes says nothing about how close a guess was.

Views use `@require_role(*roles)`: no or unknown token answers 401, a role not among
`roles` 403, both as JSON (`{"error": ..., "status": ...}`). A view that reads a call's
contents calls `audit(records, action, call_sid=...)`, which writes who, when, which call
and why (the endpoint) to the audit log. Another blueprint (a console with its own login)
may put a Principal in `flask.g.principal` in its before_request: require_role and audit
then use it instead of the Authorization header.
"""

from __future__ import annotations

import functools
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Request, Response, current_app, g, jsonify, request

from voicebot.records.access import ROLES, ActiveToken, AuditEntry, token_hash
from voicebot.records.database import now_iso

AGENTS = ("agent", "supervisor", "admin")  # the queue head, an agent's own caller
READERS = ("supervisor", "admin")  # call records and reports
ADMINS = ("admin",)  # export, forget, purge, audit
BOOTSTRAP_NAME = "bootstrap"  # VOICEBOT_API_TOKEN's principal
BOOTSTRAP_ROLE = "admin"
TOKEN_CACHE_S = 5.0  # a revocation reaches every host within this
MISS_REFRESH_S = 0.2  # an unknown token reads the tokens again if they are older than this
EXTENSION = "voicebot_auth"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: a token's name and its role."""

    name: str
    role: str

    def has(self, *roles: str) -> bool:
        return self.role in roles

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "role": self.role}


class TokensUnavailable(Exception):
    """The tokens could not be read (the database is out) and none are known yet."""


class Authenticator:
    """Turns a token into a Principal. `tokens()` reads the active tokens from the shared
    database; they are kept for TOKEN_CACHE_S, and the last list read is used while the
    database does not answer."""

    def __init__(self, bootstrap_token: str | None,
                 tokens: Callable[[], list[ActiveToken]], *,
                 cache_s: float = TOKEN_CACHE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._bootstrap = token_hash(bootstrap_token) if bootstrap_token else None
        self._read_tokens = tokens
        self._cache_s = cache_s
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: list[ActiveToken] | None = None
        self._read_at = 0.0

    def principal_for(self, token: str) -> Principal | None:
        """The principal a token stands for, or None (empty, unknown or revoked).
        Raises TokensUnavailable when the tokens cannot be read and none are known."""
        if not token:
            return None
        given = token_hash(token).encode()
        found = self._match(given, self._active())
        if found is None and self._age() >= MISS_REFRESH_S:  # a token made a moment ago
            found = self._match(given, self._active(refresh=True))
        return found

    def refresh(self) -> None:
        """Read the tokens now (after a change made here), rather than within seconds."""
        self._active(refresh=True)

    def _match(self, given: bytes, tokens: list[ActiveToken]) -> Principal | None:
        """Compare with every token, in constant time and without stopping at a match."""
        found: Principal | None = None
        if self._bootstrap and hmac.compare_digest(given, self._bootstrap.encode()):
            found = Principal(BOOTSTRAP_NAME, BOOTSTRAP_ROLE)
        for known in tokens:
            if hmac.compare_digest(given, known.token_hash.encode()) and found is None:
                found = Principal(known.name, known.role)
        return found

    def _age(self) -> float:
        with self._lock:
            return self._clock() - self._read_at

    def still_valid(self, principal: Principal) -> bool:
        """Whether a principal (e.g. one kept in a console's session) is still allowed:
        its token not revoked, its role unchanged."""
        if principal.name == BOOTSTRAP_NAME:
            return self._bootstrap is not None and principal.role == BOOTSTRAP_ROLE
        return any(t.name == principal.name and t.role == principal.role
                   for t in self._active())

    def _active(self, *, refresh: bool = False) -> list[ActiveToken]:
        with self._lock:
            fresh = self._tokens is not None and self._clock() - self._read_at < self._cache_s
            if fresh and not refresh:
                return self._tokens or []
        try:
            tokens = self._read_tokens()
        except Exception as exc:  # noqa: BLE001 - the database is out: keep the last list
            with self._lock:
                if self._tokens is None:
                    if self._bootstrap:
                        return []
                    raise TokensUnavailable(str(exc)) from exc
                return self._tokens
        with self._lock:
            self._tokens, self._read_at = tokens, self._clock()
        return tokens


def bearer_token(req: Request) -> str:
    header = req.headers.get("Authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else ""


def authenticator() -> Authenticator:
    return current_app.extensions[EXTENSION]


def authenticate(req: Request) -> Principal | None:
    """The principal of the request's bearer token, or None."""
    return authenticator().principal_for(bearer_token(req))


def json_error(status: int, message: str, **extra: Any) -> Response:
    response = jsonify({"error": message, "status": status, **extra})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="voicebot"'
    return response


def require_role(*roles: str) -> Callable[[F], F]:
    """Let the view run only for a principal with one of `roles` (see the module doc)."""
    unknown = [r for r in roles if r not in ROLES]
    if not roles or unknown:
        raise ValueError(f"require_role needs roles among {ROLES}, not {roles}")

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            principal = g.get("principal")
            if principal is None:
                try:
                    principal = authenticate(request)
                except TokensUnavailable:
                    return json_error(503, "the API tokens cannot be checked now: the call "
                                           "records database does not answer")
            if principal is None:
                return json_error(401, "a valid API token is needed: "
                                       "Authorization: Bearer <token>")
            if not principal.has(*roles):
                return json_error(403, f"the role {principal.role!r} may not do this "
                                       f"(needs {' or '.join(roles)})")
            g.principal = principal
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate


def audit(records: Any, action: str, *, call_sid: str | None = None,
          detail: str | None = None) -> None:
    """Write to the audit log who (g.principal), when, which call and why (this request's
    method and endpoint). `records` is the service's ResilientRecords: the entry is written
    by its writer, never making the request wait, and kept while the database is out."""
    principal: Principal = g.principal
    rule = request.url_rule.rule if request.url_rule is not None else request.path
    records.audit(AuditEntry(at=now_iso(), actor=principal.name, role=principal.role,
                             action=action, endpoint=f"{request.method} {rule}",
                             call_sid=call_sid, detail=detail))


def install(app: Any, auth: Authenticator) -> None:
    """Make `auth` the app's authenticator (authenticate() and require_role use it)."""
    app.extensions[EXTENSION] = auth
