"""What the session writes down about a call as it goes: the CallTranscript, and the
milestones at which the driver must save it (the start, each turn, the outcome, the end;
marks alone do not cost a write)."""

from __future__ import annotations

from typing import Any

from voicebot.flow.events import Say
from voicebot.records.transcript import CallTranscript, PromptRecord, TurnRecord


class CallRecord:
    def __init__(self, flow_name: str, flow_version: str, engine: str) -> None:
        self.transcript = CallTranscript(call_sid="", flow_name=flow_name,
                                         flow_version=flow_version, engine=engine)
        self.milestones = 0
        self._awaiting_reply: TurnRecord | None = None  # the turn whose reply is not out yet

    @property
    def decided(self) -> bool:
        return self.transcript.outcome is not None

    def milestone(self) -> None:
        self.milestones += 1

    def started(self, call_sid: str) -> None:
        self.transcript.call_sid = call_sid
        self.milestone()

    def prompt(self, say: Say, t: float) -> PromptRecord:
        """A prompt was sent; the first after a turn is that turn's reply."""
        record = PromptRecord(text=say.text, node=say.node, kind=say.kind, t_sent=t)
        self.transcript.prompts.append(record)
        if self._awaiting_reply is not None:
            self._awaiting_reply.t_reply = t
            self._awaiting_reply = None
        return record

    def turn(self, record: TurnRecord) -> None:
        self.transcript.turns.append(record)
        self._awaiting_reply = record
        self.milestone()

    def decide(self, outcome: str, reason: str, queue: str | None, summary: str,
               context: dict[str, Any]) -> None:
        tr = self.transcript
        tr.outcome, tr.reason, tr.queue = outcome, reason, queue
        tr.summary = summary
        tr.context = context
        self.milestone()

    def progress(self, context: dict[str, Any]) -> None:
        """What the call has collected so far (intent, slots, last turns), kept up to date
        after every turn until the call is decided: if the host serving the call dies, the
        host that answers Twilio's next request hands the caller over with it."""
        if not self.decided:
            self.transcript.context = context

    def fallback_transfer(self, queue: str, summary: str, context: dict[str, Any]) -> None:
        """Something else than the flow decided: a person, with reason error."""
        tr = self.transcript
        tr.outcome, tr.reason, tr.queue = "transfer", "error", queue
        tr.summary = tr.summary or summary
        tr.context = context or tr.context

    def caller_hung_up(self, context: dict[str, Any]) -> None:
        tr = self.transcript
        tr.outcome, tr.reason = "hangup", "caller_hangup"
        tr.context = context or tr.context

    def path(self, path: list[str]) -> None:
        if path != self.transcript.path:
            self.transcript.path = list(path)
