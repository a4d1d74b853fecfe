"""Performing a flow's lookups: a CSV/JSON file beside the flow, or an HTTP endpoint.

The interpreter only asks (PerformLookup); the driver calls `perform` and feeds the
LookupDone back. `perform` never raises: any failure becomes LookupDone(ok=False, error=...),
which the flow routes to its `on_error` node or to a person, so a broken data source never
leaves a caller in silence. Errors carry no looked-up values (they may reach logs).
"""

from __future__ import annotations

import csv
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from voicebot.flow.events import LookupDone, PerformLookup
from voicebot.flow.matching import normalize

DEFAULT_TIMEOUT = 3.0
MAX_BYTES = 1_000_000


def perform(action: PerformLookup) -> LookupDone:
    """Find the record whose key field equals the looked-up value; never raises."""
    source = action.source
    key = str(source.get("key", ""))
    value = str(action.params.get(key, "")).strip()
    try:
        if not value:
            return LookupDone(ok=True, record=None)
        if source.get("file"):
            return LookupDone(ok=True, record=_from_file(Path(source["file"]), key, value))
        if source.get("url"):
            timeout = float(source.get("timeout") or DEFAULT_TIMEOUT)
            return _from_url(str(source["url"]), key, value, action.params, timeout)
        return LookupDone(ok=False, error="lookup source names neither file nor url")
    except Exception as exc:  # noqa: BLE001 - a lookup must never break a call
        return LookupDone(ok=False, error=f"{type(exc).__name__}: {_short(exc)}")


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
              timeout: float) -> LookupDone:
    quoted = {k: urllib.parse.quote(str(v), safe="") for k, v in params.items()}
    target = url
    for name, val in quoted.items():
        target = target.replace("{" + name + "}", val)
    if target == url:  # the URL names no parameter: pass them as a query string
        sep = "&" if "?" in url else "?"
        target = url + sep + urllib.parse.urlencode(params)
    req = urllib.request.Request(target, headers={"Accept": "application/json",
                                                  "User-Agent": "voicebot-lookup"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - flow's URL
            body = resp.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return LookupDone(ok=True, record=None)
        return LookupDone(ok=False, error=f"HTTP {exc.code}")
    except TimeoutError:
        return LookupDone(ok=False, error=f"timeout after {timeout:g}s")
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            return LookupDone(ok=False, error=f"timeout after {timeout:g}s")
        return LookupDone(ok=False, error=f"cannot reach the lookup service: {_short(exc.reason)}")
    if len(body) > MAX_BYTES:
        return LookupDone(ok=False, error="lookup answer too large")
    if not body.strip():
        return LookupDone(ok=True, record=None)
    data = json.loads(body.decode("utf-8"))
    if isinstance(data, dict) and key not in data and value not in data:
        return LookupDone(ok=True, record=data)  # the endpoint returned the record itself
    return LookupDone(ok=True, record=_find(data, key, value))


def _short(exc: object) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
