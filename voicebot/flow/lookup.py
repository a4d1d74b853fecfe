"""Performing a flow's lookups: a CSV/JSON file beside the flow, or an HTTP endpoint.

The interpreter only asks (PerformLookup); the driver calls `perform` and feeds the
LookupDone back. `perform` never raises: any failure becomes LookupDone(ok=False, error=...),
which the flow routes to its `on_error` node or to a person, so a broken data source never
leaves a caller in silence. Errors carry no looked-up values (they may reach logs).

An HTTP lookup's `timeout` is a total deadline (connecting, retries and the whole answer),
not a per-read one: a server that trickles its answer a byte at a time gives an error at the
deadline, never a late answer read as "not found". The request runs in a helper thread the
caller stops waiting for at the deadline; the thread gives up soon after.

An HTTP source may send `headers`; their values take `${NAME}` from the environment at lookup
time, so credentials live in the deployment, not in the flow file. Header values are secrets:
they never appear in an error (an unset variable is named, its header value is not).
"""

from __future__ import annotations

import concurrent.futures
import csv
import json
import os
import re
import time
import urllib.parse
from pathlib import Path
from typing import Any

import requests
import urllib3.exceptions

from voicebot.flow.events import LookupDone, PerformLookup
from voicebot.flow.matching import normalize
from voicebot.httpclient import is_timeout, reason, retrying_session

DEFAULT_TIMEOUT = 3.0
MAX_BYTES = 1_000_000
READ_CHUNK = 4096
_FETCHES = concurrent.futures.ThreadPoolExecutor(max_workers=16,
                                                 thread_name_prefix="lookup-http")
# A caller is waiting: one more try when no connection could be made or a proxy answered
# 502/503/504, soon after; a slow answer is not asked again (it already cost the timeout).
CONNECT_RETRIES = 1
STATUS_RETRIES = 1
RETRY_BACKOFF_S = 0.1

# `${NAME}` in a header value: an environment variable (the validator uses the same pattern).
ENV_REF_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# What an HTTP header value may not hold: line breaks and other controls (header injection),
# or characters http.client cannot send (beyond Latin-1).
BAD_HEADER_CHAR_RE = re.compile(r"[^\t\x20-\x7e\x80-\xff]")


class HeaderError(ValueError):
    """A header cannot be sent; the message names the header and variable, never a value."""


def env_refs(text: str) -> list[str]:
    """The environment variable names a header value refers to, in order."""
    return ENV_REF_RE.findall(text)


def env_missing(name: str) -> bool:
    """An unset or empty variable: a credential that is empty is as good as none."""
    return not os.environ.get(name)


def resolve_headers(spec: Any) -> dict[str, str]:
    """The source's headers with every `${NAME}` taken from os.environ; raises HeaderError."""
    out: dict[str, str] = {}
    for name, template in (spec or {}).items():
        template = str(template)
        refs = env_refs(template)
        missing = [var for var in refs if env_missing(var)]
        if missing:
            raise HeaderError(f"environment variable {missing[0]} (for header {name}) is not "
                              "set or empty")
        value = ENV_REF_RE.sub(lambda m: os.environ[m.group(1)], template)
        if BAD_HEADER_CHAR_RE.search(value):
            via = f" (check {', '.join(refs)})" if refs else ""
            raise HeaderError(f"header {name} has a line break or a character HTTP does not "
                              f"allow{via}")
        out[str(name)] = value
    return out


def perform(action: PerformLookup) -> LookupDone:
    """Find the record whose key field equals the looked-up value; never raises."""
    source = action.source
    key = str(source.get("key", ""))
    value = str(action.params.get(key, "")).strip()
    secrets: list[str] = []
    try:
        if not value:
            return LookupDone(ok=True, record=None)
        if source.get("file"):
            return LookupDone(ok=True, record=_from_file(Path(source["file"]), key, value))
        if source.get("url"):
            timeout = float(source.get("timeout") or DEFAULT_TIMEOUT)
            try:
                headers = resolve_headers(source.get("headers"))
            except HeaderError as exc:
                return LookupDone(ok=False, error=str(exc))
            secrets = _secrets(source.get("headers"), headers)
            done = _from_url(str(source["url"]), key, value, action.params, timeout, headers)
            if done.error:
                done = LookupDone(ok=done.ok, record=done.record,
                                  error=_redact(done.error, secrets))
            return done
        return LookupDone(ok=False, error="lookup source names neither file nor url")
    except Exception as exc:  # noqa: BLE001 - a lookup must never break a call
        return LookupDone(ok=False, error=_redact(f"{type(exc).__name__}: {_short(exc)}",
                                                  secrets))


def _same(a: Any, b: str) -> bool:
    return normalize(str(a)) == normalize(b)


def _find(records: Any, key: str, value: str) -> dict[str, Any] | None:
    if isinstance(records, dict):
        if value in records and isinstance(records[value], dict):
            return {key: value, **records[value]}
        if key in records:  # a single object
            return records if _same(records[key], value) else None
        records = list(records.values())
    if isinstance(records, list):
        for rec in records:
            if isinstance(rec, dict) and key in rec and _same(rec[key], value):
                return rec
        return None
    raise ValueError("data is neither a list nor a mapping of records")


def _from_file(path: Path, key: str, value: str) -> dict[str, Any] | None:
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if key in row and _same(row[key], value):
                    return {k: (v or "").strip() for k, v in row.items() if k is not None}
        return None
    return _find(json.loads(path.read_text(encoding="utf-8")), key, value)


def _from_url(url: str, key: str, value: str, params: dict[str, str],
              timeout: float, headers: dict[str, str] | None = None) -> LookupDone:
    quoted = {k: urllib.parse.quote(str(v), safe="") for k, v in params.items()}
    target = url
    for name, val in quoted.items():
        target = target.replace("{" + name + "}", val)
    if target == url:  # the URL names no parameter: pass them as a query string
        sep = "&" if "?" in url else "?"
        target = url + sep + urllib.parse.urlencode(params)
    fetch = _Fetch(target, {"Accept": "application/json", **(headers or {})}, timeout)
    future = _FETCHES.submit(fetch.run)
    try:
        status, body = future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        return LookupDone(ok=False, error=f"timeout: no complete answer within {timeout:g}s")
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        if is_timeout(exc):
            return LookupDone(ok=False, error=f"timeout after {timeout:g}s")
        return LookupDone(ok=False, error=f"cannot reach the lookup service: {reason(exc)}")
    if status == 404:
        return LookupDone(ok=True, record=None)
    if status >= 400:
        return LookupDone(ok=False, error=f"HTTP {status}")
    if len(body) > MAX_BYTES:
        return LookupDone(ok=False, error="lookup answer too large")
    if not body.strip():
        return LookupDone(ok=True, record=None)
    data = json.loads(body.decode("utf-8"))
    if isinstance(data, dict) and key not in data and value not in data:
        return LookupDone(ok=True, record=data)  # the endpoint returned the record itself
    return LookupDone(ok=True, record=_find(data, key, value))


class _Fetch:
    """One HTTP GET read to its end by a total deadline (run in a helper thread). The body
    is read as it arrives, so a trickling server is noticed within a byte or a read
    timeout of the deadline and the thread ends, its connection closed."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float) -> None:
        self.url, self.headers, self.timeout = url, headers, timeout
        self.deadline = time.monotonic() + timeout

    def run(self) -> tuple[int, bytes]:
        # A session per lookup: no cookies carried from one caller's lookup to the next.
        http = retrying_session(connect=CONNECT_RETRIES, status=STATUS_RETRIES,
                                backoff_s=RETRY_BACKOFF_S, user_agent="voicebot-lookup",
                                session=_SameOriginHeaders(list(self.headers)))
        with http, http.get(self.url, headers=self.headers, timeout=self.timeout,
                            stream=True) as resp:
            if resp.status_code >= 400:
                return resp.status_code, b""
            body = b""
            while len(body) <= MAX_BYTES:
                if time.monotonic() >= self.deadline:
                    raise TimeoutError("the answer did not end by the deadline")
                chunk = resp.raw.read1(READ_CHUNK, decode_content=True)
                if not chunk:
                    break
                body += chunk
            return resp.status_code, body


class _SameOriginHeaders(requests.Session):
    """Follows redirects like requests, but drops the flow's headers on a redirect to another
    scheme, host or port (requests itself drops only Authorization, and keeps it on an
    http -> https upgrade; other credential headers would go anywhere)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.names = names

    def rebuild_auth(self, prepared_request: requests.PreparedRequest,
                     response: requests.Response) -> None:
        super().rebuild_auth(prepared_request, response)
        if _origin(prepared_request.url or "") != _origin(response.request.url or ""):
            for name in self.names:
                prepared_request.headers.pop(name, None)


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.hostname, parts.port


def _secrets(spec: Any, headers: dict[str, str]) -> list[str]:
    """Header values and the variables' values in them, longest first (for _redact)."""
    found = set(headers.values())
    for template in (spec or {}).values():
        found.update(os.environ.get(var, "") for var in env_refs(str(template)))
    return sorted((s for s in found if len(s) >= 4), key=len, reverse=True)


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _short(exc: object) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def file_fields(path: Path) -> set[str] | None:
    """Field names of a CSV header or of the records of a JSON file (None: unreadable)."""
    try:
        if path.suffix.lower() == ".csv":
            with path.open(newline="", encoding="utf-8") as fh:
                return set(next(csv.reader(fh), []))
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, csv.Error):
        return None
    records = data if isinstance(data, list) else (
        list(data.values()) if isinstance(data, dict) else [])
    fields: set[str] = set()
    for rec in records:
        if isinstance(rec, dict):
            fields.update(rec)
    if isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
        return fields | {"*"}  # keyed object: the key itself matches any key name
    return fields
