"""Events fed to the flow interpreter and the actions it returns.

This is the contract between the pure interpreter (voicebot.flow.interpreter) and whoever
drives it: the call session, `voicebot chat` and offline replay. No audio, network or clock
here: the driver measures time, performs lookups and plays prompts, then reports back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from voicebot.flow.reasons import EscalationReason

PromptKind = Literal["disclosure", "prompt", "reprompt", "confirm", "info", "handover", "goodbye"]


# ----------------------------------------------------------------- events (driver -> flow)


@dataclass(frozen=True)
class Recognized:
    """The caller said something; `text` is the recognizer's final hypothesis."""

    text: str
    confidence: float  # 0..1, calibrated by the speech path
    in_grammar: bool = True  # False when the engine's reject path fired


@dataclass(frozen=True)
class Digits:
    """DTMF keys pressed (one or more, in order)."""

    digits: str


@dataclass(frozen=True)
class NoInput:
    """Nothing was said within the listen timeout after the prompt finished playing."""


@dataclass(frozen=True)
class LookupDone:
    """Result of a `PerformLookup` action, performed by the driver."""

    ok: bool
    record: dict[str, Any] | None = None  # the row/object found; None when not found
    error: str | None = None  # failure or timeout text (for logs, never spoken)


@dataclass(frozen=True)
class Fault:
    """Something broke outside the flow (engine error, exception): hand over with reason error."""

    detail: str


@dataclass(frozen=True)
class ServiceStopping:
    """The service stops serving the call (it is shutting down): hand over, reason service."""


FlowEvent = Recognized | Digits | NoInput | LookupDone | Fault | ServiceStopping


# ----------------------------------------------------------------- actions (flow -> driver)


@dataclass(frozen=True)
class Say:
    """Speak `text`. `interruptible` False means only the escape phrase or key may cut it."""

    text: str
    node: str
    kind: PromptKind = "prompt"
    interruptible: bool = True


@dataclass(frozen=True)
class Listen:
    """Wait for the caller's turn at `node` (after every Say before it has played).

    grammar: phrases the recognizer should expect, escape phrases included; empty tuple means
    free speech. dtmf_max: how many keys end a keyed answer (0: keys only navigate/escape).
    """

    node: str
    grammar: tuple[str, ...]
    no_input_timeout: float
    confidence_threshold: float
    dtmf_max: int = 1
    dtmf_terminator: str = "#"
    slot: str | None = None  # the slot being collected, if any
    slot_kind: str | None = None  # digits | yes_no | number | free | survey
    max_digits: int | None = None  # a spoken number has at most this many digits
    # Phrases of the grammar that mean the same (an intent's phrases and key word, yes, no,
    # the escape phrases): confidence weighs an answer against what means something else.
    groups: tuple[tuple[str, ...], ...] = ()
    # The escape phrases in force at the node: a request for a person is looked for in
    # every answer, so a recognizer that weighs alternatives must know which ask for one.
    escapes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PerformLookup:
    """Read data for the caller; the driver answers with LookupDone."""

    node: str
    source: dict[str, Any]  # as written in the flow (file/url, key, timeout), paths resolved
    params: dict[str, str]  # filled-in key values, e.g. {"order_number": "4512"}


@dataclass(frozen=True)
class Transfer:
    """Hand the call to a human queue. The hand-over prompt comes as a Say before this."""

    queue: str
    reason: EscalationReason
    summary: str  # rendered summary template for the agent
    context: dict[str, Any] = field(default_factory=dict)  # intent, slots, last turns


@dataclass(frozen=True)
class Hangup:
    """End the call; the goodbye prompt comes as a Say before this."""

    reason: str = "completed"


FlowAction = Say | Listen | PerformLookup | Transfer | Hangup
