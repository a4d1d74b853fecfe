"""The call-flow model: what a loaded, checked YAML flow is, as plain dataclasses.

The loader builds these from YAML; the interpreter, validator, diagram and chat only read
them. Source positions stay attached (`marks`) so every later check can name file:line:col.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from voicebot.flow.matching import normalize
from voicebot.flow.reasons import (
    DEFAULT_HANDOVER,
    DEFAULT_REPROMPTS,
    LOOP_HANDOVER,
    RETRY_PREFIX,
)
from voicebot.flow.templates import TEMPLATE_RE

NODE_KINDS: tuple[str, ...] = ("say", "ask", "menu", "collect", "survey", "branch", "lookup",
                               "transfer", "hangup")
LISTENING_KINDS = ("ask", "menu", "collect", "survey")
TERMINAL_KINDS = ("transfer", "hangup")
SLOT_TYPES = ("digits", "yes_no", "number", "free")
CONDITION_OPS = ("equals", "not_equals", "in", "not_in", "set", "gt", "ge", "lt", "le",
                 "matches")

DEFAULT_ESCAPE_PHRASES: tuple[str, ...] = (
    "agent", "representative", "operator", "human", "person", "speak to someone",
)

DEFAULT_GOODBYE = "Thank you for calling. Goodbye."

@dataclass(frozen=True)
class Policy:
    """Escalation policy: flow level, and per node with the node's overrides merged in."""

    escape_phrases: tuple[str, ...] = DEFAULT_ESCAPE_PHRASES
    escape_dtmf: str | None = "0"
    escape_queue: str | None = None  # None: the flow's fallback queue
    confidence_threshold: float = 0.5
    # An escape phrase needs less: a needless hand-over costs the caller a short wait for a
    # person, a missed one traps them with the bot.
    escape_confidence_threshold: float = 0.25
    # A spoken answer that ends the call needs more: a caller hung up on cannot say "that's
    # not what I said", while one asked again only says it again.
    end_confidence_threshold: float = 0.75
    max_low_confidence: int = 2
    max_no_match: int = 2
    max_no_input: int = 2
    no_input_timeout: float = 5.0
    handover: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_HANDOVER))

    @property
    def escape_threshold(self) -> float:
        """How sure an escape phrase must be to hand over: never more than an answer needs."""
        return min(self.escape_confidence_threshold, self.confidence_threshold)

    @property
    def end_threshold(self) -> float:
        """How sure a spoken answer that ends the call must be: never less than any answer."""
        return max(self.end_confidence_threshold, self.confidence_threshold)

    def merged(self, overrides: dict[str, Any]) -> Policy:
        """This policy with the keys a node (or flow) sets replaced; handover merges per reason."""
        known = {f.name for f in fields(self)}
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            if key not in known:
                continue
            if key == "escape_phrases":
                value = tuple(value or ())
            elif key == "handover":
                value = {**self.handover, **(value or {})}
            elif key == "escape_dtmf" and value is not None:
                value = str(value)
            changes[key] = value
        return replace(self, **changes)


@dataclass(frozen=True)
class Intent:
    name: str
    phrases: tuple[str, ...]
    dtmf: str | None
    next: str


@dataclass(frozen=True)
class Condition:
    slot: str  # "order_number" or "order.status"
    op: str  # one of CONDITION_OPS
    value: Any

    def describe(self) -> str:
        symbols = {"equals": "==", "not_equals": "!=", "gt": ">", "ge": ">=", "lt": "<",
                   "le": "<="}
        if self.op in symbols:
            return f"{self.slot} {symbols[self.op]} {self.value}"
        if self.op == "set":
            return f"{self.slot} is set" if self.value else f"{self.slot} is not set"
        if self.op in ("in", "not_in"):
            return f"{self.slot} {self.op.replace('_', ' ')} {list(self.value)}"
        return f"{self.slot} matches {self.value}"

    def holds(self, value: Any) -> bool:
        """Whether this holds for `value`, the slot's current value (None: not set).

        Numbers compare as numbers, `matches` is a case-blind regular expression, and the
        rest compare normalised text, so "Shipped" equals "shipped".
        """
        op, want = self.op, self.value
        if op == "set":
            return (value not in (None, "")) == bool(want)
        if value is None:
            return op in ("not_equals", "not_in")
        if op in ("gt", "ge", "lt", "le"):
            try:
                v = float(value)
            except (TypeError, ValueError):
                return False
            return {"gt": v > want, "ge": v >= want, "lt": v < want, "le": v <= want}[op]
        if op == "matches":
            return re.fullmatch(str(want), str(value), re.IGNORECASE) is not None
        same = _normalized(value)
        if op == "equals":
            return same == _normalized(want)
        if op == "not_equals":
            return same != _normalized(want)
        inside = same in {_normalized(w) for w in want}
        return inside if op == "in" else not inside


@dataclass(frozen=True)
class Branch:
    when: tuple[Condition, ...]  # all must hold
    next: str

    def describe(self) -> str:
        return " and ".join(c.describe() for c in self.when)


@dataclass
class Node:
    """One node of any kind; fields not used by a kind keep their defaults."""

    id: str
    kind: str
    policy: Policy
    prompt: str | None = None
    reprompts: tuple[str, ...] = ()
    next: str | None = None
    intents: tuple[Intent, ...] = ()
    # collect
    slot: str | None = None
    slot_type: str | None = None
    length: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    confirm: bool = False
    confirm_prompt: str | None = None
    store: str | None = None  # how the value may be kept (flow.redact); None: the default
    # branch
    branches: tuple[Branch, ...] = ()
    default: str | None = None
    # lookup
    source: dict[str, Any] = field(default_factory=dict)
    value: str | None = None  # template of the key value, default "{<key>}"
    result: str = "result"
    found: str | None = None
    not_found: str | None = None
    on_error: str | None = None
    # transfer
    queue: str | None = None
    summary: str | None = None
    # loops
    max_visits: int | None = None
    overflow: str | None = None

    @property
    def listens(self) -> bool:
        return self.kind in LISTENING_KINDS

    def edges(self) -> list[tuple[str, str]]:
        """(label, target) for every way this node can go on (escalation not included)."""
        out: list[tuple[str, str]] = []
        for intent in self.intents:
            label = intent.name + (f" [{intent.dtmf}]" if intent.dtmf else "")
            out.append((label, intent.next))
        for br in self.branches:
            out.append((br.describe(), br.next))
        if self.default:
            out.append(("otherwise", self.default))
        if self.next:
            out.append(("", self.next))
        if self.found:
            out.append(("found", self.found))
        if self.not_found:
            out.append(("not found", self.not_found))
        if self.on_error:
            out.append(("lookup failed", self.on_error))
        if self.overflow:
            out.append((f"after {self.max_visits} visits", self.overflow))
        return out

    def template_texts(self) -> list[tuple[str, tuple]]:
        """(text, path under the node) of every text of this node that may use templates."""
        texts: list[tuple[str, tuple]] = [
            (self.prompt or "", ("prompt",)), (self.confirm_prompt or "", ("confirm",)),
            (self.summary or "", ("summary",)), (self.value or "", ("value",)),
            (self.source.get("url", ""), ("source", "url")),
        ]
        texts += [(t, ("reprompts", i)) for i, t in enumerate(self.reprompts)]
        if self.kind == "lookup" and not self.value:
            texts.append(("{" + self.source.get("key", "") + "}", ("source", "key")))
        return texts

    def texts(self) -> list[str]:
        """Every prompt text written on this node."""
        out = [t for t in (self.prompt, self.confirm_prompt) if t]
        out.extend(self.reprompts)
        return out


@dataclass
class Flow:
    name: str
    version: str
    path: Path
    start: str
    disclosure: str
    nodes: dict[str, Node]
    policy: Policy
    queue_names: dict[str, str]  # queue id -> how the bot names it ("our billing team")
    fallback_queue: str
    backup_channels: dict[str, str] = field(default_factory=dict)
    voice: str | None = None
    rate: int | None = None
    description: str = ""
    marks: dict[tuple, tuple[int, int]] = field(default_factory=dict, repr=False)
    # Parts set aside because of schema errors (see voicebot.flow.schema.salvage): checks
    # skip what depends on them, so one mistake is reported once. Empty for a loaded flow.
    broken: frozenset[tuple] = frozenset()
    variant: str | None = None  # which of its flow's variants this is (None: the flow)
    variants: dict[str, FlowVariant] = field(default_factory=dict, repr=False)

    def variant_named(self, name: str | None) -> Flow:
        """The variant `name` of this flow (itself when it has no such variant)."""
        chosen = self.variants.get(name or "")
        return chosen.flow if chosen is not None else self

    def assign_variant(self, key: str) -> str | None:
        """The variant a caller gets, from a stable key (the keyed hash of their number):
        the same key always gets the same variant, and keys spread by the weights. None
        when the flow has no variants."""
        if not self.variants:
            return None
        total = sum(v.weight for v in self.variants.values())
        digest = hashlib.sha256(f"{self.name}|{key}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") / 2**64 * total
        for name, chosen in self.variants.items():
            point -= chosen.weight
            if point < 0:
                return name
        return next(reversed(self.variants))

    def ends_call(self, nid: str, seen: set[str] | None = None) -> bool:
        """Whether entering node `nid` may hang up without waiting for the caller (directly,
        or through say nodes and any way out of a branch)."""
        seen = set() if seen is None else seen
        node = self.nodes.get(nid)
        if node is None or nid in seen:
            return False
        seen.add(nid)
        if node.kind == "say":
            return self.ends_call(node.next or "", seen)
        if node.kind == "branch":
            ways = [br.next for br in node.branches] + [node.default or ""]
            return any(self.ends_call(way, seen) for way in ways)
        return node.kind == "hangup"

    def is_broken(self, *path: Any) -> bool:
        return tuple(path) in self.broken

    def queues(self) -> set[str]:
        """Every queue a call on this flow can end up in."""
        out = {self.fallback_queue, *self.queue_names}
        for node in self.nodes.values():
            if node.queue:
                out.add(node.queue)
            if node.policy.escape_queue:
                out.add(node.policy.escape_queue)
        if self.policy.escape_queue:
            out.add(self.policy.escape_queue)
        return out

    def queue_label(self, queue: str) -> str:
        return self.queue_names.get(queue) or f"the {queue.replace('_', ' ')} team"

    def static_prompts(self) -> set[str]:
        """Prompt texts with no slot template, so TTS can render them before the first call
        (including the default reprompts and hand-over texts the interpreter composes)."""
        texts = {self.disclosure}
        for node in self.nodes.values():
            texts.update(node.texts())
            queue = node.policy.escape_queue or self.fallback_queue
            for q in {queue, self.fallback_queue}:
                for template in node.policy.handover.values():
                    texts.add(template.replace("{queue}", self.queue_label(q)))
            if node.kind == "transfer" and not node.prompt:
                texts.add(node.policy.handover["flow"].replace(
                    "{queue}", self.queue_label(node.queue or self.fallback_queue)))
            if node.max_visits and not node.overflow:
                texts.add(LOOP_HANDOVER.replace("{queue}", self.queue_label(queue)))
            if node.kind == "hangup" and not node.prompt:
                texts.add(DEFAULT_GOODBYE)
            if node.listens and node.prompt:
                if node.confirm:
                    texts.add(f"{RETRY_PREFIX} {node.prompt}")
                if not node.reprompts:
                    for prefixes in DEFAULT_REPROMPTS.values():
                        texts.update(f"{p} {node.prompt}" for p in prefixes)
        return {t for t in texts if t and not TEMPLATE_RE.search(t)}

    def mark(self, *path: Any) -> tuple[int, int]:
        """(line, col) of the YAML element at `path`, or of its nearest parent (1-based)."""
        p = tuple(path)
        while p:
            if p in self.marks:
                return self.marks[p]
            p = p[:-1]
        return self.marks.get((), (1, 1))


@dataclass(frozen=True)
class FlowVariant:
    """One arm of an A/B test: its share of callers and the flow it runs (the flow with the
    variant's changes applied; records name it with `flow.variant`)."""

    name: str
    weight: float
    flow: Flow
    description: str = ""


def _normalized(value: Any) -> str:
    return normalize(str(value))
