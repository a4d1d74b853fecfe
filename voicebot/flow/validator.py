"""Checks a flow's graph and content beyond what the JSON Schema can say.

Why these: a designer's mistake here strands a real caller (a `next` that goes nowhere, a loop
with no way out, a menu where two options share a key), so each is reported at its
file:line:col before the flow can ever take a call. Warnings (unreachable nodes, unbounded
loops) do not stop a flow from loading.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import Path

from voicebot.flow.lookup import (
    BAD_HEADER_CHAR_RE,
    ENV_REF_RE,
    env_missing,
    env_refs,
    file_fields,
)
from voicebot.flow.matching import contains_phrase, is_escape, normalize, phrase_form
from voicebot.flow.model import Flow, Node
from voicebot.flow.paths import cycles, path_without, reach, set_on_entry, sets_unknown
from voicebot.flow.problems import Problem
from voicebot.flow.templates import TEMPLATE_RE

VALUE = "$value"  # same marker as voicebot.flow.loader.VALUE

# Template names every prompt may use besides collected slots and lookup results.
BUILTIN_NAMES = {"intent"}
_AUTOMATED_WORDS = ("automated", "assistant", "virtual", "bot", "voicebot", "computer",
                    "machine", "recorded", "ai")


class _Checker:
    def __init__(self, flow: Flow, file: str):
        self.flow = flow
        self.file = file
        self.problems: list[Problem] = []

    def add(self, severity: str, message: str, *path: object) -> None:
        line, col = self.flow.mark(*path)
        self.problems.append(Problem(self.file, line, col, severity, message))  # type: ignore

    # -------------------------------------------------------------- graph

    def targets(self) -> None:
        flow = self.flow
        if flow.start not in flow.nodes and not flow.broken & {("start",), ("nodes",)}:
            self.add("error", f"start node '{flow.start}' is not defined", "start")
        for node in flow.nodes.values():
            base = ("nodes", node.id)
            refs: list[tuple[str, tuple]] = []
            for key in ("next", "default", "found", "not_found", "on_error", "overflow"):
                value = getattr(node, key)
                if value:
                    refs.append((value, base + (key,)))
            for intent in node.intents:
                refs.append((intent.next, base + ("intents", intent.name, "next")))
            for i, br in enumerate(node.branches):
                refs.append((br.next, base + ("branches", i, "next")))
            for target, path in refs:
                if target not in flow.nodes:
                    hint = _close(target, flow.nodes)
                    self.add("error", f"'{path[-1]}' goes to unknown node '{target}'{hint}", *path,
                             VALUE)
            if node.overflow and not node.max_visits:
                self.add("error", "'overflow' needs 'max_visits'", *base, "overflow")

    def reachability(self) -> None:
        flow = self.flow
        if flow.start not in flow.nodes:
            return
        seen = reach(flow, [flow.start])
        whole = not flow.broken  # a part set aside may have held the way to a node
        for nid in flow.nodes:
            if nid not in seen and whole:
                self.add("warning", f"node '{nid}' is unreachable from start '{flow.start}'",
                         "nodes", nid)
        # Backwards: which nodes can still end the call or hand it to a person?
        can_finish = {nid for nid, n in flow.nodes.items()
                      if n.kind in ("transfer", "hangup") or flow.is_broken("nodes", nid)}
        changed = True
        while changed:
            changed = False
            for nid, node in flow.nodes.items():
                if nid in can_finish:
                    continue
                outs = [t for _, t in node.edges()]
                # A lookup with no on_error hands failures to a person by default, and a node
                # with max_visits but no overflow hands over when the bound is hit.
                if (node.kind == "lookup" and not node.on_error) or \
                        (node.max_visits and not node.overflow) or \
                        any(t in can_finish for t in outs):
                    can_finish.add(nid)
                    changed = True
        for nid in flow.nodes:
            if nid in can_finish or nid not in seen:
                continue
            escapable = [m for m in reach(flow, [nid])
                         if flow.nodes[m].listens and _has_escape(flow.nodes[m])]
            if escapable:
                self.add("warning", f"no path from node '{nid}' ends the call or reaches a "
                                    "person, except the escape phrase or key", "nodes", nid)
            else:
                self.add("error", f"node '{nid}' has no way to end the call or reach a person",
                         "nodes", nid)

    def loops(self) -> None:
        flow = self.flow
        for comp in cycles(flow, lambda n: not flow.is_broken("nodes", n.id)):
            quiet = all(not flow.nodes[m].listens for m in comp)
            if quiet:
                names = ", ".join(sorted(comp))
                self.add("error", f"loop without waiting for the caller: {names}",
                         "nodes", sorted(comp)[0])
        unbounded = cycles(flow, lambda n: not n.max_visits and
                            not flow.is_broken("nodes", n.id))
        for comp in unbounded:
            if all(not flow.nodes[m].listens for m in comp):
                continue  # reported above
            names = ", ".join(sorted(comp))
            self.add("warning", f"loop through {names} has no bound: set max_visits on one of "
                                "its nodes so no caller goes round forever", "nodes",
                     sorted(comp)[0])

    # -------------------------------------------------------------- nodes

    def nodes(self) -> None:
        flow = self.flow
        queues = set(flow.queue_names)
        if flow.is_broken("queues"):
            queues = set(flow.queues())  # set aside: the queue names cannot be checked
        if flow.fallback_queue not in queues and not flow.is_broken("fallback_queue"):
            self.add("error", f"fallback_queue '{flow.fallback_queue}' is not one of the queues",
                     "fallback_queue")
        if flow.policy.escape_queue and flow.policy.escape_queue not in queues:
            self.add("error", f"escape_queue '{flow.policy.escape_queue}' is not one of the "
                              "queues", "policy", "escape_queue")
        for node in flow.nodes.values():
            base = ("nodes", node.id)
            if node.queue and node.queue not in queues:
                self.add("error", f"queue '{node.queue}' is not declared under 'queues'"
                                  f"{_close(node.queue, queues)}", *base, "queue", VALUE)
            eq = node.policy.escape_queue
            if eq and eq not in queues and eq != flow.policy.escape_queue:
                self.add("error", f"escape_queue '{eq}' is not one of the queues",
                         *base, "policy", "escape_queue")
            if node.listens and not _has_escape(node):
                self.add("error", "no way to reach a person here: keep an escape phrase or "
                                  "escape key", *base, "policy")
            if node.kind in ("ask", "menu"):
                self.intents(node)
            elif node.kind == "collect" and not flow.is_broken(*base, "type"):
                self.collect(node)
            elif node.kind == "lookup":
                self.lookup(node)
            elif node.kind == "survey":
                self.survey(node)

    def survey(self, node: Node) -> None:
        """A survey comes last: the caller whose business is done is asked nothing more."""
        base = ("nodes", node.id)
        others = [n for n in self.flow.nodes.values() if n.kind == "survey" and n is not node]
        if others and node.id < others[0].id:
            self.add("warning", f"two survey nodes ('{node.id}', '{others[0].id}'): a call "
                                "keeps only its last rating for CSAT", *base)
        if node.next not in self.flow.nodes:
            return
        later = [m for m in reach(self.flow, [node.next])
                 if self.flow.nodes[m].listens and self.flow.nodes[m].kind != "survey"]
        if later:
            self.add("warning", f"after the survey the caller is asked more ('{later[0]}'): "
                                "place the survey just before goodbye", *base, "next")

    def intents(self, node: Node) -> None:
        base = ("nodes", node.id, "intents")
        phrase_owner: dict[str, str] = {}
        key_owner: dict[str, str] = {}
        for intent in node.intents:
            for i, phrase in enumerate(intent.phrases):
                norm = phrase_form(phrase)
                where = (*base, intent.name, "phrases", i)
                if not norm:
                    self.add("error", "empty phrase", *where)
                    continue
                other = phrase_owner.get(norm)
                if other and other != intent.name:
                    self.add("error", f"phrase '{phrase}' is in two intents: '{other}' and "
                                      f"'{intent.name}'", *where)
                phrase_owner.setdefault(norm, intent.name)
                if is_escape(phrase, node.policy.escape_phrases):
                    self.add("warning", f"phrase '{phrase}' asks for a person: saying it hands "
                                        "the call to a person", *where)
            if intent.dtmf:
                where = (*base, intent.name, "dtmf")
                other = key_owner.get(intent.dtmf)
                if other:
                    self.add("error", f"DTMF key {intent.dtmf} is in two intents: '{other}' and "
                                      f"'{intent.name}'", *where)
                key_owner.setdefault(intent.dtmf, intent.name)
                if intent.dtmf == node.policy.escape_dtmf:
                    self.add("error", f"DTMF key {intent.dtmf} is the escape key (a person); "
                                      "choose another key", *where)

    def storage(self, node: Node) -> None:
        """What callers say into a free or digits slot may be personal data: the designer
        should say how it is kept (voicebot.flow.redact)."""
        if node.slot_type in ("free", "digits") and node.store is None:
            self.add("warning", f"no 'store' choice for '{node.slot}': what callers say here "
                                "is kept redacted (card, phone, e-mail, ID and long numbers "
                                "replaced); say `store: clear` if agents need it as said, or "
                                "masked, hashed, none", "nodes", node.id, "slot")

    def collect(self, node: Node) -> None:
        base = ("nodes", node.id)
        self.storage(node)
        if node.slot_type == "digits":
            if node.length is None and node.min_length is None and node.max_length is None:
                self.add("error", "a digits collect needs 'length' (or min_length/max_length)",
                         *base)
            if node.length is not None and (node.min_length or node.max_length):
                self.add("error", "use either 'length' or min_length/max_length", *base)
            if node.min_length and node.max_length and node.min_length > node.max_length:
                self.add("error", "min_length is greater than max_length", *base, "min_length")
            if node.length is None and node.max_length is None and node.min_length is not None:
                self.add("warning", "no max_length: a spoken number may then have any number of "
                                    "digits, and the recognizer inserts extra ones; give "
                                    "max_length", *base, "min_length")
        else:
            for key in ("length", "min_length", "max_length"):
                if getattr(node, key) is not None:
                    self.add("error", f"'{key}' only applies to type digits", *base, key)
        if node.slot_type != "number":
            for key, attr in (("min", "minimum"), ("max", "maximum")):
                if getattr(node, attr) is not None:
                    self.add("error", f"'{key}' only applies to type number", *base, key)
        elif node.minimum is not None and node.maximum is not None and \
                node.minimum > node.maximum:
            self.add("error", "min is greater than max", *base, "min")

    def lookup(self, node: Node) -> None:
        base = ("nodes", node.id, "source")
        if "headers" in node.source:
            self.headers(node)
        file = node.source.get("file")
        if not file or "key" not in node.source:
            return
        p = Path(file)
        if not p.is_file():
            self.add("error", f"lookup file not found: {p}", *base, "file")
            return
        if p.suffix.lower() not in (".csv", ".json"):
            self.add("error", "lookup file must be .csv or .json", *base, "file")
            return
        fields = file_fields(p)
        if fields is None:
            self.add("error", f"lookup file cannot be read as {p.suffix[1:].upper()}", *base,
                     "file")
        elif "*" not in fields and node.source["key"] not in fields:
            self.add("error", f"lookup key '{node.source['key']}' is not a field of {p.name} "
                              f"(fields: {', '.join(sorted(fields))})", *base, "key")

    def headers(self, node: Node) -> None:
        """A url source's headers. Messages name headers and variables, never a value: a
        designer may have pasted a credential that should not land in a CI log."""
        base = ("nodes", node.id, "source", "headers")
        if not node.source.get("url"):
            self.add("error", "'headers' only apply to a url source, not to a file", *base)
            return
        for name, value in node.source["headers"].items():
            where = (*base, name, VALUE)
            if "\r" in value or "\n" in value:
                self.add("error", f"header '{name}' must be one line: no line breaks in its "
                                  "value", *where)
            elif BAD_HEADER_CHAR_RE.search(value):
                self.add("error", f"header '{name}' has a control or non-Latin-1 character "
                                  "that HTTP does not allow", *where)
            if "${" in ENV_REF_RE.sub("", value):
                self.add("error", f"header '{name}': write an environment variable as "
                                  "${NAME} (letters, digits and _)", *where)
            for var in dict.fromkeys(env_refs(value)):
                if env_missing(var):
                    self.add("warning", f"header '{name}' uses ${{{var}}}, which is not set "
                                        "(or empty) here; if so when a call comes in, the "
                                        "lookup fails (on_error or a person takes over)", *where)

    # -------------------------------------------------------------- templates

    def templates(self) -> None:
        flow = self.flow
        if TEMPLATE_RE.search(flow.disclosure):
            self.add("error", "the disclosure cannot use templates (it is said before anything "
                              "is known)", "disclosure")
        slots = {n.slot for n in flow.nodes.values()
                 if n.kind in ("collect", "survey") and n.slot}
        results = {n.result: n for n in flow.nodes.values() if n.kind == "lookup"}
        entry = set_on_entry(flow)
        for node in flow.nodes.values():
            for text, path in node.template_texts():
                has = entry.get(node.id)
                if has is not None and path == ("confirm",) and node.slot:
                    has = has | {node.slot}  # the confirmation reads back what was heard
                for m in TEMPLATE_RE.finditer(text):
                    self._template_ref(m, node, ("nodes", node.id, *path), slots, results, has)
        for reason, template in flow.policy.handover.items():
            for m in TEMPLATE_RE.finditer(template):
                if m.group(1) != "queue":
                    self.add("error", f"handover text may only use {{queue}}, not {m.group(0)}",
                             "policy", "handover", reason)

    def _template_ref(self, m: re.Match[str], node: Node, path: tuple, slots: set[str],
                      results: dict[str, Node], has: frozenset[str] | None) -> None:
        """One {name} or {name.field}: a collected slot, a lookup result (field) or built-in,
        set on every path to the node that says it."""
        name, field_name = m.group(1), m.group(2)
        known = slots | set(results) | BUILTIN_NAMES
        if name not in known:
            if not self._may_be_set_aside():
                self.add("error", f"template '{{{m.group(0)[1:-1]}}}' names a slot that "
                                  f"is never collected{_close(name, known)}", *path, VALUE)
            return
        if name in slots and field_name:
            self.add("error", f"slot '{name}' has no fields ('{m.group(0)}')", *path)
        elif name in results and field_name:
            src = results[name].source.get("file")
            fields = file_fields(Path(src)) if src else None
            if fields is not None and field_name not in fields:
                self.add("warning", f"'{field_name}' is not a field of {Path(src).name}", *path)
        if name in BUILTIN_NAMES or has is None or name in has:
            return
        route = " -> ".join(path_without(self.flow, name, node.id))
        looked_up = name in results and name not in slots
        what = f"no lookup finds '{name}'" if looked_up else f"'{name}' is not collected"
        fix = "look it up" if looked_up else "collect it"
        self.add("error", f"'{m.group(0)}' may be empty here: on the path {route}, {what} "
                          f"({fix} on every path to '{node.id}', or say it only where it is "
                          "set)", *path, VALUE)

    def _may_be_set_aside(self) -> bool:
        """Whether a node that could name a slot or result lost that key to a schema error."""
        return any(sets_unknown(self.flow, n) for n in self.flow.nodes.values())

    def thresholds(self) -> None:
        """An answer that ends the call is never taken on less confidence than any answer:
        a designer who set end_confidence_threshold lower learns it has no effect."""
        key = "end_confidence_threshold"
        flow_policy, marks = self.flow.policy, self.flow.marks
        for path, p in [(("policy",), flow_policy)] + [
                (("nodes", n.id, "policy"), n.policy) for n in self.flow.nodes.values()
                if n.policy != flow_policy and n.listens]:
            if p.end_confidence_threshold < p.confidence_threshold and (
                    (*path, key) in marks or ("policy", key) in marks):
                self.add("warning", f"{key} {p.end_confidence_threshold} is under "
                                    f"confidence_threshold {p.confidence_threshold}: answers "
                                    "that end the call take the higher one", *path, key)

    def disclosure(self) -> None:
        if self.flow.is_broken("disclosure"):
            return
        text = self.flow.disclosure
        words = normalize(text).split()
        if not any(w in words for w in _AUTOMATED_WORDS):
            self.add("warning", "the disclosure should say the caller is talking to an automated "
                                "assistant", "disclosure")
        policy = self.flow.policy
        names_way_out = any(contains_phrase(text, p) for p in policy.escape_phrases) or (
            policy.escape_dtmf is not None and (policy.escape_dtmf in text or
                                                "zero" in words))
        if not names_way_out:
            self.add("warning", "the disclosure should tell callers how to reach a person (an "
                                "escape phrase or key)", "disclosure")


def _has_escape(node: Node) -> bool:
    return bool(node.policy.escape_phrases) or node.policy.escape_dtmf is not None


def _close(name: str, options: Iterable[str]) -> str:
    hint = difflib.get_close_matches(name, sorted(options), n=1)
    return f" (did you mean '{hint[0]}'?)" if hint else ""


def check_flow(flow: Flow, file: str) -> list[Problem]:
    """Every graph and content problem of a built flow."""
    c = _Checker(flow, file)
    c.targets()
    c.nodes()
    c.templates()
    c.thresholds()
    c.disclosure()
    if not any(p.severity == "error" and "unknown node" in p.message for p in c.problems):
        c.reachability()
        c.loops()
    return c.problems
