"""FlowSession: one call's walk through a flow, as a pure state machine.

Like h11, it is fed events and returns actions; with no audio, network or clock, the phone
path, `voicebot chat` and offline replay all run exactly the same logic.

Responsible-by-design rules live here, not in each flow: the disclosure comes first and
cannot be skipped, the escape phrases and key work in every node, repeated failures hand the
caller to a person with a reason, every hand-over tells the caller why and to whom, and no
loop can keep a caller forever (node visit bounds, a step guard for say/branch chains).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from voicebot.flow import matching
from voicebot.flow.events import (
    Digits,
    Fault,
    FlowAction,
    FlowEvent,
    Hangup,
    LookupDone,
    NoInput,
    PerformLookup,
    Recognized,
    Say,
    ServiceStopping,
    Transfer,
)
from voicebot.flow.model import DEFAULT_GOODBYE, Flow, Node
from voicebot.flow.reasons import (
    DEFAULT_REPROMPTS,
    LOOP_HANDOVER,
    RETRY_PREFIX,
    agent_summary,
    summary_lead,
)
from voicebot.flow.templates import render, slot_value
from voicebot.flow.turns import (
    YES_NO_KEYS,
    allows_length,
    listen_for,
    parse_keys,
    parse_spoken,
)

MAX_STEPS = 50  # nodes entered without waiting for the caller before we call it a fault
RECENT_TURNS = 6  # turns the agent gets in the summary context


class FlowSession:
    """One caller's conversation with a flow. Feed events, perform the returned actions."""

    def __init__(self, flow: Flow):
        self.flow = flow
        self.node: str = flow.start
        self.ended = False
        self.slots: dict[str, Any] = {}
        self.intent: str | None = None
        self.intents: list[str] = []
        self.path: list[str] = []
        self.outcome: str | None = None  # "transfer" | "hangup"
        self.reason: str | None = None
        self.queue: str | None = None
        self.csat: int | None = None  # the caller's answer to a survey node (1-5)
        self._turns: list[dict[str, Any]] = []
        self._started = False
        self._awaiting: str | None = None  # "turn" | "confirm" | "lookup"
        self._pending: Any = None  # value waiting for confirmation
        self._fails: Counter[str] = Counter()
        self._visits: Counter[str] = Counter()
        self._slot_types: dict[str, str] = {}

    # ------------------------------------------------------------------ public API

    def start(self) -> list[FlowAction]:
        """The disclosure (never skippable), then the start node."""
        if self._started:
            return []
        self._started = True
        actions: list[FlowAction] = [
            Say(self.flow.disclosure, self.flow.start, kind="disclosure", interruptible=False)]
        return actions + self._goto(self.flow.start)

    def handle(self, event: FlowEvent) -> list[FlowAction]:
        if self.ended or not self._started:
            return []
        if isinstance(event, Fault | ServiceStopping):
            reason = "error" if isinstance(event, Fault) else "service"
            return self._escalate(reason, queue=self.flow.fallback_queue)
        if isinstance(event, LookupDone):
            return self._lookup_done(event)
        if isinstance(event, Digits):
            return self._digits(event.digits)
        if isinstance(event, Recognized):
            return self._recognized(event)
        if isinstance(event, NoInput):
            if self._awaiting not in ("turn", "confirm"):
                return []
            self._turn("no_input", "", None, "no_input")
            return self._fail("no_input")
        return []

    def is_escape_text(self, text: str) -> bool:
        """Would this (recognised or typed) text hand the call to a person right now?"""
        return not self.ended and matching.is_escape(text, self._node().policy.escape_phrases)

    def is_escape_digit(self, digit: str) -> bool:
        """Would this key hand the call to a person right now? While the caller is keying an
        order number a digit escape key is part of the number, so it does not count there."""
        if self.ended:
            return False
        key = self._node().policy.escape_dtmf
        if key is None or digit[:1] != key:
            return False
        return not (self._awaiting == "turn" and self._digits_collect() and key.isdigit())

    @property
    def surveying(self) -> bool:
        """At a survey node: the caller's business is done, only their rating is asked."""
        return not self.ended and getattr(self.flow.nodes.get(self.node), "kind", "") == "survey"

    @property
    def turns(self) -> list[dict[str, Any]]:
        """Every caller turn so far: node, kind, heard, confidence, intent, result."""
        return [dict(t) for t in self._turns]

    def summary_context(self) -> dict[str, Any]:
        """What the agent learns at hand-over: intent, slots, path and the last turns."""
        return {
            "flow": self.flow.name,
            "flow_version": self.flow.version,
            "node": self.node,
            "intent": self.intent,
            "intents": list(self.intents),
            "slots": {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.slots.items()},
            "path": list(self.path),
            "turns": [dict(t) for t in self._turns[-RECENT_TURNS:]],
        }

    # ------------------------------------------------------------------ moving through nodes

    def _node(self) -> Node:
        return self.flow.nodes[self.node]

    def _digits_collect(self) -> bool:
        node = self._node()
        return node.kind == "collect" and node.slot_type == "digits"

    def _goto(self, nid: str) -> list[FlowAction]:
        """Enter nodes until one waits for the caller or a lookup, or the call ends."""
        actions: list[FlowAction] = []
        for _ in range(MAX_STEPS):
            node = self.flow.nodes[nid]
            self._visits[nid] += 1
            if node.max_visits and self._visits[nid] > node.max_visits:
                if node.overflow:
                    nid = node.overflow
                    continue
                self.node = nid
                queue = node.policy.escape_queue or self.flow.fallback_queue
                text = LOOP_HANDOVER.replace("{queue}", self.flow.queue_label(queue))
                lead = f"Caller came back to '{nid}' more than {node.max_visits} times."
                return actions + self._escalate("flow", queue=queue, text=text,
                                                summary=self._default_summary("flow", lead))
            self.node = nid
            self.path.append(nid)
            self._fails.clear()
            self._awaiting = None
            self._pending = None
            kind = node.kind
            if kind == "say":
                actions.append(Say(self._render(node.prompt or ""), nid, kind="info"))
                nid = node.next or ""
            elif kind == "branch":
                nid = self._branch(node)
            elif kind in ("ask", "menu", "collect", "survey"):
                self._awaiting = "turn"
                return actions + [Say(self._render(node.prompt or ""), nid, kind="prompt"),
                                  listen_for(node)]
            elif kind == "lookup":
                if node.prompt:
                    actions.append(Say(self._render(node.prompt), nid, kind="info"))
                key = node.source["key"]
                value = self._render(node.value or "{" + key + "}", spoken=False)
                self._awaiting = "lookup"
                return actions + [PerformLookup(nid, dict(node.source), {key: value})]
            elif kind == "transfer":
                queue = node.queue or self.flow.fallback_queue
                text = self._render(node.prompt) if node.prompt else \
                    node.policy.handover["flow"].replace("{queue}", self.flow.queue_label(queue))
                summary = self._render(node.summary, spoken=False) if node.summary else None
                return actions + self._escalate("flow", queue=queue, text=text, summary=summary)
            elif kind == "hangup":
                self.ended = True
                self.outcome, self.reason = "hangup", "completed"
                text = self._render(node.prompt) if node.prompt else DEFAULT_GOODBYE
                return actions + [Say(text, nid, kind="goodbye", interruptible=False),
                                  Hangup("completed")]
        # A say/branch chain that never waits: the validator forbids it, but never trap a caller.
        return actions + self._escalate("error", queue=self.flow.fallback_queue)

    def _branch(self, node: Node) -> str:
        return next((br.next for br in node.branches
                     if all(c.holds(self._value(c.slot)) for c in br.when)), node.default or "")

    # ------------------------------------------------------------------ caller turns

    def _turn(self, kind: str, heard: str, confidence: float | None, result: str,
              intent: str | None = None) -> None:
        self._turns.append({"node": self.node, "kind": kind, "heard": heard,
                            "confidence": confidence, "intent": intent, "result": result})

    def _recognized(self, ev: Recognized) -> list[FlowAction]:
        node = self._node()
        policy = node.policy
        text = matching.normalize(ev.text)
        escape = matching.is_escape(text, policy.escape_phrases)
        if escape and ev.confidence >= policy.escape_threshold:
            self._turn("speech", text, ev.confidence, "escape")
            return self._escalate("keyword")
        if self._awaiting not in ("turn", "confirm"):
            return []  # talking over a lookup: only the escape counts
        if ev.confidence < policy.confidence_threshold:
            self._turn("speech", text, ev.confidence, "low_confidence")
            return self._fail("low_confidence")
        if not text or not ev.in_grammar:
            self._turn("speech", text, ev.confidence, "no_match")
            return self._fail("no_match")
        if self._awaiting == "confirm":
            return self._confirm(matching.yes_no(text), "speech", text, ev.confidence)
        if node.kind in ("ask", "menu"):
            intents = {i.name: i.phrases for i in node.intents}
            keys = {i.name: i.dtmf for i in node.intents if i.dtmf}
            name = matching.match_intent(text, intents, keys)
            return self._chose(name, "speech", text, ev.confidence)
        return self._collected(parse_spoken(node, text), "speech", text, ev.confidence)

    def _digits(self, digits: str) -> list[FlowAction]:
        node = self._node()
        key = node.policy.escape_dtmf
        keys = digits if key == "#" else digits.rstrip("#")
        if not keys:
            return []
        if key is not None:
            if self._awaiting == "turn" and self._digits_collect() and key.isdigit():
                # Keying a number: only the escape key alone (then # or a pause) is the way out.
                escape = keys == key and not allows_length(node, 1)
            else:
                escape = keys[0] == key
            if escape:
                self._turn("dtmf", keys, None, "escape")
                return self._escalate("dtmf")
        if self._awaiting not in ("turn", "confirm"):
            return []
        if self._awaiting == "confirm":
            answer = YES_NO_KEYS.get(keys[0])
            return self._confirm(answer, "dtmf", keys, None)
        if node.kind in ("ask", "menu"):
            name = next((i.name for i in node.intents if i.dtmf == keys[0]), None)
            return self._chose(name, "dtmf", keys, None)
        return self._collected(parse_keys(node, keys), "dtmf", keys, None)

    def _chose(self, name: str | None, kind: str, heard: str,
               confidence: float | None) -> list[FlowAction]:
        if name is None:
            self._turn(kind, heard, confidence, "no_match")
            return self._fail("no_match")
        target = next(i.next for i in self._node().intents if i.name == name)
        if confidence is not None and confidence < self._node().policy.end_threshold \
                and self.flow.ends_call(target):  # a spoken answer that would hang up
            self._turn(kind, heard, confidence, "low_confidence")
            return self._fail("low_confidence")
        self._turn(kind, heard, confidence, "matched", intent=name)
        self.intent = name
        self.intents.append(name)
        return self._goto(target)

    def _collected(self, value: Any, kind: str, heard: str,
                   confidence: float | None) -> list[FlowAction]:
        node = self._node()
        if value is None:
            self._turn(kind, heard, confidence, "no_match")
            return self._fail("no_match")
        if node.confirm:
            self._turn(kind, heard, confidence, "to_confirm")
            self._pending = value
            self._awaiting = "confirm"
            return [Say(self._confirm_text(node, value), node.id, kind="confirm"),
                    listen_for(node, confirming=True)]
        self._turn(kind, heard, confidence, "collected")
        return self._store(node, value)

    def _confirm(self, answer: str | None, kind: str, heard: str,
                 confidence: float | None) -> list[FlowAction]:
        node = self._node()
        if answer == "yes":
            self._turn(kind, heard, confidence, "confirmed")
            return self._store(node, self._pending)
        if answer == "no":
            self._turn(kind, heard, confidence, "rejected")
            self._pending = None
            self._fails["no_match"] += 1
            if self._fails["no_match"] >= node.policy.max_no_match:
                return self._escalate("no_match")
            self._awaiting = "turn"
            text = f"{RETRY_PREFIX} {self._render(node.prompt or '')}"
            return [Say(text, node.id, kind="reprompt"), listen_for(node)]
        self._turn(kind, heard, confidence, "no_match")
        return self._fail("no_match")

    def _store(self, node: Node, value: Any) -> list[FlowAction]:
        if node.kind == "survey":
            self.csat = value
        if node.slot:
            self.slots[node.slot] = value
            self._slot_types[node.slot] = node.slot_type or "free"
        return self._goto(node.next or "")

    def _fail(self, kind: str) -> list[FlowAction]:
        """A turn that did not work: reprompt (a different text each time) or hand over."""
        node = self._node()
        self._fails[kind] += 1
        limit = getattr(node.policy, f"max_{kind}")
        retry = sum(self._fails.values())  # a survey is asked twice at most, then just ends
        if self._fails[kind] >= limit or (node.kind == "survey" and retry >= 2):
            return self._goto(node.next or "") if node.kind == "survey" else \
                self._escalate(kind)  # type: ignore[arg-type]
        confirming = self._awaiting == "confirm"
        if confirming:
            base = self._confirm_text(node, self._pending)
        elif node.reprompts:
            return [Say(self._render(node.reprompts[min(retry, len(node.reprompts)) - 1]),
                        node.id, kind="reprompt"), listen_for(node)]
        else:
            base = self._render(node.prompt or "")
        prefixes = DEFAULT_REPROMPTS[kind]
        prefix = prefixes[min(self._fails[kind], len(prefixes)) - 1]
        return [Say(f"{prefix} {base}", node.id, kind="reprompt"),
                listen_for(node, confirming=confirming)]

    def _lookup_done(self, ev: LookupDone) -> list[FlowAction]:
        if self._awaiting != "lookup":
            return []
        node = self._node()
        self._awaiting = None
        if not ev.ok:
            if node.on_error:
                return self._goto(node.on_error)
            return self._escalate("error")
        if ev.record is None:
            return self._goto(node.not_found or "")
        self.slots[node.result] = dict(ev.record)
        self._slot_types[node.result] = "record"
        return self._goto(node.found or "")

    # ------------------------------------------------------------------ hand-over

    def _escalate(self, reason: str, *, queue: str | None = None, text: str | None = None,
                  summary: str | None = None) -> list[FlowAction]:
        node = self._node()
        queue = queue or node.policy.escape_queue or self.flow.fallback_queue
        if text is None:
            template = node.policy.handover.get(reason) or node.policy.handover["flow"]
            text = template.replace("{queue}", self.flow.queue_label(queue))
        self.ended = True
        self._awaiting = None
        self.outcome, self.reason, self.queue = "transfer", reason, queue
        context = self.summary_context()
        context.update(reason=reason, queue=queue)
        if summary is None:
            summary = self._default_summary(reason)
        return [Say(text, node.id, kind="handover", interruptible=False),
                Transfer(queue=queue, reason=reason, summary=summary,  # type: ignore[arg-type]
                         context=context)]

    def _default_summary(self, reason: str, lead: str | None = None) -> str:
        heard = [t["heard"] for t in self._turns if t["kind"] == "speech" and t["heard"]]
        return agent_summary(lead or f"{summary_lead(reason)} at '{self.node}'.",
                             self.intents, self.slots, heard[-1:])

    # ------------------------------------------------------------------ templates

    def _confirm_text(self, node: Node, value: Any) -> str:
        """The "Is that right?" with the value heard (not yet the slot's)."""
        template = node.confirm_prompt or "I heard {" + str(node.slot) + "}. Is that right?"
        slots = {**self.slots, str(node.slot): value}
        types = {**self._slot_types, str(node.slot): node.slot_type or "free"}
        return render(template, lambda ref: slot_value(slots, ref, self.intent),
                      [name for name, kind in types.items() if kind == "digits"])

    def _value(self, ref: str) -> Any:
        return slot_value(self.slots, ref, self.intent)

    def _render(self, template: str, spoken: bool = True) -> str:
        """Fill {slot} and {result.field}; digit slots are read back one by one when spoken."""
        digits = [name for name, kind in self._slot_types.items() if kind == "digits"]
        return render(template, self._value, digits if spoken else ())
