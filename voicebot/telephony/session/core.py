"""CallSession: the logic of one phone call, fed timed events and returning actions.

No sockets, threads or clocks: the driver (live WebSocket or offline replay) tells it what
happened and when, and performs what it returns, so a live call and a replayed recording
run the same decisions. The session hands the caller's turns (turns.TurnTaking) to the
FlowSession and does what the flow says: prompts (playback), lookups, the outcome (record),
closing the stream; phase says where the call stands.

Fail safe: any exception (engine, flow, TTS, lookup, the session itself) becomes a Fault the
flow hands over for, with reason "error"; a second failure or a broken flow still hands
over. Never silence, never a hang-up because of a fault.
Times in the transcript are stream seconds (0 = the 'start' message).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from voicebot.flow.events import (
    Fault,
    FlowAction,
    FlowEvent,
    Hangup,
    Listen,
    LookupDone,
    PerformLookup,
    Say,
    Transfer,
)
from voicebot.flow.interpreter import FlowSession
from voicebot.flow.model import Flow
from voicebot.logs import log_event
from voicebot.records.transcript import CallTranscript
from voicebot.settings import EndpointSettings
from voicebot.speech.types import Engine
from voicebot.telephony.session.events import (
    AudioFrame,
    ClearAudio,
    CloseStream,
    KeyPressed,
    LookupFinished,
    MarkPlayed,
    PartFailed,
    PlayPrompt,
    PromptFailed,
    PromptQueued,
    RunLookup,
    SessionAction,
    SessionEvent,
    StreamDropped,
    StreamStarted,
    StreamStopped,
)
from voicebot.telephony.session.phase import DECIDED, IDLE, CallPhase, Phase, Step
from voicebot.telephony.session.playback import Playback
from voicebot.telephony.session.record import CallRecord
from voicebot.telephony.session.turns import Heard, Turn, TurnTaking
from voicebot.telephony.session.utterance import PartFailure, part

logger = logging.getLogger(__name__)

STUCK_S = 3.0  # silent with nothing expected this long: a bug; hand over to a person
UNSKIPPABLE = ("disclosure", "handover", "goodbye")  # prompt kinds only an escape may cut
FALLBACK_HANDOVER = ("Sorry, the automated assistant has a problem, so I'm connecting you "
                     "to a person. Please hold.")
FAULT_SUMMARY = "The automated assistant failed during the call."
DROPPED_SUMMARY = "The call's audio stream dropped; the caller may need to be called back."


class CallSession:
    """One call's decisions. `handle(event) -> list[SessionAction]`; see the module doc."""

    def __init__(self, flow: Flow, engine: Engine, endpoint: EndpointSettings | None = None,
                 fallback_queue: str | None = None) -> None:
        self.flow = flow
        self.flow_session = FlowSession(flow)
        self.fallback_queue = fallback_queue or flow.fallback_queue or "support"
        self.record = CallRecord(str(flow.name), str(flow.version),
                                 f"{engine.name}:{engine.model}".strip(":"))
        self.phase = CallPhase()
        self.playback = Playback()
        self.turns = TurnTaking(flow, self.flow_session, engine, endpoint or EndpointSettings(),
                                self.phase, self.playback)
        self._t0 = 0.0
        self._now = 0.0
        self._idle_since: float | None = None

    # ------------------------------------------------------------------------ public

    @property
    def transcript(self) -> CallTranscript:
        return self.record.transcript

    @property
    def milestones(self) -> int:
        """Bumps whenever the record must be saved (see record.CallRecord)."""
        return self.record.milestones

    @property
    def call_sid(self) -> str:
        return self.transcript.call_sid

    @property
    def started(self) -> bool:
        return self.phase.state is not Phase.NOT_STARTED

    @property
    def closed(self) -> bool:
        return self.phase.state is Phase.CLOSED

    @property
    def playing(self) -> bool:
        """True while prompt audio is (believed to be) playing to the caller."""
        return self.playback.playing

    def handle(self, event: SessionEvent) -> list[SessionAction]:
        """Feed one event; returns what the driver must do, in order."""
        if isinstance(event, StreamStarted):
            return self._on_start(event)
        if not self.started:
            return []
        t = self._now = max(self._now, event.t - self._t0)
        if isinstance(event, StreamStopped | StreamDropped):
            return self._on_end(event, t)
        if self.closed:
            return []
        try:
            out = self._timers(t)
            return out if self.closed else out + self._dispatch(event, t)
        except PartFailure as failure:
            return self._fault(t, failure.where, failure.exc)
        except Exception as exc:  # the session's own bug: still a person, never silence
            return self._fault(t, "session", exc)

    def abandon(self) -> None:
        """The driver could not even hand over (its own fault handling failed): decide
        nothing more. The record says transfer / error unless the call was decided."""
        tr = self.transcript
        if tr.outcome is None:
            tr.outcome, tr.reason, tr.queue = "transfer", "error", self.fallback_queue
        if self.started and not self.closed:
            self.phase.process(Step.END)

    # ------------------------------------------------------------------ event handlers

    def _dispatch(self, event: SessionEvent, t: float) -> list[SessionAction]:
        match event:
            case AudioFrame() if self.phase.state not in DECIDED:
                return self._take(self.turns.audio(event.pcm, t), t)
            case KeyPressed() if self.phase.state not in DECIDED:
                return self._take(self.turns.key(event.digit, t), t)
            case MarkPlayed():
                return self._on_mark(event.name, t)
            case PromptQueued():
                self.playback.queued(event.mark, event.duration, t)
            case PromptFailed():
                if self.playback.failed(event.mark):  # else already cleared by a fault
                    return self._fault(t, "tts", event.detail)
            case PartFailed():
                return self._fault(t, event.where, event.error)
            case LookupFinished():
                return self._on_lookup(event.result, t)
        return []  # a Tick only runs the timers; the caller is not heard once decided

    def _on_start(self, event: StreamStarted) -> list[SessionAction]:
        if self.started:
            return []
        self.phase.process(Step.START)
        self._t0 = event.t
        self.record.started(event.call_sid)
        self.turns.call_sid = event.call_sid
        log_event(logger, "call.started", call_sid=event.call_sid,
                  flow=self.transcript.flow_name, flow_version=self.transcript.flow_version,
                  engine=self.transcript.engine)
        try:
            with part("flow.start"):
                actions = self.flow_session.start()
        except PartFailure as failure:
            return self._fault(0.0, failure.where, failure.exc)
        if not actions or not (isinstance(actions[0], Say) and actions[0].kind == "disclosure"):
            log_event(logger, "call.no_disclosure_first", logging.WARNING,
                      call_sid=self.call_sid)
        return self._apply(actions, 0.0)

    def _on_mark(self, name: str, t: float) -> list[SessionAction]:
        # an unknown mark is a cleared prompt's, coming back
        return self._after_playback(t) if self.playback.played(name, t) else []

    def _on_lookup(self, result: LookupDone, t: float) -> list[SessionAction]:
        if self.phase.state is not Phase.AWAITING_LOOKUP:
            return []
        self.phase.process(Step.LOOKUP_DONE)
        return self._apply(self._ask_flow(result), t)

    def _on_end(self, event: StreamStopped | StreamDropped, t: float) -> list[SessionAction]:
        if self.closed:
            return []
        self.phase.process(Step.END)
        self.turns.utterance = None
        dropped = isinstance(event, StreamDropped)
        log_event(logger, "call.stream_dropped" if dropped else "call.stream_stopped",
                  logging.WARNING if dropped else logging.INFO, call_sid=self.call_sid,
                  decided=self.transcript.outcome or "")
        if not self.record.decided and dropped:
            self.record.fallback_transfer(self.fallback_queue, DROPPED_SUMMARY,
                                          self._summary_context())
        elif not self.record.decided:
            self.record.caller_hung_up(self._summary_context())
        self.record.path(self.flow_session.path)
        self.record.milestone()
        return []

    # ------------------------------------------------------------------ timers and playback

    def _timers(self, t: float) -> list[SessionAction]:
        out = self._take(self.turns.keys_due(t), t)
        mark = self.playback.overdue(t)
        if mark is not None:
            log_event(logger, "mark.missing", logging.WARNING, call_sid=self.call_sid,
                      mark=mark)
            out += self._on_mark(mark, t)
        if self._stuck(t):
            self._idle_since = None
            return out + self._fault(t, "session.stuck", "NothingToDo")
        return out + self._take(self.turns.poll(t), t)

    def _stuck(self, t: float) -> bool:
        """Nothing playing and nothing expected of anyone: silence, a flow or session bug.
        Never leave a caller there; hand over after STUCK_S."""
        if (self.phase.state not in IDLE or self.playback.playing
                or self.turns.utterance is not None or self.turns.keys.collecting):
            self._idle_since = None
            return False
        if self._idle_since is None:
            self._idle_since = t
        return t - self._idle_since >= STUCK_S

    def _after_playback(self, t: float) -> list[SessionAction]:
        if self.playback.playing:
            return []
        if self.phase.state is Phase.CLOSING:
            return self._close()
        if self.phase.state is Phase.LISTENING:
            self.turns.arm(t)
        return []

    # ------------------------------------------------------------------ flow actions

    def _take(self, heard: list[Heard], t: float) -> list[SessionAction]:
        out: list[SessionAction] = []
        for item in heard:
            out += self._turn(item, t) if isinstance(item, Turn) else [item]
        return out

    def _turn(self, turn: Turn, t: float) -> list[SessionAction]:
        """Give the caller's turn to the flow and do what it says."""
        previous, was_armed = self.turns.listen, self.phase.state is Phase.WAITING
        self.turns.end_timings(t)
        self.turns.listen = None
        self.phase.process(Step.TURN)
        record = turn.record
        self.record.turn(record)
        log_event(logger, "call.turn", call_sid=self.call_sid, node=record.node,
                  kind=record.kind, confidence=record.confidence,
                  in_grammar=record.in_grammar, during_prompt=record.during_prompt)
        before = len(self.flow_session.turns)
        actions = self._ask_flow(turn.event)
        record.intent = self._turn_intent(before)
        self.record.progress(self._summary_context())
        if not actions and previous is not None:
            # The flow let the turn pass (a lone '#'): it still waits for the same answer,
            # so keep listening instead of falling silent.
            self.turns.listen = previous
            self.phase.process(Step.ASK)
            if was_armed or not self.playback.playing:
                self.turns.arm(t)
            return []
        return self._apply(actions, t)

    def _apply(self, actions: list[FlowAction], t: float) -> list[SessionAction]:
        out: list[SessionAction] = []
        for action in actions:
            if self.closed:
                break
            match action:
                case Say():
                    out.append(self._say(action, t))
                case Listen():
                    self.turns.listen = action
                    self.phase.process(Step.ASK)
                    self.turns.end_timings(t)  # its end silences hold from now (prompts too)
                    out += self._after_playback(t)
                case PerformLookup():
                    self.phase.process(Step.LOOKUP)
                    out.append(RunLookup(action))
                case Transfer():
                    out += self._decide("transfer", action.reason, action.queue,
                                        action.summary, action.context, t)
                case Hangup():
                    out += self._decide("hangup", action.reason, None, "", {}, t)
        self.record.path(self.flow_session.path)
        return out

    def _say(self, say: Say, t: float) -> PlayPrompt:
        interruptible = say.interruptible and say.kind not in UNSKIPPABLE
        mark = self.playback.send(self.record.prompt(say, t), interruptible)
        log_event(logger, "prompt.sent", call_sid=self.call_sid, node=say.node, kind=say.kind,
                  mark=mark)
        return PlayPrompt(text=say.text, kind=say.kind, node=say.node, mark=mark,
                          interruptible=interruptible)

    def _decide(self, outcome: str, reason: str, queue: str | None, summary: str,
                context: dict[str, Any], t: float) -> list[SessionAction]:
        self.record.decide(outcome, reason, queue, summary,
                           dict(context) if context else self._summary_context())
        self.phase.process(Step.DECIDE)
        self.turns.listen = None
        self.turns.drop()  # speech or keys in progress answer nothing now
        self.turns.end_timings(t)
        log_event(logger, f"call.{outcome}", call_sid=self.call_sid, reason=reason,
                  queue=queue or "")
        return self._after_playback(t)

    def _close(self) -> list[SessionAction]:
        if self.closed:
            return []
        self.phase.process(Step.CLOSE)
        self.record.milestone()
        tr = self.transcript
        log_event(logger, "call.closing_stream", call_sid=self.call_sid,
                  outcome=tr.outcome or "", reason=tr.reason or "")
        return [CloseStream(outcome=tr.outcome or "transfer", reason=tr.reason or "error",
                            queue=tr.queue)]

    # ------------------------------------------------------------------------- faults

    def _fault(self, t: float, where: str, exc: BaseException | str) -> list[SessionAction]:
        error = exc if isinstance(exc, str) else type(exc).__name__
        log_event(logger, "call.fault", logging.ERROR, call_sid=self.call_sid, where=where,
                  error=error, node=self.flow_session.node)
        if self.closed:
            return []
        self.turns.drop()
        if self.phase.state in (Phase.FAULTED, Phase.CLOSING):
            # Already handing over (or the hand-over itself broke): close now, to a person
            # unless the flow had already finished with a goodbye.
            self.playback.forget()
            if not self.record.decided:
                self.record.fallback_transfer(self.fallback_queue, FAULT_SUMMARY,
                                              self._summary_context())
            return self._close()
        self.phase.process(Step.FAULT)
        out: list[SessionAction] = [ClearAudio()] if self.playback.clear(barged_in=False) else []
        self.turns.listen = None
        with contextlib.suppress(Exception):  # the endpointer may be what broke
            self.turns.end_timings(t)
        try:
            actions = self._ask_flow(Fault(f"{where}: {error}"))
        except PartFailure:
            actions = []
        if not any(isinstance(a, Transfer) for a in actions):
            actions = [Say(FALLBACK_HANDOVER, self.flow_session.node, "handover", False),
                       Transfer(self.fallback_queue, "error", FAULT_SUMMARY,
                                self._summary_context())]
        return out + self._apply(actions, t)

    # ------------------------------------------------------------------ asking the flow

    def _ask_flow(self, event: FlowEvent) -> list[FlowAction]:
        with part("flow.handle"):
            return self.flow_session.handle(event)

    def _turn_intent(self, before: int) -> str | None:
        """The intent this turn matched (not one left over from an earlier turn)."""
        turns = self.flow_session.turns
        if len(turns) > before:
            intent = turns[-1].get("intent")
            return str(intent) if intent else None
        return self.flow_session.intent

    def _summary_context(self) -> dict[str, Any]:
        try:
            return dict(self.flow_session.summary_context())
        except Exception:  # context is a courtesy; never break the hand-over
            return {}
