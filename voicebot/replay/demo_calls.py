"""Made-up calls for a demo database: what callers typically do on the support line, played
through the flow's own interpreter, so every prompt, path, hand-over reason and summary is
what the flow really does. Only the audio side is invented: what the recogniser heard, its
confidence and the timings (prompts at espeak-ng's pace, callers' pauses, turn gaps).

A plan is a list of steps: ("say", text, confidence), ("keys", digits), ("silence",),
("fault",) or ("hangup",); the call runs until the flow ends it or the plan runs out
(then the caller hangs up).
"""

from __future__ import annotations

import random
from typing import Any

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
    Transfer,
)
from voicebot.flow.interpreter import FlowSession
from voicebot.flow.lookup import perform
from voicebot.flow.model import Flow
from voicebot.records.transcript import CallTranscript, PromptRecord, TurnRecord

Step = tuple[Any, ...]
CHARS_PER_S = 14.0  # how fast espeak-ng at 165 words a minute gets through a prompt

# What callers do, with how often, per variant of the demo flow's A/B test (B offers billing
# first, and fewer callers of B get lost at the menu).
PLANS: dict[str, float] = {
    "order_found": 40, "billing": 17, "keyword": 10, "dtmf_zero": 5, "no_match": 7,
    "no_input": 5, "low_confidence": 4, "order_missing": 4, "hang_up": 6, "fault": 2,
}
PLANS_B = {**PLANS, "order_found": 52, "keyword": 8, "no_match": 2, "low_confidence": 1,
           "hang_up": 3}


def plan(kind: str, rng: random.Random) -> list[Step]:
    """The steps of a caller of this kind."""
    menu_order: Step = rng.choice([("say", "order status", rng.uniform(.62, .97)),
                                   ("say", "where is my order", rng.uniform(.6, .95)),
                                   ("keys", "1")])
    number = rng.choice(["4512", "1234", "2468", "3079", "5550", "9021"])
    spoken_number: Step = ("say", " ".join(number), rng.uniform(.55, .92))
    steps: dict[str, list[Step]] = {
        "order_found": [menu_order, rng.choice([spoken_number, ("keys", number)]),
                        rng.choice([("keys", "1"), ("say", "yes", rng.uniform(.7, .98))]),
                        rng.choice([("say", "no thanks", rng.uniform(.6, .95)), ("keys", "9")]),
                        *_survey(rng)],
        "billing": [rng.choice([("say", "billing", rng.uniform(.7, .98)), ("keys", "2")])],
        "keyword": [rng.choice([("say", "agent", rng.uniform(.5, .9)),
                                ("say", "speak to someone", rng.uniform(.45, .9))])],
        "dtmf_zero": [rng.choice([menu_order, ("silence",)]), ("keys", "0")],
        "no_match": [("say", "what are your opening hours", rng.uniform(.55, .8))] * 2,
        "no_input": [("silence",), ("silence",)],
        "low_confidence": [("say", "order status", rng.uniform(.15, .45)),
                           ("say", "order", rng.uniform(.15, .45))],
        "order_missing": [menu_order, ("keys", "7777"), ("keys", "1"),
                          ("say", "no", rng.uniform(.7, .95))],
        "hang_up": [menu_order, ("hangup",)],
        "fault": [menu_order, ("fault",)],
    }
    return steps[kind]


def _survey(rng: random.Random) -> list[Step]:
    roll = rng.random()
    if roll < 0.62:
        score = rng.choices("12345", weights=(4, 5, 12, 30, 49))[0]
        return [rng.choice([("keys", score), ("say", _word(score), rng.uniform(.6, .97))])]
    if roll < 0.85:
        return [("silence",), ("silence",)]
    return [("hangup",)]


def _word(digit: str) -> str:
    return ("one", "two", "three", "four", "five")[int(digit) - 1]


class _Call:
    """One simulated call: the flow's actions become prompts, the steps caller turns."""

    def __init__(self, flow: Flow, call_sid: str, rng: random.Random) -> None:
        self.session = FlowSession(flow)
        self.rng = rng
        self.t = 0.0
        self.transcript = CallTranscript(call_sid=call_sid, flow_name=flow.name,
                                         flow_version=flow.version, engine="pocketsphinx",
                                         flow_variant=flow.variant)

    def run(self, steps: list[Step]) -> CallTranscript:
        self._do(self.session.start())
        for step in steps:
            if self.session.ended:
                break
            if step[0] == "hangup":
                break
            self._turn(step)
        tr = self.transcript
        if not self.session.ended:
            done = self.session.surveying
            tr.outcome, tr.reason = "hangup", "completed" if done else "caller_hangup"
            tr.context = self.session.summary_context()
        tr.path, tr.csat = list(self.session.path), self.session.csat
        return tr

    def _turn(self, step: Step) -> None:
        node, rng = self.session.node, self.rng
        before = len(self.session.turns)
        kind, heard, confidence = "no_input", "", None
        event: FlowEvent
        if step[0] == "say":
            kind, heard, confidence = "speech", step[1], round(step[2], 3)
            start = self.t + rng.uniform(0.4, 1.6)
            end = start + 0.35 * len(heard.split()) + rng.uniform(0.3, 0.8)
            event = Recognized(heard, confidence)
        elif step[0] == "keys":
            kind, heard = "dtmf", step[1]
            start = self.t + rng.uniform(0.8, 2.5)
            end = start + 0.4 * len(heard)
            event = Digits(heard)
        elif step[0] == "fault":
            self.t += rng.uniform(0.5, 2.0)
            self._do(self.session.handle(Fault("engine: WorkerDied")))
            return
        else:
            start = end = self.t + self.session.flow.nodes[node].policy.no_input_timeout
            event = NoInput()
        record = TurnRecord(node=node, kind=kind, heard=heard, confidence=confidence,
                            in_grammar=True if kind == "speech" else None,
                            t_start=round(start, 2), t_end=round(end, 2))
        self.t = end + rng.uniform(0.22, 0.65)  # the turn gap
        actions = self.session.handle(event)
        if len(self.session.turns) > before:
            last = self.session.turns[-1]
            record.intent, record.result = last.get("intent"), last.get("result")
        self.transcript.turns.append(record)
        record.t_reply = round(self.t, 2)
        self._do(actions)

    def _do(self, actions: list[FlowAction]) -> None:
        for action in actions:
            if isinstance(action, Say):
                sent = round(self.t, 2)
                self.t += max(1.0, len(action.text) / CHARS_PER_S)
                self.transcript.prompts.append(PromptRecord(
                    text=action.text, node=action.node, kind=action.kind, t_sent=sent,
                    t_played=round(self.t, 2)))
            elif isinstance(action, PerformLookup):
                self._do(self.session.handle(_lookup(action)))
            elif isinstance(action, Transfer):
                tr = self.transcript
                tr.outcome, tr.reason, tr.queue = "transfer", action.reason, action.queue
                tr.summary, tr.context = action.summary, dict(action.context)
            elif isinstance(action, Hangup):
                self.transcript.outcome, self.transcript.reason = "hangup", "completed"
                self.transcript.context = self.session.summary_context()


def _lookup(action: PerformLookup) -> LookupDone:
    try:
        return perform(action)
    except Exception as exc:  # noqa: BLE001 - a demo lookup that fails is a failed lookup
        return LookupDone(ok=False, error=type(exc).__name__)


def simulate(flow: Flow, kind: str, call_sid: str, rng: random.Random) -> CallTranscript:
    """A call of a caller of `kind` (a key of PLANS) on `flow` (a variant of it, perhaps)."""
    return _Call(flow, call_sid, rng).run(plan(kind, rng))


def bot_seconds(transcript: CallTranscript) -> float:
    """How long the bot's part of a simulated call lasted."""
    ends = [p.t_played or p.t_sent for p in transcript.prompts]
    ends += [t.t_end or 0.0 for t in transcript.turns]
    return max(ends, default=1.0)
