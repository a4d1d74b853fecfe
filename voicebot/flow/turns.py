"""A caller's turn at a node: what the node listens for, and what an answer becomes.

Pure functions of the node (and the answer), so the interpreter keeps only the walk through
the flow: which node is current, what was collected and when to hand over.
"""

from __future__ import annotations

from typing import Any

from voicebot.flow import matching
from voicebot.flow.events import Listen
from voicebot.flow.model import Node

YES_NO_GRAMMAR = matching.YES_SPOKEN + matching.NO_SPOKEN
YES_NO_KEYS = {"1": "yes", "2": "no"}
SCORES = ("one", "two", "three", "four", "five")  # a survey's answers, 1-5


def listen_for(node: Node, confirming: bool = False) -> Listen:
    """The Listen action of a node's turn (or of its "Is that right?" when confirming)."""
    policy = node.policy
    escape = tuple(policy.escape_phrases)
    common = dict(node=node.id, no_input_timeout=policy.no_input_timeout,
                  confidence_threshold=policy.confidence_threshold, escapes=escape)
    yes_no = (matching.YES_SPOKEN, matching.NO_SPOKEN, escape)
    if confirming:
        return Listen(grammar=unique(YES_NO_GRAMMAR + escape), dtmf_max=1, slot=node.slot,
                      slot_kind="yes_no", groups=yes_no, **common)
    if node.kind in ("ask", "menu"):
        phrases: list[str] = []
        groups: list[tuple[str, ...]] = []
        for intent in node.intents:
            group = tuple(intent.phrases)
            if intent.dtmf:
                group += matching.digit_words(intent.dtmf)
            phrases.extend(group)
            groups.append(group)
        return Listen(grammar=unique(tuple(phrases) + escape), dtmf_max=1,
                      groups=(*groups, escape), **common)
    if node.kind == "survey":
        return Listen(grammar=unique(SCORES + escape), dtmf_max=1, slot=node.slot,
                      slot_kind="survey", groups=(*((w,) for w in SCORES), escape), **common)
    kind = node.slot_type
    if kind == "digits":
        most = node.length or node.max_length or 16
        return Listen(grammar=escape, dtmf_max=most, slot=node.slot, slot_kind="digits",
                      max_digits=node.length or node.max_length, **common)
    if kind == "yes_no":
        return Listen(grammar=unique(YES_NO_GRAMMAR + escape), dtmf_max=1, slot=node.slot,
                      slot_kind="yes_no", groups=yes_no, **common)
    if kind == "number":
        return Listen(grammar=(), dtmf_max=12, slot=node.slot, slot_kind="number", **common)
    return Listen(grammar=(), dtmf_max=0, slot=node.slot, slot_kind="free", **common)


def allows_length(node: Node, n: int) -> bool:
    """Whether a collect node takes a number of `n` digits."""
    if node.length is not None:
        return n == node.length
    return (node.min_length or 1) <= n <= (node.max_length or 32)


def parse_spoken(node: Node, text: str) -> Any:
    """The slot value a collect node (or a survey's score) gets from normalised recognised
    text, or None."""
    if node.kind == "survey":
        return score(matching.spoken_number(text))
    kind = node.slot_type
    if kind == "digits":
        digits = matching.spoken_digits(text)
        return digits if digits and allows_length(node, len(digits)) else None
    if kind == "yes_no":
        return matching.yes_no(text)
    if kind == "number":
        return in_range(node, matching.spoken_number(text))
    return text or None


def parse_keys(node: Node, keys: str) -> Any:
    """The slot value a collect node gets from keys pressed, or None."""
    keys = keys.rstrip("#")
    if node.kind == "survey":
        return score(int(keys)) if keys.isdigit() else None
    kind = node.slot_type
    if kind == "digits":
        return keys if keys.isdigit() and allows_length(node, len(keys)) else None
    if kind == "yes_no":
        return YES_NO_KEYS.get(keys[:1])
    if kind == "number":
        return in_range(node, int(keys)) if keys.isdigit() else None
    return None


def score(number: int | None) -> int | None:
    """A survey answer: a whole number from 1 to 5, or None."""
    return number if number is not None and 1 <= number <= len(SCORES) else None


def in_range(node: Node, number: int | None) -> int | None:
    if number is None:
        return None
    if node.minimum is not None and number < node.minimum:
        return None
    if node.maximum is not None and number > node.maximum:
        return None
    return number


def unique(items: tuple[str, ...]) -> tuple[str, ...]:
    """Normalised phrases, each once, in their first order."""
    seen: dict[str, None] = {}
    for item in items:
        norm = matching.normalize(item)
        if norm and norm not in seen:
            seen[norm] = None
    return tuple(seen)
