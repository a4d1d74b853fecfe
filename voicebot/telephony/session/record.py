"""What the session writes down about a call as it goes: the CallTranscript, and the
milestones at which the driver must save it (the start, each turn, the outcome, the end;
marks alone do not cost a write)."""

from __future__ import annotations

from typing import Any

from voicebot.flow.events import Say
from voicebot.flow.interpreter import FlowSession
from voicebot.records.transcript import CallTranscript, PromptRecord, TurnRecord


class CallRecord:
    def __init__(self, flow_name: str, flow_version: str, engine: str,
                 variant: str | None = None) -> None:
        self.transcript = CallTranscript(call_sid="", flow_name=flow_name,
                                         flow_version=flow_version, engine=engine,
                                         flow_variant=variant)
        self.milestones = 0
        self._awaiting_reply: TurnRecord | None = None  # the turn whose reply is not out yet
        self._just_replied: TurnRecord | None = None  # the turn answered in the last step

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
            self._just_replied, self._awaiting_reply = self._awaiting_reply, None
        return record

    def reply_sent(self, t: float) -> None:
        """The reply of the turn answered in the last step left at `t`, after the step's
        decoding and rendering (which the step's own time does not include)."""
        turn, self._just_replied = self._just_replied, None
        if turn is not None and turn.t_reply is not None and t > turn.t_reply:
            turn.t_reply = t

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

    def progress(self, context: dict[str, Any], csat: int | None = None) -> None:
        """What the call has collected so far (intent, slots, last turns), kept up to date
        after every turn until the call is decided: if the host serving the call dies, the
        host that answers Twilio's next request hands the caller over with it. `csat`: the
        caller's survey answer, once given."""
        if csat is not None:
            self.transcript.csat = csat
        if not self.decided:
            self.transcript.context = context

    def fallback_transfer(self, queue: str, summary: str, context: dict[str, Any]) -> None:
        """Something else than the flow decided: a person, with reason error."""
        tr = self.transcript
        tr.outcome, tr.reason, tr.queue = "transfer", "error", queue
        tr.summary = tr.summary or summary
        tr.context = context or tr.context

    def caller_hung_up(self, context: dict[str, Any], *, business_done: bool = False) -> None:
        """The caller hung up before the flow ended the call; during the survey (their
        business done, only a rating asked) the call counts as completed."""
        tr = self.transcript
        tr.outcome, tr.reason = "hangup", "completed" if business_done else "caller_hangup"
        tr.context = context or tr.context

    def path(self, path: list[str]) -> None:
        if path != self.transcript.path:
            self.transcript.path = list(path)


def turn_outcome(flow_session: FlowSession, before: int) -> tuple[str | None, str | None]:
    """The intent the turn just taken matched (not one left over from an earlier turn), and
    what the flow made of it (matched, no_match, no_input, ...); `before`: turns before it."""
    turns = flow_session.turns
    if len(turns) > before:
        intent, result = turns[-1].get("intent"), turns[-1].get("result")
        return (str(intent) if intent else None), (str(result) if result else None)
    return flow_session.intent, None
