"""A call's transcript as it may be kept: every text reduced by the flow's storage choices
(voicebot.flow.redact) before the records, the spool or an agent's summary see it.

The call session keeps what was said, because the call needs it (a lookup by the order
number, "I heard 4 5 1 2"); the driver hands the recorder `Minimiser.stored(transcript)`
instead. What is reduced:

- each slot value in the context, by its slot's `store` choice;
- what was heard and keyed at a collect node, and the prompts there that read the value
  back ("I heard 4 5 1 2"), by that slot's choice (so a value the caller then rejected is
  reduced too); elsewhere, by the redactor, with the call's known values in their forms;
- every other prompt, the summary, lookup results and the context's turns likewise.
  A prompt that is one of the flow's fixed texts holds nothing of the caller's and is kept.

A call is saved after every turn, so results are kept per text and the values it depends
on: a save redacts only what is new.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from voicebot.flow.model import Flow
from voicebot.flow.redact import (
    DEFAULT_CHOICE,
    UNDECIDED,
    KnownValues,
    Run,
    digits_of,
    redact,
    stored_form,
)
from voicebot.records.transcript import CallTranscript, PromptRecord

NODE_PROMPT_KINDS = ("confirm", "reprompt")  # prompts of a collect node that read its value
CACHE_MAX = 4000


@dataclass(frozen=True)
class StorageRules:
    """What a flow says about keeping its slots, and the key `hashed` values are hashed with."""

    choices: dict[str, str]  # slot -> store choice
    node_slots: dict[str, str]  # collect node -> its slot
    fixed_prompts: frozenset[str]
    hash_key: bytes

    @classmethod
    def for_flow(cls, flow: Flow, hash_key: bytes | None = None) -> StorageRules:
        """The flow's rules; without a key, one made for this process (hashes then match
        only within it: fine where nothing is kept, as in offline replay)."""
        choices, node_slots = {}, {}
        for node in flow.nodes.values():
            if node.kind == "collect" and node.slot:
                choices[node.slot] = getattr(node, "store", None) or DEFAULT_CHOICE
                node_slots[node.id] = node.slot
        return cls(choices, node_slots, frozenset(flow.static_prompts()),
                   hash_key or secrets.token_bytes(32))

    def hasher(self, value: str) -> str:
        return hmac.new(self.hash_key, value.encode("utf-8"), hashlib.sha256).hexdigest()

    def choice_at(self, node: str | None) -> str | None:
        slot = self.node_slots.get(node or "")
        return self.choices.get(slot) if slot else None


class Minimiser:
    """One call's reducer (results are cached per text; see the module doc)."""

    def __init__(self, rules: StorageRules) -> None:
        self.rules = rules
        self._known = KnownValues.empty()
        self._known_from: Any = None
        self._cache: dict[tuple[str, str | None], str] = {}

    def stored(self, transcript: CallTranscript) -> CallTranscript:
        """A copy of the transcript with every text reduced."""
        t = transcript
        self._learn(t.context.get("slots") or {})
        return dataclasses.replace(
            t,
            prompts=[self._prompt(p) for p in t.prompts],
            turns=[dataclasses.replace(r, heard=self.text(r.heard, r.node)) for r in t.turns],
            summary=self.text(t.summary),
            context=self._context(t.context),
        )

    def text(self, text: str, node: str | None = None) -> str:
        """One text reduced; `node`: said at that collect node (its slot's choice applies
        to every number in it)."""
        if not text:
            return text
        choice = self.rules.choice_at(node)
        key = (text, choice if choice not in ("clear", DEFAULT_CHOICE) else None)
        cached = self._cache.get(key)
        if cached is None:
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()
            cached = self._cache[key] = redact(text, self._known,
                                               run_form=self._run_form(key[1]))
        return cached

    # ------------------------------------------------------------------ internals

    def _run_form(self, choice: str | None) -> Callable[[Run], str | None] | None:
        """At a collect node whose value is not kept as said: every number said there."""
        if choice is None:
            return None
        hasher = self.rules.hasher

        def form(run: Run) -> str | None:
            return stored_form(run.digits, choice, hasher) if len(run.digits) >= 2 \
                else UNDECIDED

        return form

    def _prompt(self, p: PromptRecord) -> PromptRecord:
        if p.text in self.rules.fixed_prompts:
            return p
        return dataclasses.replace(p, text=self.text(
            p.text, p.node if p.kind in NODE_PROMPT_KINDS else None))

    def _learn(self, slots: dict[str, Any]) -> None:
        """The call's values and their forms, looked for in every text."""
        signature = tuple(sorted((k, str(v)) for k, v in slots.items()
                                 if not isinstance(v, dict)))
        if signature == self._known_from:
            return
        by_digits: dict[str, str | None] = {}
        by_text: dict[str, str | None] = {}
        for name, value in slots.items():
            choice = self.rules.choices.get(name)
            if choice is None or isinstance(value, dict) or value in (None, ""):
                continue
            form = stored_form(value, choice, self.rules.hasher)
            text = str(value)
            digits = digits_of(text)
            if digits and len(digits) * 2 >= len(text.replace(" ", "")):  # a number
                by_digits[digits] = form
            else:
                by_text[text] = form
        self._known = KnownValues(by_digits, by_text)
        self._known_from = signature
        self._cache.clear()

    def _context(self, context: dict[str, Any]) -> dict[str, Any]:
        if not context:
            return context
        out = dict(context)
        if isinstance(context.get("slots"), dict):
            out["slots"] = {name: self._slot(name, value)
                            for name, value in context["slots"].items()}
        if isinstance(context.get("turns"), list):
            out["turns"] = [self._context_turn(t) for t in context["turns"]]
        return out

    def _slot(self, name: str, value: Any) -> Any:
        if isinstance(value, dict):  # a lookup's record: the company's data about the caller
            return {k: self.text(v) if isinstance(v, str) else v for k, v in value.items()}
        choice = self.rules.choices.get(name, DEFAULT_CHOICE)
        if not isinstance(value, str) or choice == "clear":
            return value
        return stored_form(value, choice, self.rules.hasher)

    def _context_turn(self, turn: Any) -> Any:
        if not isinstance(turn, dict) or not turn.get("heard"):
            return turn
        return {**turn, "heard": self.text(str(turn["heard"]), turn.get("node"))}
