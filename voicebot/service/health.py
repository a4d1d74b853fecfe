"""Health routes: /healthz (the process answers) and /readyz (can it take a call now? one
answer per part; HTTP 503 when not, so a load balancer stops sending calls). No token:
they hold no call data.

Cheap enough for a load balancer to ask every second: it asks no worker to do anything (the
pools' health() only looks at their processes), reads one row of the call records with a
short deadline and looks at the flow's data files. A part that is broken says what is
broken ("0 of 2 decoder workers ready, restarting"), so the operator and the load balancer
see the same thing the caller would.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Blueprint, jsonify

from voicebot.flow.model import Flow
from voicebot.logs import log_event

log = logging.getLogger("voicebot.health")


@dataclass(frozen=True)
class Part:
    ok: bool
    detail: str


def _pool(pool_health: Any, what: str) -> Part:
    if pool_health is None:
        return Part(True, f"{what} runs in the service process")
    return Part(pool_health.ok, pool_health.describe(what))


def engine_part(engine: Any) -> Part:
    health = getattr(engine, "health", None)
    return _pool(health() if health else None, "decoder")


def tts_part(renderer: Any) -> Part:
    health = getattr(renderer, "health", None)
    part = _pool(health() if health else None, "speech")
    problem = getattr(renderer, "cache_problem", lambda: None)()
    if problem:  # prompts still play (kept in memory, or rendered without the cache)
        return Part(part.ok, f"{part.detail}; {problem}")
    return part


def records_part(store: Any) -> Part:
    ok, detail = store.health()
    return Part(ok, detail)


def flow_part(flow: Flow) -> Part:
    """The flow is loaded at start-up; what it still needs from disk is its data files."""
    missing = []
    for node in flow.nodes.values():
        data = (getattr(node, "source", None) or {}).get("file")
        if data and not os.access(Path(data), os.R_OK):
            missing.append(f"{node.id}: {Path(data).name}")
    if missing:
        return Part(False, "lookup data cannot be read: " + ", ".join(missing))
    return Part(True, f"{flow.name} {flow.version} loaded")


def readiness(svc: Any) -> dict[str, Any]:
    """{"ready": bool, "parts": {name: {"ok": bool, "detail": str}}} for the service."""
    parts = {
        "engine": engine_part(svc.engine),
        "tts": tts_part(svc.renderer),
        "database": records_part(svc.store),
        "flow": flow_part(svc.flow),
    }
    return {"ready": all(p.ok for p in parts.values()),
            "parts": {name: {"ok": p.ok, "detail": p.detail} for name, p in parts.items()}}


def make_blueprint(svc: Any) -> Blueprint:
    bp = Blueprint("health", __name__)

    @bp.get("/healthz")
    def healthz() -> Any:
        return jsonify({"status": "ok", "flow": svc.flow.name,
                        "flow_version": svc.flow.version,
                        "engine": getattr(svc.engine, "name", "?")})

    broken_before: list[str] = []  # logged when it changes, not on every poll

    @bp.get("/readyz")
    def readyz() -> Any:
        body = readiness(svc)
        broken = [k for k, v in body["parts"].items() if not v["ok"]]
        if broken != broken_before:
            log_event(log, "service.not_ready" if broken else "service.ready_again",
                      logging.WARNING if broken else logging.INFO, parts=",".join(broken))
            broken_before[:] = broken
        return jsonify(body), 200 if body["ready"] else 503

    return bp
