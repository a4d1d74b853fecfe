"""The flow's JSON Schema: its errors worded for designers, and what of a flow with schema
errors can still be checked.

A designer should see every mistake in one run, so a schema error must not hide the graph
and template checks. `salvage` takes the flow's data with every erroneous part set aside
(a bad key of a node, a bad policy key, a malformed top-level value) and says which parts
those were; the later checks skip what depends on a part that was set aside, so one mistake
gives one message, not a cascade of follow-on errors.
"""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from voicebot.flow.problems import Problem

SCHEMA_PATH = Path(__file__).with_name("flow.schema.json")
Marks = dict[tuple, tuple[int, int]]
Messages = list[tuple[tuple, str]]


@lru_cache(maxsize=1)
def flow_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _where(path: tuple) -> str:
    return ".".join(str(p) for p in path) or "the flow"


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false",
            int: "a whole number", float: "a number", type(None): "empty"}.get(
        type(value), type(value).__name__)


def _schema_message(err: jsonschema.ValidationError) -> Messages:
    """(path, message) for one schema error, worded for designers."""
    path = tuple(err.absolute_path)
    wording = _WORDING.get(str(err.validator))
    out = wording(err, path) if wording else None
    return [(path, f"{_where(path)}: {err.message}")] if out is None else out


def _missing(err: jsonschema.ValidationError, path: tuple) -> Messages:
    out = []
    for key in [k for k in err.validator_value if k not in (err.instance or {})]:
        if key == "disclosure" and not path:
            msg = ("missing 'disclosure': every flow must first tell callers they are talking "
                   "to an automated assistant, what it can do and how to reach a person")
        else:
            msg = f"{_where(path)}: missing required key '{key}'"
        out.append((path, msg))
    return out


def _allowed(err: jsonschema.ValidationError) -> list[str]:
    return sorted(err.schema.get("properties", {}))


def _unknown_keys(err: jsonschema.ValidationError, path: tuple) -> Messages | None:
    if not isinstance(err.instance, dict):
        return None
    allowed = _allowed(err)
    out = []
    for key in err.instance:
        if key in allowed:
            continue
        hint = difflib.get_close_matches(str(key), allowed, n=1)
        msg = f"unknown key '{key}' in {_where(path)}"
        msg += f" (did you mean '{hint[0]}'?)" if hint else (
            f" (allowed: {', '.join(allowed)})" if allowed else "")
        out.append((path + (key,), msg))
    return out


def _wrong_type(err: jsonschema.ValidationError, path: tuple) -> Messages:
    want = err.validator_value
    want = " or ".join(want) if isinstance(want, list) else want
    return [(path, f"{_where(path)} must be {want}, not {_type_name(err.instance)}")]


def _not_in_enum(err: jsonschema.ValidationError, path: tuple) -> Messages:
    return [(path, f"{_where(path)} must be one of: "
                   f"{', '.join(map(str, err.validator_value))} (got {err.instance!r})")]


def _bad_pattern(err: jsonschema.ValidationError, path: tuple) -> Messages:
    return [(path, f"{_where(path)}: {err.instance!r} is not a valid value here")]


def _no_alternative(err: jsonschema.ValidationError, path: tuple) -> Messages | None:
    if path and path[-1] in ("dtmf", "escape_dtmf"):
        return [(path, f"{_where(path)} must be one phone key: 0-9, * or #")]
    if len(path) >= 2 and path[-2] == "intents":
        return [(path, f"intent '{path[-1]}' needs phrases or a dtmf key")]
    if path and path[-1] == "source":
        return [(path, f"{_where(path)} needs exactly one of 'file' or 'url'")]
    best = jsonschema.exceptions.best_match(err.context) if err.context else None
    return _schema_message(best) if best is not None else None


def _empty(err: jsonschema.ValidationError, path: tuple) -> Messages | None:
    return None if err.instance else [(path, f"{_where(path)} must not be empty")]


# Designers' wording per JSON Schema keyword; any other says "<where>: <jsonschema's text>".
_WORDING: dict[str, Callable[[jsonschema.ValidationError, tuple], Messages | None]] = {
    "required": _missing,
    "additionalProperties": _unknown_keys,
    "type": _wrong_type,
    "enum": _not_in_enum,
    "pattern": _bad_pattern,
    "anyOf": _no_alternative,
    "oneOf": _no_alternative,
    "minProperties": _empty,
}


def schema_errors(data: Any) -> list[jsonschema.ValidationError]:
    validator = jsonschema.Draft202012Validator(flow_schema())
    return sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path)))


def _misspelt(errors: list[jsonschema.ValidationError]) -> set[tuple[tuple, str]]:
    """(path, key) of required keys that are there, misspelt ("promt" for "prompt"): the
    unknown key's message names the right one, so "missing 'prompt'" would say it twice."""
    out: set[tuple[tuple, str]] = set()
    for err in errors:
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = _allowed(err)
            for key in err.instance:
                if key not in allowed:
                    out.update((tuple(err.absolute_path), hint) for hint in
                               difflib.get_close_matches(str(key), allowed, n=1))
    return out


def schema_problems(data: Any, marks: Marks, file: str,
                    errors: list[jsonschema.ValidationError] | None = None) -> list[Problem]:
    errors = schema_errors(data) if errors is None else errors
    misspelt = _misspelt(errors)
    problems: list[Problem] = []
    seen: set[tuple[tuple, str]] = set()
    for err in errors:
        if err.validator == "required":
            path = tuple(err.absolute_path)
            if all((path, key) in misspelt for key in err.validator_value
                   if key not in (err.instance or {})):
                continue
        for path, msg in _schema_message(err):
            if (path, msg) in seen:
                continue
            seen.add((path, msg))
            line, col = _mark(marks, path)
            problems.append(Problem(file, line, col, "error", msg))
    return problems


def _mark(marks: Marks, path: tuple) -> tuple[int, int]:
    p = tuple(path)
    while p and p not in marks:
        p = p[:-1]
    return marks.get(p, (1, 1))


# ------------------------------------------------------------------ what can still be checked

# Top-level keys whose value is set aside when wrong, and what stands in for it.
_TOP_DEFAULTS: dict[str, Any] = {"queues": {}, "nodes": {}, "policy": {}, "backup_channels": {}}


def salvage(data: dict[str, Any], errors: list[jsonschema.ValidationError]
            ) -> tuple[dict[str, Any], frozenset[tuple]]:
    """The data with every part a schema error is in set aside, and the paths of those parts:
    (key,) at the top, ("nodes", id) for a node that is not whole, ("nodes", id, key) for
    the key set aside. Later checks skip what depends on them (see voicebot.flow.validator)."""
    data = copy.deepcopy(data)
    broken: set[tuple] = set()
    for err in errors:
        path = tuple(err.absolute_path)
        if not path:
            if err.validator == "required":
                broken.update((k,) for k in err.validator_value if k not in data)
            continue
        top = path[0]
        if top == "nodes" and len(path) >= 2 and isinstance(data.get("nodes"), dict):
            _salvage_node(data["nodes"], path[1:], err, broken)
        elif top == "queues" and len(path) >= 2 and isinstance(data.get("queues"), dict):
            data["queues"][path[1]] = str(path[1])  # keep the id: nodes name it
        elif top == "policy" and len(path) >= 2 and isinstance(data.get("policy"), dict):
            data["policy"].pop(path[1], None)
            broken.add(("policy", path[1]))
        else:
            data[top] = copy.deepcopy(_TOP_DEFAULTS.get(top))
            if data[top] is None:
                del data[top]
            broken.add((top,))
    return data, frozenset(broken)


def _salvage_node(nodes: dict[str, Any], path: tuple, err: jsonschema.ValidationError,
                  broken: set[tuple]) -> None:
    nid = path[0]
    broken.add(("nodes", nid))
    node = nodes.get(nid)
    if not isinstance(node, dict):
        nodes[nid] = {}
        broken.add(("nodes", nid, "kind"))
        return
    if len(path) < 2:  # about the node itself: a missing key, or keys its kind does not have
        if err.validator == "required":
            missing = [k for k in err.validator_value if k not in node]
            broken.update(("nodes", nid, k) for k in missing)
        elif err.validator == "additionalProperties":
            for key in [k for k in node if k not in _allowed(err)]:
                node.pop(key)
        if "kind" in broken_keys(broken, nid):
            nodes[nid] = {}  # without a kind nothing else of the node was checked
        return
    key = path[1]
    if key == "kind":
        nodes[nid] = {}  # without a kind nothing else of the node was checked
    elif key == "intents" and len(path) >= 3 and isinstance(node.get("intents"), dict):
        node["intents"].pop(path[2], None)  # the other intents still get checked
    else:
        node.pop(key, None)
    broken.add(("nodes", nid, key))


def broken_keys(broken: set[tuple], nid: str) -> set[str]:
    return {p[2] for p in broken if len(p) == 3 and p[:2] == ("nodes", nid)}
