"""Load a YAML call flow into the model, keeping where each element was written.

An invalid flow never loads: YAML syntax, the JSON Schema and the flow checks
(voicebot.flow.validator) all report `Problem`s with file:line:col, and any error raises
FlowError carrying all of them at once, so a designer fixes a file in one pass.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from voicebot.flow.model import (
    Branch,
    Condition,
    Flow,
    Intent,
    Node,
    Policy,
)
from voicebot.flow.problems import FlowError, Problem
from voicebot.flow.schema import SCHEMA_PATH, Marks, salvage, schema_errors, schema_problems
from voicebot.flow.validator import check_flow
from voicebot.flow.variants import build_variants

__all__ = ["FlowError", "Problem", "load_flow", "check_file", "SCHEMA_PATH"]

VALUE = "$value"  # marks[path + (VALUE,)]: where a key's value starts (path alone: the key)


# ------------------------------------------------------------------ YAML with positions


class FlowYamlLoader(yaml.SafeLoader):
    """SafeLoader where only true/false are booleans (YAML 1.2): a phrase list like
    [yes, no] must stay words, not turn into booleans as YAML 1.1 would have it."""


FlowYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
FlowYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))


def parse_yaml(text: str, file: str) -> tuple[Any, Marks, list[Problem]]:
    """The YAML document as plain data, plus (line, col) of every key and list item."""
    problems: list[Problem] = []
    marks: Marks = {}
    try:
        root = yaml.compose(text, Loader=FlowYamlLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or str(exc)
        if exc.context:
            what = f"{exc.context}: {what}"
        return None, marks, [Problem(file, line, col, "error", f"YAML syntax: {what}")]
    except yaml.YAMLError as exc:
        return None, marks, [Problem(file, 1, 1, "error", f"YAML: {exc}")]
    if root is None:
        return None, marks, [Problem(file, 1, 1, "error", "the file is empty")]
    constructor = FlowYamlLoader("")

    def build(node: yaml.Node, path: tuple) -> Any:
        marks.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = constructor.construct_object(key_node, deep=True) \
                    if isinstance(key_node, yaml.ScalarNode) else None
                kline, kcol = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                if not isinstance(key, str | int | float | bool) or key is None:
                    problems.append(Problem(file, kline, kcol, "error",
                                            "keys must be plain names"))
                    continue
                key = str(key) if not isinstance(key, str) else key
                if key in out:
                    problems.append(Problem(file, kline, kcol, "error",
                                            f"duplicate key '{key}'"))
                marks[path + (key,)] = (kline, kcol)
                marks[path + (key, VALUE)] = (value_node.start_mark.line + 1,
                                              value_node.start_mark.column + 1)
                out[key] = build(value_node, path + (key,))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [build(item, path + (i,)) for i, item in enumerate(node.value)]
        try:
            return constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            line, col = node.start_mark.line + 1, node.start_mark.column + 1
            problems.append(Problem(file, line, col, "error", f"YAML: {exc}"))
            return None

    return build(root, ()), marks, problems


# ------------------------------------------------------------------ model


def _key(value: Any) -> str | None:
    return None if value is None else str(value)


def _conditions(when: Any) -> tuple[Condition, ...]:
    items = when if isinstance(when, list) else [when]
    out = []
    for item in items:
        op = next(k for k in item if k != "slot")
        out.append(Condition(slot=item["slot"], op=op, value=item[op]))
    return tuple(out)


def _policy_overrides(raw: dict[str, Any]) -> dict[str, Any]:
    raw = dict(raw or {})
    if "handover" in raw:
        raw["handover"] = {k: _text(v) for k, v in raw["handover"].items()}
    if "escape_dtmf" in raw:
        raw["escape_dtmf"] = _key(raw["escape_dtmf"])
    for key in ("no_input_timeout", "confidence_threshold", "escape_confidence_threshold",
                "end_confidence_threshold"):
        if key in raw:
            raw[key] = float(raw[key])
    return raw


def _text(value: Any) -> Any:
    """Prompt text as it will be spoken: single spaces (folded YAML leaves newlines)."""
    return " ".join(value.split()) if isinstance(value, str) else value


def build_flow(data: dict[str, Any], marks: Marks, path: Path, text: str,
               broken: frozenset[tuple] = frozenset()) -> Flow:
    """The model from schema-valid data, or from what `salvage` kept of data with schema
    errors (`broken` names what it set aside); no further checks here."""
    policy = Policy().merged(_policy_overrides(data.get("policy", {})))
    queue_names: dict[str, str] = {}
    for qid, spec in (data.get("queues") or {}).items():
        label = spec.get("name") if isinstance(spec, dict) else spec
        queue_names[qid] = label or f"the {qid} team"
    nodes: dict[str, Node] = {}
    for nid, raw in (data.get("nodes") or {}).items():
        node = Node(id=nid, kind=raw.get("kind"),
                    policy=policy.merged(_policy_overrides(raw.get("policy", {}))))
        node.prompt = _text(raw.get("prompt"))
        node.reprompts = tuple(_text(t) for t in raw.get("reprompts", ()))
        node.next = raw.get("next")
        node.intents = tuple(
            Intent(name=name, phrases=tuple(spec.get("phrases", ())), dtmf=_key(spec.get("dtmf")),
                   next=spec.get("next"))
            for name, spec in (raw.get("intents") or {}).items())
        node.slot = raw.get("slot")
        node.slot_type = raw.get("type")
        node.length = raw.get("length")
        node.min_length = raw.get("min_length")
        node.max_length = raw.get("max_length")
        node.minimum = raw.get("min")
        node.maximum = raw.get("max")
        confirm = raw.get("confirm", False)
        node.confirm = bool(confirm)
        node.confirm_prompt = _text(confirm) if isinstance(confirm, str) else None
        node.store = raw.get("store")
        node.branches = tuple(Branch(when=_conditions(b["when"]), next=b["next"])
                              for b in raw.get("branches", ()))
        node.default = raw.get("default")
        source = dict(raw.get("source") or {})
        if "file" in source:
            source["file"] = str((path.parent / source["file"]).resolve())
        node.source = source
        node.value = raw.get("value")
        node.result = raw.get("result", "result")
        node.found = raw.get("found")
        node.not_found = raw.get("not_found")
        node.on_error = raw.get("on_error")
        node.queue = raw.get("queue")
        node.summary = _text(raw.get("summary"))
        node.max_visits = raw.get("max_visits")
        node.overflow = raw.get("overflow")
        nodes[nid] = node
    version = data.get("version")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return Flow(
        name=str(data.get("name") or path.stem),
        version=str(version) if version is not None else digest,
        path=path,
        start=data.get("start") or "",
        disclosure=" ".join(str(data.get("disclosure") or "").split()),
        nodes=nodes,
        policy=policy,
        queue_names=queue_names,
        fallback_queue=data.get("fallback_queue") or next(iter(queue_names), ""),
        backup_channels={k: str(v) for k, v in (data.get("backup_channels") or {}).items()},
        voice=data.get("voice"),
        rate=data.get("rate"),
        description=str(data.get("description") or ""),
        marks=marks,
        broken=broken,
    )


# ------------------------------------------------------------------ entry points


Extra = Callable[[Flow, str], list[Problem]]


def check_file(path: str | Path, extra: Extra | None = None
               ) -> tuple[Flow | None, list[Problem]]:
    """Every problem of a flow file, and the flow when it has no errors (warnings allowed).
    `extra(flow, file)`: more checks on what could be read (the command line's checks against
    the engine and the voice, which this layer knows nothing of)."""
    path = Path(path)
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [Problem(file, 1, 1, "error", "no such file")]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(file, 1, 1, "error", f"cannot read the file: {exc}")]
    data, marks, problems = parse_yaml(text, file)
    if data is None:
        return None, problems
    if not isinstance(data, dict):
        return None, [Problem(file, 1, 1, "error", "a flow must be a mapping of keys "
                                                   "(start, disclosure, queues, nodes, ...)")]
    # Every problem in one run: a schema error sets its part aside, and the graph and
    # template checks still look at the rest.
    errors = schema_errors(data)
    problems += schema_problems(data, marks, file, errors)
    data, broken = salvage(data, errors)
    flow = build_flow(data, marks, path.resolve(), text, broken)
    problems += check_flow(flow, file)
    flow.variants, more = build_variants(
        data, marks, file, lambda d, m, b: build_flow(d, m, path.resolve(), text, b), problems)
    problems += more
    if extra is not None:
        problems += extra(flow, file)
    problems.sort(key=lambda p: (p.line, p.col))
    if any(p.severity == "error" for p in problems):
        return None, problems
    return flow, problems


def load_flow(path: str | Path) -> Flow:
    """The flow at `path`; raises FlowError (with every problem) if it has any error."""
    flow, problems = check_file(path)
    if flow is None:
        raise FlowError([p for p in problems if p.severity == "error"] or problems)
    return flow
