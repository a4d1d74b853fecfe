"""The phase of a call: one named state, and one table of the steps between phases.

In the manner of h11's `_state.py`: the session reports what happened (a Step), the table
says which phase that leads to, and a step the table does not list for the current phase
is a bug in the session, raised at once as PhaseError rather than carried on in a tangle of
flags. The session's fail-safe turns that error, like any other, into a hand-over.

What plays to the caller (playback) and the keys being typed (keys) are not phases: prompts
play and keys arrive in several phases.
"""

from __future__ import annotations

from enum import Enum


class Phase(Enum):
    NOT_STARTED = "no 'start' from the stream yet"
    SPEAKING = "the bot has the floor and expects no answer (prompts may play)"
    LISTENING = "an answer is expected; no-input timer off (a prompt plays, or the caller " \
                "is speaking or keying)"
    WAITING = "an answer is expected and the prompts are done: the no-input timer runs"
    AWAITING_LOOKUP = "data is being read for the flow; only the escape key counts"
    FAULTED = "something broke: the hand-over to a person is being arranged"
    CLOSING = "the outcome is decided: the last prompts play, then the stream closes"
    CLOSED = "the stream is closed or ended: nothing more happens"


class Step(Enum):
    START = "the stream started"
    ASK = "the flow waits for an answer"
    ARM = "the prompts have played: the no-input timer (re)starts"
    INPUT = "the caller speaks or keys: the no-input timer stops"
    TURN = "the caller's turn goes to the flow"
    LOOKUP = "the flow asked for data"
    LOOKUP_DONE = "the data came back"
    FAULT = "something broke"
    DECIDE = "the flow decided the outcome (transfer or hang-up)"
    CLOSE = "the session closes the stream"
    END = "the stream ended (stop or drop), or the driver gave up on the call"


TRANSITIONS: dict[Phase, dict[Step, Phase]] = {
    Phase.NOT_STARTED: {Step.START: Phase.SPEAKING},
    Phase.SPEAKING: {
        Step.ASK: Phase.LISTENING, Step.TURN: Phase.SPEAKING, Step.LOOKUP: Phase.AWAITING_LOOKUP,
        Step.DECIDE: Phase.CLOSING, Step.FAULT: Phase.FAULTED, Step.END: Phase.CLOSED},
    Phase.LISTENING: {
        Step.ARM: Phase.WAITING, Step.INPUT: Phase.LISTENING, Step.TURN: Phase.SPEAKING,
        Step.FAULT: Phase.FAULTED, Step.END: Phase.CLOSED},
    Phase.WAITING: {
        Step.ARM: Phase.WAITING, Step.INPUT: Phase.LISTENING, Step.TURN: Phase.SPEAKING,
        Step.FAULT: Phase.FAULTED, Step.END: Phase.CLOSED},
    # The escape key still works while data is read (the lookup's answer is then moot).
    Phase.AWAITING_LOOKUP: {
        Step.TURN: Phase.AWAITING_LOOKUP, Step.LOOKUP_DONE: Phase.SPEAKING,
        Step.DECIDE: Phase.CLOSING, Step.FAULT: Phase.FAULTED, Step.END: Phase.CLOSED},
    Phase.FAULTED: {Step.DECIDE: Phase.CLOSING, Step.CLOSE: Phase.CLOSED, Step.END: Phase.CLOSED},
    Phase.CLOSING: {Step.CLOSE: Phase.CLOSED, Step.END: Phase.CLOSED},
    Phase.CLOSED: {},
}

DECIDED = frozenset({Phase.CLOSING, Phase.CLOSED})
# Phases in which, with nothing playing and the caller silent, nobody is waiting for
# anything: lasting there is a bug (the session hands over).
IDLE = frozenset({Phase.SPEAKING, Phase.FAULTED})


class PhaseError(RuntimeError):
    """A step the current phase does not allow: a bug in the session."""


class CallPhase:
    """The phase of one call, moved only by `process(step)`."""

    def __init__(self) -> None:
        self.state = Phase.NOT_STARTED

    def process(self, step: Step) -> Phase:
        try:
            self.state = TRANSITIONS[self.state][step]
        except KeyError:
            raise PhaseError(f"step {step.name} ({step.value}) is not allowed in phase "
                             f"{self.state.name}") from None
        return self.state

    def __repr__(self) -> str:
        return f"CallPhase({self.state.name})"
