"""Scenario skeletons for any flow: for each intent, a call that reaches the node where it
is said (by keys, so the scenario tests that one spoken answer), says it, and expects what
the flow then does.

The way to each node is found by playing the flow's own interpreter (the pure FlowSession,
lookups performed for real on file sources) from the start, trying each answer a node takes
breadth first, so a skeleton follows branches and lookups exactly as a call would. What is
expected (the path, the outcome) is what that same interpreter does when the caller says
the phrase and then stays silent, as a replayed caller does after its last turn.
"""

from __future__ import annotations

import csv
import json
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicebot.flow import lookup
from voicebot.flow.events import (
    Digits,
    FlowAction,
    FlowEvent,
    Listen,
    LookupDone,
    NoInput,
    PerformLookup,
    Recognized,
)
from voicebot.flow.interpreter import FlowSession
from voicebot.flow.matching import digit_words
from voicebot.flow.model import Flow, Node
from voicebot.flow.turns import allows_length

MAX_DEPTH = 12  # caller turns to reach a node
MAX_STATES = 2000  # interpreter runs per search
MAX_SILENT_TURNS = 12  # no-input turns after the last answer before giving up on an outcome


@dataclass(frozen=True)
class Skeleton:
    """One scenario: the caller's events (keys, or phrases to say) and what must happen."""

    name: str
    description: str
    events: tuple[FlowEvent, ...]
    expect: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ playing the flow


def play(flow: Flow, events: tuple[FlowEvent, ...]) -> tuple[FlowSession, Listen | None]:
    """The interpreter after `events` from the start, and what it listens for now."""
    session = FlowSession(flow)
    listen = _perform(session, session.start(), None)
    for event in events:
        if session.ended:
            break
        listen = _perform(session, session.handle(event), listen)
    return session, (None if session.ended else listen)


def _perform(session: FlowSession, actions: list[FlowAction], listen: Listen | None
             ) -> Listen | None:
    for action in actions:
        if isinstance(action, Listen):
            listen = action
        elif isinstance(action, PerformLookup):
            done = lookup.perform(action) if action.source.get("file") else \
                LookupDone(ok=False, error="not looked up for a skeleton")  # no network here
            listen = _perform(session, session.handle(done), listen)
    return listen


def example_numbers(flow: Flow, node: Node) -> list[str]:
    """Numbers to say at a digits collect node: one a lookup of it finds (when a file lookup
    reads the slot), and one it does not."""
    length = node.length or node.min_length or 4
    keys = [k for n in flow.nodes.values() if n.kind == "lookup" and
            n.source.get("key") == node.slot and n.source.get("file")
            for k in _file_keys(Path(n.source["file"]), n.source["key"])]
    found = [k for k in keys if k.isdigit() and allows_length(node, len(k))][:1]
    runs = [("1234567890" * 4)[i:i + length] for i in range(10)]  # 1234..., 2345..., ...
    other = next(r for r in runs if r not in keys)
    return found + [other]


def spoken(number: str) -> str:
    """A number as a caller reads it out: digit by digit ("4512" -> "four five one two")."""
    return " ".join(digit_words(number))


def _file_keys(path: Path, key: str) -> list[str]:
    try:
        if path.suffix.lower() == ".csv":
            with path.open(newline="", encoding="utf-8") as fh:
                return [str(row.get(key, "")).strip() for row in csv.DictReader(fh)]
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, csv.Error):
        return []
    if isinstance(data, dict):
        return [str(k) for k in data] if all(isinstance(v, dict) for v in data.values()) \
            else [str(data.get(key, ""))]
    return [str(r.get(key, "")) for r in data if isinstance(r, dict)] \
        if isinstance(data, list) else []


def answers(flow: Flow, listen: Listen) -> Iterator[FlowEvent]:
    """The answers to try where the flow listens: keys where a key works (reliable, so a
    skeleton tests only the one spoken turn it is about)."""
    node = flow.nodes[listen.node]
    if listen.slot_kind == "yes_no":
        yield from (Digits("1"), Digits("2"))
    elif listen.slot_kind == "digits":
        end = "" if node.length else "#"
        yield from (Digits(n + end) for n in example_numbers(flow, node))
    elif listen.slot_kind == "number":
        yield Digits(str(int(node.minimum)) if node.minimum is not None else "1")
    elif listen.slot_kind is None:
        for intent in node.intents:
            if intent.dtmf:
                yield Digits(intent.dtmf)
            elif intent.phrases:
                yield Recognized(intent.phrases[0], 1.0)


def ways_to(flow: Flow) -> dict[tuple[str, str | None], tuple[FlowEvent, ...]]:
    """The shortest answers that bring a call to each listening point (node, slot kind)."""
    found: dict[tuple[str, str | None], tuple[FlowEvent, ...]] = {}
    todo: deque[tuple[FlowEvent, ...]] = deque([()])
    seen: set[tuple] = set()
    runs = 0
    while todo and runs < MAX_STATES:
        events = todo.popleft()
        session, listen = play(flow, events)
        runs += 1
        if listen is None:
            continue
        # the last answer too: a number waiting to be confirmed is not in the slots yet
        state = (listen.node, listen.slot_kind, repr(sorted(session.slots.items())),
                 events[-1:])
        if state in seen:
            continue
        seen.add(state)
        found.setdefault((listen.node, listen.slot_kind), events)
        if len(events) < MAX_DEPTH:
            todo.extend(events + (answer,) for answer in answers(flow, listen))
    return found


def outcome(flow: Flow, events: tuple[FlowEvent, ...]) -> dict[str, Any]:
    """What the flow does after `events` and then silence: path (through the node the last
    answer leads to), outcome, reason and queue."""
    session, _ = play(flow, events)
    expect: dict[str, Any] = {"path": list(session.path)}
    silent = events
    for _ in range(MAX_SILENT_TURNS):
        if session.ended:
            break
        silent = silent + (NoInput(),)
        session, _ = play(flow, silent)
    if session.ended:
        expect["outcome"] = session.outcome
        expect["reason"] = session.reason
        if session.queue:
            expect["queue"] = session.queue
    return expect


# ------------------------------------------------------------------ the skeletons


def skeletons(flow: Flow) -> list[Skeleton]:
    """A skeleton per intent (its first phrase spoken where it is asked), per spoken number,
    and one for a caller asking for a person at the first question."""
    ways = ways_to(flow)
    out: list[Skeleton] = []
    for (nid, kind), before in ways.items():
        node = flow.nodes[nid]
        if kind is None and node.kind in ("ask", "menu"):
            out.extend(_intent(flow, node, before, intent.name, intent.phrases[0])
                       for intent in node.intents if intent.phrases)
        elif kind == "digits":
            number = example_numbers(flow, node)[0]
            events = (*before, Recognized(spoken(number), 1.0))
            if node.confirm:
                events += (Digits("1"),)  # "Is that right?": yes, by key
            expect = outcome(flow, events) | {"slots": {node.slot: number}}
            out.append(Skeleton(f"{nid}-spoken", f"the caller says the number {number} at "
                                f"'{nid}'", events, expect))
    first = next(iter(ways.items()), None)
    escape = flow.policy.escape_phrases[:1]
    if first is not None and escape:
        (nid, _), before = first
        events = (*before, Recognized(escape[0], 1.0))
        out.append(Skeleton("escape", f"the caller asks for a person ('{escape[0]}') at "
                            f"'{nid}'", events, outcome(flow, events)))
    return out


def _intent(flow: Flow, node: Node, before: tuple[FlowEvent, ...], name: str, phrase: str
            ) -> Skeleton:
    events = (*before, Recognized(phrase, 1.0))
    return Skeleton(f"{node.id}-{name}", f"the caller says '{phrase}' (intent '{name}') at "
                    f"'{node.id}'", events, outcome(flow, events))


def turns(skeleton: Skeleton, recording: Callable[[str], str]) -> list[dict[str, Any]]:
    """The skeleton's caller turns as scenario YAML: keys, or `recording(text)` to say."""
    out: list[dict[str, Any]] = []
    for event in skeleton.events:
        if isinstance(event, Digits):
            out.append({"dtmf": event.digits})
        elif isinstance(event, Recognized):
            out.append({"say": recording(event.text)})
        else:
            out.append({"silence": 8})
    return out
