"""Who may read the call records, and who did: API tokens per role and the audit log.

Both live in the shared database, not in one host's files: every host behind the load
balancer must accept the same tokens, see a revocation, and add to one audit log.

A token is shown once, when it is made; the database keeps only its SHA-256 (a token is 32
random bytes, so a plain hash cannot be guessed back, and no slow KDF is needed). A revoked
token's row stays, so the audit log's names keep meaning something, and its name is not
given out again.

The audit log says who (the token's name and role), when, which call and why (the endpoint
or command). It holds no caller's number, hash or words: `detail` carries counts only.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from voicebot.errors import VoicebotError
from voicebot.records.database import Database, now_iso
from voicebot.records.schema import api_tokens, audit_log

ROLES = ("agent", "supervisor", "admin")
TOKEN_PREFIX = "vb_"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


class TokenError(VoicebotError):
    """A token cannot be made or revoked as asked (a bad name or role, a name in use)."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TokenInfo:
    """A token as `voicebot tokens list` shows it: never the token or its hash."""

    name: str
    role: str
    created: str
    revoked: str | None

    @property
    def active(self) -> bool:
        return self.revoked is None


@dataclass(frozen=True)
class ActiveToken:
    name: str
    role: str
    token_hash: str


@dataclass(frozen=True)
class AuditEntry:
    at: str
    actor: str
    role: str
    action: str
    endpoint: str
    call_sid: str | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "actor": self.actor, "role": self.role, "action": self.action,
                "endpoint": self.endpoint, "call_sid": self.call_sid, "detail": self.detail}


def check_role(role: str) -> str:
    if role not in ROLES:
        raise TokenError(f"unknown role {role!r}: choose {', '.join(ROLES)}")
    return role


class AccessStore:
    """Tokens and the audit log in a Database (the call store's: CallStore.database)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # ------------------------------------------------------------------ tokens

    def add_token(self, name: str, role: str) -> str:
        """Make a token for `name` with `role` and return it (the only time it is seen)."""
        if not NAME_RE.fullmatch(name or ""):
            raise TokenError(f"token name {name!r}: use 1-64 letters, digits and . _ @ - "
                             "(starting with a letter or digit)")
        check_role(role)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._db.transaction("add an API token") as conn:
            old = conn.execute(sa.select(api_tokens.c.revoked)
                               .where(api_tokens.c.name == name)).first()
            if old is not None:
                state = f"revoked {old.revoked}" if old.revoked else "active"
                raise TokenError(f"a token named {name!r} exists ({state}); names are not "
                                 "reused, so the audit log stays unambiguous: choose another")
            conn.execute(api_tokens.insert().values(name=name, role=role,
                                                    token_hash=token_hash(token),
                                                    created=now_iso()))
        return token

    def revoke_token(self, name: str) -> TokenInfo:
        with self._db.transaction("revoke an API token") as conn:
            row = conn.execute(sa.select(api_tokens).where(api_tokens.c.name == name)).first()
            if row is None:
                raise TokenError(f"no token named {name!r} (`voicebot tokens list` shows them)")
            if row.revoked:
                raise TokenError(f"the token {name!r} was already revoked at {row.revoked}")
            when = now_iso()
            conn.execute(api_tokens.update().where(api_tokens.c.name == name)
                         .values(revoked=when))
        return TokenInfo(row.name, row.role, row.created, when)

    def list_tokens(self) -> list[TokenInfo]:
        query = sa.select(api_tokens.c.name, api_tokens.c.role, api_tokens.c.created,
                          api_tokens.c.revoked).order_by(api_tokens.c.created)
        with self._db.transaction("list API tokens", write=False) as conn:
            return [TokenInfo(*row) for row in conn.execute(query)]

    def active_tokens(self) -> list[ActiveToken]:
        """The tokens that work now (names, roles and hashes), for the service's checks."""
        query = sa.select(api_tokens.c.name, api_tokens.c.role, api_tokens.c.token_hash) \
            .where(api_tokens.c.revoked.is_(None))
        with self._db.transaction("read API tokens", write=False) as conn:
            return [ActiveToken(*row) for row in conn.execute(query)]

    # ------------------------------------------------------------------ audit log

    def append_audit(self, entry: AuditEntry) -> None:
        with self._db.transaction("write the audit log") as conn:
            conn.execute(audit_log.insert().values(**entry.to_dict()))

    def audit_entries(self, *, since: str | None = None, call_sid: str | None = None,
                      limit: int = 1000) -> list[AuditEntry]:
        """The newest entries first (at most `limit`), optionally since a time or per call."""
        query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if since:
            query = query.where(audit_log.c.at >= since)
        if call_sid:
            query = query.where(audit_log.c.call_sid == call_sid)
        with self._db.transaction("read the audit log", write=False) as conn:
            return [AuditEntry(**{k: row._mapping[k] for k in AuditEntry.__dataclass_fields__})
                    for row in conn.execute(query)]
