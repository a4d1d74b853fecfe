"""What happened on one call, as the call session saw it.

The call session builds a CallTranscript as the call goes; the driver writes it to the call
records (SQLite) as it grows, offline replay reads it straight from the driver, and the live
stand-in reads the same shape back from `GET /calls/<CallSid>` — so offline and live
verdicts are computed from the same data. Times are stream seconds (0 = stream start).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class PromptRecord:
    text: str
    node: str
    kind: str  # PromptKind of voicebot.flow.events
    t_sent: float
    t_played: float | None = None  # when the mark came back (None: not finished / cleared)
    barged_in: bool = False


@dataclass
class TurnRecord:
    node: str
    kind: str  # "speech" | "dtmf" | "no_input"
    heard: str = ""  # recognised text or keyed digits ("" for no_input)
    confidence: float | None = None
    in_grammar: bool | None = None
    intent: str | None = None  # matched intent, if any
    t_start: float | None = None  # speech start (or key press)
    t_end: float | None = None  # end of utterance
    t_reply: float | None = None  # first bot audio after this turn
    during_prompt: bool = False  # spoken/pressed over a prompt (barge-in)
    result: str | None = None  # what the flow made of it: matched, no_match, no_input, ...


@dataclass
class CallTranscript:
    call_sid: str
    flow_name: str = ""
    flow_version: str = ""
    engine: str = ""
    prompts: list[PromptRecord] = field(default_factory=list)
    turns: list[TurnRecord] = field(default_factory=list)
    path: list[str] = field(default_factory=list)  # nodes visited, in order
    outcome: str | None = None  # "transfer" | "hangup" | None while the call goes on
    reason: str | None = None  # escalation reason, or hangup reason
    queue: str | None = None
    summary: str = ""  # for the agent (whisper and context JSON)
    context: dict[str, Any] = field(default_factory=dict)  # intent, slots, last turns
    flow_variant: str | None = None  # the flow's variant the call ran (A/B), if it has any
    csat: int | None = None  # the caller's answer to the flow's survey (1-5)
    unreadable: list[str] = field(default_factory=list)  # stored parts no data key opened

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallTranscript:
        data = dict(data)
        data["prompts"] = [PromptRecord(**p) for p in data.get("prompts", [])]
        data["turns"] = [TurnRecord(**t) for t in data.get("turns", [])]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})
