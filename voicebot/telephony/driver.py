"""CallDriver: one call's Twilio Media Streams conversation, with no socket inside.

Like h11's Connection: the transport (the Flask WebSocket route, or offline replay on a
virtual clock) feeds it every inbound Twilio message text with the current stream time and
sends back whatever it returns. Inside, it parses messages (media_stream), runs the call
session core (session), renders prompts to mu-law (speech.tts), performs lookups
(flow.lookup) and reports what happened to a recorder. Identical code serves live callers
and testers' replays.

    driver = CallDriver(deps: CallDeps, call_sid_hint: str | None = None)
    out: list[str] = driver.receive(text, now)   # one inbound Twilio JSON message
    out = driver.tick(now)                         # time passed with no message (timers)
    driver.finished -> bool     # True once the call logic is over; the transport then closes
                                # the WebSocket (Twilio then requests the <Connect> action URL)
    driver.transcript -> CallTranscript   # voicebot.records.transcript
    driver.stream_dropped(now)  # the socket closed without a 'stop': fail safe to a person
    out = driver.stop_serving(now)  # the service is shutting down: hand over, say so

`now` is seconds on the transport's clock (monotonic for live, virtual for replay).
Outbound texts are Twilio JSON messages: media (base64 mu-law 8 kHz), mark, clear.

    deps = CallDeps.create(flow, engine, renderer, recorder=None, endpoint=None,
                           fallback_queue=None, lookup=None)   # defaults for tests/replay

Each prompt goes out as media messages of 1 s followed by a mark named after it; the
session waits for that mark before it starts the no-input timer or closes the call. Malformed
messages are logged (`stream.bad_message`, with call_sid and a short reason) and skipped;
`bad_messages` counts them. Nothing here logs caller numbers, recognised text or slot values,
and the recorder gets the transcript reduced by the flow's `store` choices
(voicebot.records.minimise); the session keeps what was said, for the call itself.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from voicebot.flow.events import LookupDone, PerformLookup
from voicebot.flow.lookup import perform
from voicebot.flow.model import Flow
from voicebot.logs import log_event
from voicebot.records.minimise import Minimiser, StorageRules
from voicebot.records.recorder import NullRecorder, Recorder
from voicebot.records.transcript import CallTranscript
from voicebot.settings import EndpointSettings
from voicebot.speech.audio import ulaw_to_pcm16
from voicebot.speech.types import FRAME_BYTES, FRAME_MS, PHONE_RATE, Engine
from voicebot.telephony import media_stream as ms
from voicebot.telephony.session import (
    AudioFrame,
    CallSession,
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
    StopServing,
    StreamDropped,
    StreamStarted,
    StreamStopped,
    Tick,
)

logger = logging.getLogger(__name__)

# 1 s of mu-law per outbound media message: the whole prompt goes out at once (Twilio buffers
# it), and a few large messages leave no room for a gap if this thread is held up mid-prompt.
OUTBOUND_CHUNK_BYTES = PHONE_RATE
FRAME_S = FRAME_MS / 1000


class Renderer(Protocol):
    def render(self, text: str) -> bytes:
        """`text` as 8 kHz mu-law."""


LookupPerformer = Callable[[PerformLookup], LookupDone]


@dataclass
class CallDeps:
    """What a call needs from the process: shared by every call (engine, renderer, store)."""

    flow: Flow
    engine: Engine
    renderer: Renderer
    lookup: LookupPerformer = perform
    recorder: Recorder = field(default_factory=NullRecorder)
    endpoint: EndpointSettings = field(default_factory=EndpointSettings)
    fallback_queue: str = "support"
    storage: StorageRules | None = None  # how slots may be kept (None: the flow's, own key)

    @classmethod
    def create(cls, flow: Flow, engine: Engine, renderer: Renderer, *,
               recorder: Recorder | None = None, endpoint: EndpointSettings | None = None,
               fallback_queue: str | None = None,
               lookup: LookupPerformer | None = None) -> CallDeps:
        """Defaults for tests and replay: no recording, default endpointing, the flow's
        fallback queue, lookups by voicebot.flow.lookup.perform."""
        return cls(
            flow=flow,
            engine=engine,
            renderer=renderer,
            lookup=lookup or perform,
            recorder=recorder if recorder is not None else NullRecorder(),
            endpoint=endpoint or EndpointSettings(),
            fallback_queue=fallback_queue or flow.fallback_queue or "support",
        )


class CallDriver:
    """One call: Twilio message texts in, Twilio message texts out (see the module doc)."""

    def __init__(self, deps: CallDeps, call_sid_hint: str | None = None) -> None:
        self.deps = deps
        self.session = CallSession(deps.flow, deps.engine, deps.endpoint, deps.fallback_queue)
        self._call_sid = call_sid_hint or ""
        self._stream_sid: str | None = None
        self._from_number: str | None = None
        self.custom_parameters: dict[str, str] = {}
        self._pcm = b""  # inbound PCM not yet a whole 20 ms frame
        self._saved_milestone = -1  # session.milestones at the last save
        self._ended_saved = False
        self.finished = False
        self.bad_messages = 0  # malformed inbound messages skipped (for tests and stats)
        # What is stored is reduced by the flow's storage choices; the session keeps what
        # was said, for the call itself (and for offline replay, which stores nothing).
        self._minimiser = None if isinstance(deps.recorder, NullRecorder) else Minimiser(
            deps.storage or StorageRules.for_flow(deps.flow))

    # ----------------------------------------------------------------------- public

    @property
    def transcript(self) -> CallTranscript:
        return self.session.transcript

    @property
    def call_sid(self) -> str:
        return self.session.call_sid or self._call_sid

    @property
    def stream_sid(self) -> str | None:
        return self._stream_sid

    def receive(self, text: str | bytes, now: float) -> list[str]:
        """One inbound Twilio message; returns the messages to send back, in order."""
        if self.finished:
            return []
        try:
            event = ms.parse_message(text)
        except ms.StreamProtocolError as err:
            return self._skip(err.reason, err.event)
        except Exception as exc:  # noqa: BLE001 - a wire-format bug skips, never ends a call
            return self._skip(f"unreadable message ({type(exc).__name__})")
        try:
            return self._receive(event, now)
        except Exception as exc:  # a driver bug must still end with a person
            return self._driver_fault(exc, now)

    def tick(self, now: float) -> list[str]:
        """No message for a while: let timers run (mark watchdog, keyed answers, no-input)."""
        if self.finished or not self.session.started:
            return []
        try:
            return self._run([Tick(now)], now)
        except Exception as exc:
            return self._driver_fault(exc, now)

    def stop_serving(self, now: float) -> list[str]:
        """The service is shutting down: hand the caller to a person with a short message
        (the stream then closes after it has played, as for any hand-over)."""
        if self.finished or not self.session.started:
            return []
        try:
            return self._run([StopServing(now)], now)
        except Exception as exc:
            return self._driver_fault(exc, now)

    def replies_sent(self, now: float) -> None:
        """The transport sent what the last receive/tick returned at `now` on its clock,
        after that step's work (a decode, a render): a turn answered in that step is
        recorded as answered then, so the records hold the turn gap the caller had. Offline
        replay, whose clock does not move during a step, need not call it."""
        self.session.reply_sent(now)

    def stream_dropped(self, now: float) -> None:
        """The socket closed without 'stop'. Recorded as a transfer with reason error unless
        the call had already been decided."""
        if self.session.closed:
            self.finished = True
            self._save(final=True)
            return
        if self.session.started:
            self.session.handle(StreamDropped(now))
        else:
            log_event(logger, "stream.dropped_before_start", logging.WARNING,
                      call_sid=self.call_sid)
        self.finished = True
        self._save(final=True)

    # --------------------------------------------------------------------- internals

    def _skip(self, reason: str, event: str | None = None) -> list[str]:
        self.bad_messages += 1
        log_event(logger, "stream.bad_message", logging.WARNING, call_sid=self.call_sid,
                  reason=reason, stream_event=event or "")
        return []

    def _receive(self, event: ms.StreamEvent, now: float) -> list[str]:
        if isinstance(event, ms.Connected):
            return []
        if isinstance(event, ms.Start):
            return self._start(event, now)
        if not self.session.started:
            if isinstance(event, ms.Stop):  # the call ended before it began
                self.finished = True
            return self._skip(f"'{type(event).__name__.lower()}' before 'start'")
        if event.stream_sid != self._stream_sid:
            return self._skip("message for another streamSid")
        if isinstance(event, ms.Media):
            if event.track not in ("inbound", "inbound_track"):
                return []
            return self._run(self._frames(event.payload, now), now)
        if isinstance(event, ms.Dtmf):
            return self._run([KeyPressed(now, event.digit)], now)
        if isinstance(event, ms.Mark):
            return self._run([MarkPlayed(now, event.name)], now)
        if isinstance(event, ms.Stop):
            self.session.handle(StreamStopped(now))
            self.finished = True
            self._save(final=True)
            return []
        return []

    def _start(self, event: ms.Start, now: float) -> list[str]:
        if self.session.started:
            return self._skip("a second 'start' on one stream", "start")
        self._stream_sid = event.stream_sid
        self._call_sid = event.call_sid
        self.custom_parameters = dict(event.custom_parameters)
        self._from_number = event.custom_parameters.get("from") or None
        wanted = event.custom_parameters.get("flow")
        if wanted and wanted != self.deps.flow.name:
            log_event(logger, "call.flow_parameter_ignored", logging.WARNING,
                      call_sid=self.call_sid, wanted=wanted, serving=self.deps.flow.name)
        variant = event.custom_parameters.get("variant")
        if variant:
            self._run_variant(variant)
        return self._run([StreamStarted(now, event.call_sid)], now)

    def _run_variant(self, name: str) -> None:
        """The webhook gave the caller a variant of the flow (an A/B test): run that one."""
        flow = self.deps.flow
        chosen = flow.variant_named(name) if hasattr(flow, "variant_named") else flow
        if chosen is flow:
            log_event(logger, "call.variant_unknown", logging.WARNING, call_sid=self.call_sid,
                      variant=name, flow=flow.name)
            return
        self.session = CallSession(chosen, self.deps.engine, self.deps.endpoint,
                                   self.deps.fallback_queue)

    def _frames(self, ulaw: bytes, now: float) -> list[SessionEvent]:
        self._pcm += ulaw_to_pcm16(ulaw)
        count = len(self._pcm) // FRAME_BYTES
        frames = [self._pcm[i * FRAME_BYTES:(i + 1) * FRAME_BYTES] for i in range(count)]
        self._pcm = self._pcm[count * FRAME_BYTES:]
        # the newest frame ends now; earlier ones in the same message came before it
        return [AudioFrame(now - (count - 1 - i) * FRAME_S, frame)
                for i, frame in enumerate(frames)]

    def _run(self, events: list[SessionEvent], now: float) -> list[str]:
        """Feed events to the session and perform its actions (which may feed more events)."""
        out: list[str] = []
        pending: deque[SessionEvent] = deque(events)
        while pending and not self.finished:
            actions = self.session.handle(pending.popleft())
            for action in actions:
                out += self._perform(action, now, pending)
        self._save(final=self.finished)
        return out

    def _perform(self, action: SessionAction, now: float,
                 pending: deque[SessionEvent]) -> list[str]:
        sid = self._stream_sid or ""
        if isinstance(action, PlayPrompt):
            try:
                ulaw = self.deps.renderer.render(action.text)
            except Exception as exc:
                log_event(logger, "prompt.render_failed", logging.ERROR, call_sid=self.call_sid,
                          node=action.node, kind=action.kind, error=type(exc).__name__)
                pending.append(PromptFailed(now, action.mark, type(exc).__name__))
                return []
            out = [ms.media_message(sid, ulaw[i:i + OUTBOUND_CHUNK_BYTES])
                   for i in range(0, len(ulaw), OUTBOUND_CHUNK_BYTES)]
            out.append(ms.mark_message(sid, action.mark))
            pending.append(PromptQueued(now, action.mark, len(ulaw) / PHONE_RATE))
            return out
        if isinstance(action, ClearAudio):
            return [ms.clear_message(sid)]
        if isinstance(action, RunLookup):
            try:
                result = self.deps.lookup(action.lookup)
            except Exception as exc:
                log_event(logger, "lookup.raised", logging.ERROR, call_sid=self.call_sid,
                          node=action.lookup.node, error=type(exc).__name__)
                pending.append(PartFailed(now, "lookup", type(exc).__name__))
                return []
            log_event(logger, "lookup.done", call_sid=self.call_sid, node=action.lookup.node,
                      ok=result.ok, found=result.record is not None)
            pending.append(LookupFinished(now, result))
            return []
        if isinstance(action, CloseStream):
            self.finished = True
            return []
        return []

    def _driver_fault(self, exc: Exception, now: float) -> list[str]:
        log_event(logger, "driver.fault", logging.ERROR, call_sid=self.call_sid,
                  error=type(exc).__name__)
        if not self.session.started or self.finished:
            return []
        try:
            return self._run([PartFailed(now, "driver", type(exc).__name__)], now)
        except Exception as again:  # give up on talking, still hand over
            log_event(logger, "driver.fault_again", logging.ERROR, call_sid=self.call_sid,
                      error=type(again).__name__)
            self.session.abandon()
            self.finished = True
            self._save(final=True)
            return []

    def _save(self, *, final: bool = False) -> None:
        if self._ended_saved:
            return
        if not final and self.session.milestones == self._saved_milestone:
            return
        if not self.session.started and not final:
            return
        self._saved_milestone = self.session.milestones
        if final:
            self._ended_saved = True
        try:
            transcript = self.session.transcript
            if self._minimiser is not None:
                transcript = self._minimiser.stored(transcript)
            self.deps.recorder.save(transcript, from_number=self._from_number, ended=final)
        except Exception as exc:  # the call goes on without its record
            log_event(logger, "recorder.failed", logging.ERROR, call_sid=self.call_sid,
                      error=type(exc).__name__)
