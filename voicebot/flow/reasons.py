"""Why a call is handed to a person, and every text said about it.

The reasons are a closed set; each has the text the caller hears when handed over, the first
line of the agent's summary and what the agent is told on the whisper. Keeping the three in
one table means a new reason cannot be added with one of its texts missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

EscalationReason = Literal[
    "keyword", "dtmf", "low_confidence", "no_match", "no_input", "flow", "error", "service"
]
ESCALATION_REASONS: tuple[EscalationReason, ...] = get_args(EscalationReason)

# The turn failures that are retried before they hand over (policy max_<reason>).
RetryReason = Literal["low_confidence", "no_match", "no_input"]

# What the call session itself says when the flow cannot (a fault, a dropped stream).
FALLBACK_HANDOVER = ("Sorry, the automated assistant has a problem, so I'm connecting you "
                     "to a person. Please hold.")
FAULT_SUMMARY = "The automated assistant failed during the call."
DROPPED_SUMMARY = "The call's audio stream dropped; the caller may need to be called back."


@dataclass(frozen=True)
class ReasonTexts:
    handover: str  # to the caller, before the transfer; {queue} names the queue
    summary: str  # opens the agent's summary: "<summary> at '<node>'."
    whisper: str  # to the agent: "Connecting a caller who <whisper>."


TEXTS: dict[EscalationReason, ReasonTexts] = {
    "keyword": ReasonTexts(
        "Sure, you asked for a person. I'm connecting you to {queue} now. Please hold.",
        "Caller asked for a person",
        "asked for a person"),
    "dtmf": ReasonTexts(
        "Sure, you pressed the key for a person. I'm connecting you to {queue} now. "
        "Please hold.",
        "Caller pressed the key for a person",
        "pressed the key for a person"),
    "low_confidence": ReasonTexts(
        "I'm having trouble understanding you, so I'm connecting you to {queue}. "
        "Please hold.",
        "Caller could not be understood (low recognition confidence)",
        "could not be understood reliably"),
    "no_match": ReasonTexts(
        "Sorry, I couldn't work out what you need, so I'm connecting you to {queue}. "
        "Please hold.",
        "Caller's request did not match the menu",
        "asked for something the assistant could not handle"),
    "no_input": ReasonTexts(
        "I didn't hear anything, so I'm connecting you to {queue}. Please hold.",
        "Caller did not answer",
        "did not answer the assistant"),
    "flow": ReasonTexts(
        "I'm connecting you to {queue}. Please hold.",
        "Flow handed over",
        "needs a person for this request"),
    "error": ReasonTexts(
        "Sorry, something went wrong on our side, so I'm connecting you to {queue}. "
        "Please hold.",
        "A fault ended the automated part",
        "was handed over after a technical problem"),
    # The service cannot go on serving the call: it is shutting down, or at capacity.
    "service": ReasonTexts(
        "I'm sorry, I have to pass you to a person now. I'm connecting you to {queue}. "
        "Please hold.",
        "The automated assistant was unavailable (shutting down or at capacity)",
        "was handed over because the automated assistant was unavailable"),
}

# A flow's policy may override the hand-over texts per reason; these are the defaults.
DEFAULT_HANDOVER: dict[str, str] = {reason: t.handover for reason, t in TEXTS.items()}

# Said when a node's max_visits is reached and it names no overflow node (reason "flow").
LOOP_HANDOVER = ("We seem to be going round in circles, so I'm connecting you to {queue}. "
                 "Please hold.")

# Put before the prompt when a failed turn is asked again: a different one on each retry.
DEFAULT_REPROMPTS: dict[RetryReason, tuple[str, ...]] = {
    "no_match": ("Sorry, I didn't catch that.", "Sorry, I still didn't get that."),
    "no_input": ("Sorry, I didn't hear anything.", "Are you still there?"),
    "low_confidence": ("Sorry, I'm not sure I heard you right.",
                       "Sorry, I still couldn't hear that clearly."),
}
# Put before the question again when the caller says "no" to "I heard ... Is that right?".
RETRY_PREFIX = "Okay, let's try again."


def summary_lead(reason: str) -> str:
    """The agent summary's opening words for `reason` (the reason itself if unknown)."""
    texts = TEXTS.get(reason)
    return texts.summary if texts else reason


def whisper_reason(reason: str | None) -> str:
    """What the agent is told about why the caller comes to them."""
    texts = TEXTS.get(reason or "")
    return texts.whisper if texts else "was transferred"


def agent_summary(lead: str, intents: Sequence[str], slots: Mapping[str, Any],
                  heard: Sequence[str]) -> str:
    """The summary an agent gets when a flow names none: why, then what the call collected."""
    parts = [lead]
    if intents:
        parts.append("Intent: " + ", ".join(i.replace("_", " ") for i in intents) + ".")
    for name, value in slots.items():
        if isinstance(value, dict):
            shown = ", ".join(f"{k}={v}" for k, v in value.items())
            parts.append(f"{name}: {shown}.")
        else:
            parts.append(f"{name.replace('_', ' ')}: {value}.")
    parts.extend(f"Last heard: \"{text}\"." for text in heard)
    return " ".join(parts)
