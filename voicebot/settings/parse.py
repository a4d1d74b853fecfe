"""How a setting's text is read and checked: each reader names the variable in its problem,
worded for the operator; Settings (voicebot.settings) collects every problem at once."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?")


class SettingProblem(ValueError):
    """One setting's problem, worded for the operator (collected, then raised together)."""


@dataclass(frozen=True)
class Number:
    kind: type[int] | type[float]
    lo: float
    hi: float

    def __call__(self, name: str, raw: str) -> int | float:
        try:
            value = self.kind(raw)
        except ValueError:
            raise SettingProblem(f"{name}={raw!r} is not a {self.kind.__name__}") from None
        if not self.lo <= value <= self.hi:
            raise SettingProblem(f"{name}={raw} must be between {self.lo:g} and {self.hi:g}")
        return value


@dataclass(frozen=True)
class Choice:
    options: tuple[str, ...]
    wording: str  # how the message lists them

    def __call__(self, name: str, raw: str) -> str:
        value = raw.lower()
        if value not in self.options:
            raise SettingProblem(f"{name}={value!r} must be {self.wording}")
        return value


def flag(name: str, raw: str) -> bool:
    value = raw.lower()
    if value not in ("0", "1", "true", "false", "yes", "no"):
        raise SettingProblem(f"{name}={value!r} must be 1 or 0")
    return value in ("1", "true", "yes")


def text(name: str, raw: str) -> str:
    return raw


def path(name: str, raw: str) -> Path:
    return Path(raw).expanduser()


def postgres_url(name: str, raw: str) -> str:
    if not raw.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        raise SettingProblem(f"{name} must be a postgresql://user:password@host:port/database URL "
                       "(leave it unset for the SQLite file VOICEBOT_DB)")
    return raw


def names(name: str, raw: str) -> tuple[str, ...]:
    return tuple(q.strip() for q in raw.split(",") if q.strip())


def _is_host(host: str) -> bool:
    """A host name (letters, digits, dots, hyphens) or an IP address."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(_HOSTNAME.fullmatch(host))


def http_url(name: str, raw: str) -> str:
    """An absolute http(s) URL Twilio can fetch: no spaces, a real host, no credentials."""
    if any(c.isspace() or not c.isprintable() for c in raw):
        raise SettingProblem(f"{name}={raw!r} must not contain spaces or control characters")
    parts = urlsplit(raw)
    if parts.scheme.lower() not in ("http", "https") or not raw.lower().startswith(
            ("http://", "https://")):
        raise SettingProblem(f"{name}={raw!r} must start with https:// (or http:// for local "
                       "tests)")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if not parts.hostname or not _is_host(parts.hostname) or port == -1:
        raise SettingProblem(f"{name}={raw!r} has no valid host (and port)")
    if parts.username is not None or parts.password is not None:
        raise SettingProblem(f"{name}={raw!r} must not carry a user name or password (Twilio "
                       "would be given them in every TwiML document)")
    return raw


def base_url(name: str, raw: str) -> str:
    """The service's public base URL: http_url, without a query, fragment or final /."""
    value = http_url(name, raw.rstrip("/"))
    if urlsplit(value).query or urlsplit(value).fragment or value.endswith("?"):
        raise SettingProblem(f"{name}={value!r} must not have a query or fragment (our paths are "
                       "added to it)")
    return value


def listen_host(name: str, raw: str) -> str:
    """An address to listen on: an IP address or a host name, without scheme or port."""
    if not _is_host(raw.strip("[]")):
        raise SettingProblem(f"{name}={raw!r} is not an address to listen on (an IP address such "
                       "as 0.0.0.0 or 127.0.0.1, or a host name; the port goes in "
                       "VOICEBOT_PORT)")
    return raw.strip("[]")
