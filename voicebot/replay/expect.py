"""What a scenario expects of a call (`expect:`), read from its YAML with every mistake at
`file:line:col`. The verdict (voicebot.replay.verdict) checks these against the call.

    expect:                            # every key optional
      outcome: transfer                # transfer | hangup
      reason: keyword                  # escalation (or hangup) reason
      queue: support
      path: [main_menu, order_number]  # nodes visited: a prefix of the visited path ...
      path_exact: true                 # ... or, with this, the whole path
      heard: ["order status", null]    # per spoken turn, normalised; null skips a turn
      slots: {order_number: "4512", order.status: shipped}   # values when the call ended
      said: ["is shipped", {regex: 'order \\d+ is'}]           # prompts the bot said
      barged_in: [main_menu]           # nodes whose prompt was cut by the caller ([]: none)
      max_turn_gap_ms: 800             # each caller turn -> first bot audio back

`heard` and `slots` compare after the shared normaliser, digits either way ("123456" =
"one two three four five six"); null in `slots` means "not set". `said` entries are found
in order, each in a prompt at or after the one the entry before it was found in: text is
found inside a prompt after the normaliser (case and punctuation aside, so "…is shipped…"
works), `{regex: ...}` is a Python regular expression searched in the prompt as said,
case-blind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from voicebot.replay.scenario_yaml import Reader

OUTCOMES = ("transfer", "hangup")
EXPECT_KEYS = ("outcome", "reason", "queue", "path", "path_exact", "heard", "slots", "said",
               "barged_in", "max_turn_gap_ms")


@dataclass(frozen=True)
class Said:
    """One `said` entry: text found in a prompt (normalised), or a regular expression."""

    text: str
    regex: bool = False

    def describe(self) -> str:
        return f"/{self.text}/" if self.regex else repr(self.text)

    def to_yaml(self) -> Any:
        return {"regex": self.text} if self.regex else self.text


@dataclass(frozen=True)
class Expect:
    """What must have happened on the call; None means "not checked"."""

    outcome: str | None = None
    reason: str | None = None
    queue: str | None = None
    path: tuple[str, ...] | None = None
    path_exact: bool = False
    heard: tuple[str | None, ...] | None = None
    slots: tuple[tuple[str, str | None], ...] | None = None  # (name or name.field, value)
    said: tuple[Said, ...] | None = None
    barged_in: tuple[str, ...] | None = None  # nodes whose prompts the caller barged in on
    max_turn_gap_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in vars(self).items():
            if value is None or (key == "path_exact" and not value):
                continue
            if key == "slots":
                value = dict(value)
            elif key == "said":
                value = [s.to_yaml() for s in value]
            out[key] = list(value) if isinstance(value, tuple) else value
        return out


def parse_expect(reader: Reader, node: Node) -> Expect:
    keys = reader.mapping(node, "expect", EXPECT_KEYS)
    values: dict[str, Any] = {}
    if "outcome" in keys:
        outcome = reader.text(keys["outcome"], "expect.outcome")
        if outcome is not None and outcome not in OUTCOMES:
            reader.fail(keys["outcome"], f"expect.outcome must be one of {', '.join(OUTCOMES)}")
        values["outcome"] = outcome
    for key in ("reason", "queue"):
        if key in keys:
            values[key] = reader.text(keys[key], f"expect.{key}")
    for key, allow_null in (("path", False), ("heard", True), ("barged_in", False)):
        if key in keys:
            items = reader.text_list(keys[key], f"expect.{key}", allow_null=allow_null)
            values[key] = tuple(items) if items is not None else None
    if "path_exact" in keys:
        values["path_exact"] = reader.flag(keys["path_exact"], "expect.path_exact")
        if "path" not in keys:
            reader.fail(keys["path_exact"], "expect.path_exact needs expect.path")
    if "slots" in keys:
        values["slots"] = _slots(reader, keys["slots"])
    if "said" in keys:
        values["said"] = _said(reader, keys["said"])
    if "max_turn_gap_ms" in keys:
        values["max_turn_gap_ms"] = reader.number(keys["max_turn_gap_ms"],
                                                  "expect.max_turn_gap_ms", minimum=1)
    return Expect(**values)


def _slots(reader: Reader, node: Node) -> tuple[tuple[str, str | None], ...] | None:
    if not isinstance(node, MappingNode):
        reader.fail(node, "expect.slots must be a mapping of slot name to value "
                          "(order_number: \"4512\")")
        return None
    out: list[tuple[str, str | None]] = []
    for key_node, value_node in node.value:
        name = reader.value(key_node) if isinstance(key_node, ScalarNode) else None
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_]\w*(\.\w+)?", name):
            reader.fail(key_node, "expect.slots: a key is a slot name (order_number) or a "
                                  "lookup result's field (order.status)")
            continue
        value = reader.value(value_node) if isinstance(value_node, ScalarNode) else ...
        if value is ... or isinstance(value, bool):
            reader.fail(value_node, f"expect.slots.{name} must be text, a number or null")
            continue
        # the scalar as written, so an unquoted 0451 keeps its 0 (YAML would read octal)
        out.append((name, None if value is None else str(value_node.value)))
    return tuple(out)


def _said(reader: Reader, node: Node) -> tuple[Said, ...] | None:
    if not isinstance(node, SequenceNode):
        reader.fail(node, "expect.said must be a list of texts (or {regex: ...})")
        return None
    out: list[Said] = []
    for item in node.value:
        if isinstance(item, MappingNode):
            keys = reader.mapping(item, "expect.said entry", ("regex",))
            if "regex" not in keys:
                continue
            pattern = reader.text(keys["regex"], "expect.said regex")
            if pattern is None:
                continue
            try:
                re.compile(pattern)
            except re.error as exc:
                reader.fail(keys["regex"], f"expect.said: not a regular expression: {exc}")
                continue
            out.append(Said(pattern, regex=True))
        else:
            text = reader.text(item, "each entry of expect.said")
            if text is not None:
                out.append(Said(text))
    return tuple(out)
