"""Flow variants (A/B tests): a flow file may declare variants that change some nodes, each
with a weight; every caller runs one of them (voicebot.flow.model.Flow.assign_variant).

A variant is the flow with its changes applied: a changed node takes the keys the variant
gives (a key replaces the flow's, so `intents` written again can reorder the options), a
node the flow lacks is added whole, and `start` may differ. Each variant is then checked as
a whole flow, so a variant that strands a caller does not load either; its problems point at
the variant's own lines where it changed something, and a problem the flow itself already
has is reported once, not again per variant.

    variants:
      A: {weight: 50, description: as written}
      B:
        weight: 50
        nodes:
          main_menu: {prompt: "Say billing or press 2. Say order status or press 1."}
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from voicebot.flow.model import Flow, FlowVariant
from voicebot.flow.problems import Problem
from voicebot.flow.schema import Marks, salvage, schema_errors, schema_problems
from voicebot.flow.validator import check_flow

Build = Callable[[dict[str, Any], Marks, frozenset[tuple]], Flow]


def variant_data(data: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """The flow's data with one variant's changes applied (and no variants of its own)."""
    merged = copy.deepcopy({k: v for k, v in data.items() if k != "variants"})
    if spec.get("start"):
        merged["start"] = spec["start"]
    nodes = merged.setdefault("nodes", {})
    for nid, changes in (spec.get("nodes") or {}).items():
        base = nodes.get(nid)
        nodes[nid] = {**base, **changes} if isinstance(base, dict) else dict(changes)
    return merged


def variant_marks(marks: Marks, name: str) -> Marks:
    """Where each part of a variant was written: the variant's own lines for what it
    changes, the flow's for the rest."""
    out = dict(marks)
    prefix = ("variants", name)
    for path, mark in marks.items():
        if path[:2] == prefix and len(path) > 2:
            out[path[2:]] = mark
    return out


def build_variants(data: dict[str, Any], marks: Marks, file: str, build: Build,
                   flow_problems: list[Problem]) -> tuple[dict[str, FlowVariant], list[Problem]]:
    """Every variant of the flow, built and checked; and the problems only they have."""
    variants: dict[str, FlowVariant] = {}
    problems: list[Problem] = []
    known = {(p.line, p.col, p.message) for p in flow_problems}
    for name, spec in (data.get("variants") or {}).items():
        if not isinstance(spec, dict):
            continue
        merged = variant_data(data, spec)
        vmarks = variant_marks(marks, name)
        errors = schema_errors(merged)
        found = schema_problems(merged, vmarks, file, errors)
        merged, broken = salvage(merged, errors)
        flow = build(merged, vmarks, broken)
        found += check_flow(flow, file)
        for p in found:
            if (p.line, p.col, p.message) not in known:
                known.add((p.line, p.col, p.message))
                problems.append(replace(p, message=f"variant '{name}': {p.message}"))
        flow.variant = name
        variants[name] = FlowVariant(name=name, weight=float(spec.get("weight") or 0),
                                     flow=flow, description=str(spec.get("description") or ""))
    return variants, problems
