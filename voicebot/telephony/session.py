"""CallSession: the logic of one phone call, fed timed events and returning actions.

No sockets, threads or clocks: the driver (live WebSocket or offline replay) tells it what
happened and when, and performs what it returns. So a live call and a replayed recording run
exactly the same decisions.

What it owns and why:
  * the FlowSession (what to say next), one Endpointer (where turns start and end), the
    recognizer of the utterance in progress (created at speech start so a turn costs only
    what it hears), the prompts still playing (their marks outstanding), the CallTranscript.
  * The disclosure plays first; while a non-interruptible prompt plays, speech is recognised
    against the escape phrases only and anything else is ignored: the caller can always ask
    for a person, but cannot skip being told they talk to a machine.
  * Barge-in: speech or a key during an interruptible prompt clears Twilio's buffer and the
    bot listens at once.
  * No-input timers start when the last prompt's mark comes back (the caller heard it all),
    not when the audio was sent.
  * Where a turn ends (VoiceXML's complete / incomplete timeouts): an answer that already
    decides the turn (a confident phrase nothing longer in the grammar could change) ends
    at a short silence (end_check), anything else at the usual one. A spoken number may
    pause between digit groups, so its turn ends after a longer silence, unless at the
    usual silence the early decode already holds an escape phrase.
  * Fail safe: any exception from the engine, the flow, the TTS or a lookup becomes a Fault
    for the flow, which hands over to a person with reason "error". A second failure, or a
    broken flow, still hands over (built-in words, fallback queue). Never silence, never a
    hang-up because of a fault.
Times in the transcript are stream seconds (0 = the 'start' message).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from voicebot.flow.events import (
    Digits,
    Fault,
    FlowAction,
    Hangup,
    Listen,
    LookupDone,
    NoInput,
    PerformLookup,
    Recognized,
    Say,
    Transfer,
)
from voicebot.logs import log_event
from voicebot.records.transcript import CallTranscript, PromptRecord, TurnRecord
from voicebot.settings import EndpointSettings
from voicebot.speech.turn_end import complete_check_ms, decides
from voicebot.speech.types import Engine, Grammar, Hypothesis, Recognizer

logger = logging.getLogger(__name__)

MARK_GRACE_S = 5.0  # a mark this late after its audio should have ended counts as played
INTER_DIGIT_S = 5.0  # a keyed answer ends this long after the last key
STUCK_S = 3.0  # silent with nothing expected this long: a bug; hand over to a person
FALLBACK_HANDOVER = ("Sorry, the automated assistant has a problem, so I'm connecting you "
                     "to a person. Please hold.")

# ------------------------------------------------------------------ events (driver -> session)


@dataclass(frozen=True)
class StreamStarted:
    t: float
    call_sid: str


@dataclass(frozen=True)
class AudioFrame:
    """20 ms of the caller's audio: 8 kHz 16-bit PCM (320 bytes)."""

    t: float
    pcm: bytes = field(repr=False)


@dataclass(frozen=True)
class KeyPressed:
    t: float
    digit: str


@dataclass(frozen=True)
class MarkPlayed:
    """Twilio says the audio before mark `name` has played (or was cleared)."""

    t: float
    name: str


@dataclass(frozen=True)
class PromptQueued:
    """The driver rendered and sent the prompt of `mark`: `duration` seconds of audio."""

    t: float
    mark: str
    duration: float


@dataclass(frozen=True)
class PromptFailed:
    """The prompt of `mark` could not be rendered (TTS error): nothing was sent."""

    t: float
    mark: str
    detail: str


@dataclass(frozen=True)
class PartFailed:
    """Something the driver ran for the session raised (`where`: "lookup", "driver", ...)."""

    t: float
    where: str
    error: str  # exception type name: no message text, which may hold personal data


@dataclass(frozen=True)
class LookupFinished:
    t: float
    result: LookupDone


@dataclass(frozen=True)
class Tick:
    """Time passed without a message (timers: marks, keyed answers, no-input)."""

    t: float


@dataclass(frozen=True)
class StreamStopped:
    """Twilio sent 'stop': the call ended on Twilio's side (usually the caller hung up)."""

    t: float


@dataclass(frozen=True)
class StreamDropped:
    """The socket closed without 'stop': a fault; the record says transfer / error."""

    t: float


SessionEvent = (StreamStarted | AudioFrame | KeyPressed | MarkPlayed | PromptQueued
                | PromptFailed | PartFailed | LookupFinished | Tick | StreamStopped
                | StreamDropped)

# ------------------------------------------------------------------ actions (session -> driver)


@dataclass(frozen=True)
class PlayPrompt:
    """Render `text`, send it, then send a mark named `mark` (report PromptQueued/Failed)."""

    text: str
    kind: str
    node: str
    mark: str
    interruptible: bool


@dataclass(frozen=True)
class ClearAudio:
    """Tell Twilio to drop the audio it still has buffered (barge-in, escape, fault)."""


@dataclass(frozen=True)
class RunLookup:
    """Perform the lookup and report LookupFinished."""

    lookup: PerformLookup


@dataclass(frozen=True)
class CloseStream:
    """The call logic is over: close the WebSocket; the <Connect> action route takes over."""

    outcome: str  # "transfer" | "hangup"
    reason: str
    queue: str | None


SessionAction = PlayPrompt | ClearAudio | RunLookup | CloseStream


# ------------------------------------------------------------------------------- internals


@dataclass
class _Playing:
    mark: str
    record: PromptRecord
    interruptible: bool
    expected_end: float | None = None  # stream time its audio should have finished


@dataclass
class _Utterance:
    escape_only: bool  # started during a non-interruptible prompt
    t_start: float
    node: str
    during_prompt: bool
    recognizer: Recognizer | None


def turn_grammar(listen: Listen) -> Grammar:
    """What the recognizer listens for in a turn: the flow's phrases, and digits when it
    collects a number (at most as many as the node wants)."""
    return Grammar(phrases=tuple(listen.grammar),
                   allow_digits=listen.slot_kind in ("digits", "number"),
                   max_digits=listen.max_digits, groups=listen.groups)


class _Failure(Exception):
    """An exception from a part of the call, with where it happened (for Fault.detail)."""

    def __init__(self, where: str, exc: BaseException) -> None:
        super().__init__(f"{where}: {type(exc).__name__}")
        self.where = where
        self.exc = exc


class CallSession:
    """One call's decisions. `handle(event) -> list[SessionAction]`; see the module doc."""

    def __init__(self, flow: Any, engine: Engine, endpoint: EndpointSettings | None = None,
                 fallback_queue: str | None = None, *, flow_session: Any = None,
                 endpointer: Any = None) -> None:
        if flow_session is None:
            from voicebot.flow.interpreter import FlowSession
            flow_session = FlowSession(flow)
        if endpointer is None:
            from voicebot.speech.endpoint import Endpointer
            endpointer = Endpointer(endpoint or EndpointSettings())
        self.flow = flow
        self.engine = engine
        self.endpoint_settings = endpoint or EndpointSettings()
        self.flow_session = flow_session
        self.endpointer = endpointer
        self.fallback_queue = (fallback_queue or getattr(flow, "fallback_queue", None)
                               or "support")
        self.transcript = CallTranscript(
            call_sid="",
            flow_name=str(getattr(flow, "name", "")),
            flow_version=str(getattr(flow, "version", "")),
            engine=f"{getattr(engine, 'name', '')}:{getattr(engine, 'model', '')}".strip(":"),
        )
        self.revision = 0  # bumps whenever the transcript changes
        # bumps at what a record must not miss: start, each turn, the outcome, the end (the
        # driver saves then, with the turn's reply prompts; marks alone do not cost a write)
        self.milestones = 0
        self.started = False
        self.closed = False
        self._t0 = 0.0
        self._now = 0.0
        self._playing: list[_Playing] = []
        self._prompt_count = 0
        self._listen: Listen | None = None  # what the caller may answer now
        self._armed = False  # the no-input timer runs (prompts done)
        self._utt: _Utterance | None = None
        self._keys = ""
        self._keys_t0 = 0.0
        self._keys_deadline: float | None = None
        self._keys_during_prompt = False
        self._awaiting_lookup = False
        self._closing = False
        self._faulted = False
        self._reply_turn: TurnRecord | None = None
        self._idle_since: float | None = None

    # ------------------------------------------------------------------------ public

    @property
    def call_sid(self) -> str:
        return self.transcript.call_sid

    @property
    def playing(self) -> bool:
        """True while prompt audio is (believed to be) playing to the caller."""
        return bool(self._playing)

    def handle(self, event: SessionEvent) -> list[SessionAction]:
        """Feed one event; returns what the driver must do, in order."""
        if isinstance(event, StreamStarted):
            return self._on_start(event)
        if not self.started:
            return []
        t = self._rel(event.t)
        if isinstance(event, StreamStopped | StreamDropped):
            return self._on_end(event, t)
        if self.closed:
            return []
        try:
            out = self._timers(t)
            if self.closed:
                return out
            if isinstance(event, AudioFrame):
                out += self._on_audio(event.pcm, t)
            elif isinstance(event, KeyPressed):
                out += self._on_key(event.digit, t)
            elif isinstance(event, MarkPlayed):
                out += self._on_mark(event.name, t)
            elif isinstance(event, PromptQueued):
                self._on_queued(event.mark, event.duration, t)
            elif isinstance(event, PromptFailed):
                out += self._on_prompt_failed(event.mark, event.detail, t)
            elif isinstance(event, PartFailed):
                out += self._fault(t, event.where, event.error)
            elif isinstance(event, LookupFinished):
                out += self._on_lookup(event.result, t)
            return out
        except _Failure as failure:
            return self._fault(t, failure.where, failure.exc)
        except Exception as exc:  # the session's own bug: still a person, never silence
            return self._fault(t, "session", exc)

    # ------------------------------------------------------------------ event handlers

    def _rel(self, t: float) -> float:
        self._now = max(self._now, t - self._t0)
        return self._now

    def _on_start(self, event: StreamStarted) -> list[SessionAction]:
        if self.started:
            return []
        self.started = True
        self._t0 = event.t
        self.transcript.call_sid = event.call_sid
        self.revision += 1
        self.milestones += 1
        log_event(logger, "call.started", call_sid=event.call_sid,
                  flow=self.transcript.flow_name, flow_version=self.transcript.flow_version,
                  engine=self.transcript.engine)
        try:
            actions = self._flow("start")
        except _Failure as failure:
            return self._fault(0.0, failure.where, failure.exc)
        if not actions or not (isinstance(actions[0], Say) and actions[0].kind == "disclosure"):
            log_event(logger, "call.no_disclosure_first", logging.WARNING,
                      call_sid=self.call_sid)
        return self._apply(actions, 0.0)

    def _on_audio(self, pcm: bytes, t: float) -> list[SessionAction]:
        if self._closing:
            return []
        try:
            result = self.endpointer.feed(pcm, t)
        except Exception as exc:
            raise _Failure("endpointer", exc) from exc
        out: list[SessionAction] = []
        fed = False
        for ev in result.events:
            if ev.kind == "speech_start":
                out += self._speech_start(ev.t)
                if self._utt is not None and result.audio:
                    self._accept(result.audio)
                fed = True
            elif ev.kind in ("speech_end", "max_length"):
                if not fed and self._utt is not None and result.audio:
                    self._accept(result.audio)
                fed = True
                out += self._speech_end(ev.t)
            elif ev.kind == "speech_pause":
                if not fed and self._utt is not None and result.audio:
                    self._accept(result.audio)
                fed = True
                self._prefetch(ev.tail_ms)
            elif ev.kind == "end_check":
                if not fed and self._utt is not None and result.audio:
                    self._accept(result.audio)
                fed = True
                out += self._end_check(ev.t)
            elif ev.kind == "no_input":
                out += self._no_input(ev.t)
            if self._closing:
                return out
        if not fed and self._utt is not None and result.audio:
            self._accept(result.audio)
        return out

    def _speech_start(self, t: float) -> list[SessionAction]:
        self._drop_utterance()
        current = self._playing[0] if self._playing else None
        node = self._listen.node if self._listen else self._flow_node()
        if self._awaiting_lookup:
            self._utt = _Utterance(False, t, node, False, None)  # heard, ignored
            return []
        if current is not None and not current.interruptible:
            # Recognise against the escape phrases plus what the caller may answer next, so
            # an early answer matches itself instead of being forced onto "agent".
            phrases = self._escape_phrases() + (self._listen.grammar if self._listen else ())
            groups = (self._escape_phrases(), *(self._listen.groups if self._listen else ()))
            grammar = Grammar(phrases=tuple(dict.fromkeys(phrases)), groups=groups)
            self._utt = _Utterance(True, t, node, True, self._recognizer(grammar))
            log_event(logger, "speech.during_disclosure", call_sid=self.call_sid, node=node)
            return []
        if self._listen is None:
            self._utt = _Utterance(False, t, node, bool(current), None)
            return []
        out: list[SessionAction] = []
        during = bool(self._playing)
        if during:
            out += self._clear(t, barged_in=True)
            log_event(logger, "call.barge_in", call_sid=self.call_sid, node=node)
        self._disarm(t)
        listen = self._listen
        self._utt = _Utterance(False, t, listen.node, during,
                               self._recognizer(turn_grammar(listen)))
        return out

    def _speech_end(self, t: float) -> list[SessionAction]:
        utt, self._utt = self._utt, None
        if utt is None or utt.recognizer is None:
            return self._rearm(t)
        try:
            hyp: Hypothesis = utt.recognizer.finish()
        except Exception as exc:
            raise _Failure("engine.finish", exc) from exc
        if utt.escape_only:
            if (hyp.text and hyp.in_grammar and hyp.confidence >= self._escape_threshold()
                    and self._is_escape_text(hyp.text)):
                out = self._clear(t, barged_in=True)
                return out + self._turn(
                    Recognized(hyp.text, hyp.confidence, hyp.in_grammar),
                    TurnRecord(node=utt.node, kind="speech", heard=hyp.text,
                               confidence=hyp.confidence, in_grammar=hyp.in_grammar,
                               t_start=utt.t_start, t_end=t, during_prompt=True), t)
            log_event(logger, "speech.ignored", call_sid=self.call_sid, node=utt.node,
                      why="not an escape phrase during a non-interruptible prompt")
            return self._rearm(t)
        if self._listen is None:
            return []
        return self._turn(
            Recognized(hyp.text, hyp.confidence, hyp.in_grammar),
            TurnRecord(node=utt.node, kind="speech", heard=hyp.text, confidence=hyp.confidence,
                       in_grammar=hyp.in_grammar, t_start=utt.t_start, t_end=t,
                       during_prompt=utt.during_prompt), t)

    def _no_input(self, t: float) -> list[SessionAction]:
        if not self._armed or self._listen is None or self._playing:
            return []
        return self._turn(NoInput(), TurnRecord(node=self._listen.node, kind="no_input",
                                                t_start=t, t_end=t), t)

    def _on_key(self, digit: str, t: float) -> list[SessionAction]:
        if self._closing:
            return []
        collecting = bool(self._keys)
        current = self._playing[0] if self._playing else None
        node = self._listen.node if self._listen else self._flow_node()
        if not collecting and self._is_escape_digit(digit):
            out = self._clear(t, barged_in=True) if self._playing else []
            self._drop_utterance()
            return out + self._turn(Digits(digit), TurnRecord(
                node=node, kind="dtmf", heard=digit, t_start=t, t_end=t,
                during_prompt=current is not None), t)
        if current is not None and not current.interruptible:
            log_event(logger, "dtmf.ignored", call_sid=self.call_sid, node=node,
                      why="non-interruptible prompt")
            return []
        if self._listen is None or self._awaiting_lookup:
            log_event(logger, "dtmf.ignored", call_sid=self.call_sid, node=node,
                      why="not listening")
            return []
        out: list[SessionAction] = []
        if self._playing:
            out += self._clear(t, barged_in=True)
            self._keys_during_prompt = True
        self._drop_utterance()  # keys win over speech in progress
        self._disarm(t)
        listen = self._listen
        if not self._keys:
            self._keys_t0 = t
        if listen.dtmf_max <= 1:
            return out + self._deliver_keys(digit, t)
        if digit == listen.dtmf_terminator:
            if not self._keys:  # a lone terminator ends nothing: keep listening
                if not self._playing:
                    self._arm(t, listen)
                return out
            return out + self._deliver_keys(self._keys, t)
        self._keys += digit
        if len(self._keys) >= listen.dtmf_max:
            return out + self._deliver_keys(self._keys, t)
        self._keys_deadline = t + INTER_DIGIT_S
        return out

    def _deliver_keys(self, keys: str, t: float) -> list[SessionAction]:
        during = self._keys_during_prompt or bool(self._playing)
        t0 = self._keys_t0 if self._keys else t
        self._keys, self._keys_deadline, self._keys_during_prompt = "", None, False
        node = self._listen.node if self._listen else self._flow_node()
        return self._turn(Digits(keys), TurnRecord(node=node, kind="dtmf", heard=keys,
                                                   t_start=t0, t_end=t, during_prompt=during), t)

    def _on_mark(self, name: str, t: float) -> list[SessionAction]:
        index = next((i for i, p in enumerate(self._playing) if p.mark == name), None)
        if index is None:
            return []  # a cleared prompt's mark coming back
        for played in self._playing[:index + 1]:
            played.record.t_played = t
        del self._playing[:index + 1]
        self.revision += 1
        return self._after_playback(t)

    def _on_queued(self, mark: str, duration: float, t: float) -> None:
        previous_end = t
        for p in self._playing:
            if p.mark == mark:
                p.expected_end = max(t, previous_end) + max(0.0, duration)
                return
            if p.expected_end is not None:
                previous_end = max(previous_end, p.expected_end)

    def _on_prompt_failed(self, mark: str, detail: str, t: float) -> list[SessionAction]:
        if not any(p.mark == mark for p in self._playing):
            return []  # already cleared by an earlier fault: nothing more to hand over
        self._playing = [p for p in self._playing if p.mark != mark]
        return self._fault(t, "tts", detail)

    def _on_lookup(self, result: LookupDone, t: float) -> list[SessionAction]:
        if not self._awaiting_lookup:
            return []
        self._awaiting_lookup = False
        return self._apply(self._flow("handle", result), t)

    def _on_end(self, event: StreamStopped | StreamDropped, t: float) -> list[SessionAction]:
        if self.closed:
            return []
        self.closed = True
        self._drop_utterance()
        tr = self.transcript
        if isinstance(event, StreamDropped):
            log_event(logger, "call.stream_dropped", logging.WARNING, call_sid=self.call_sid,
                      decided=tr.outcome or "")
            if tr.outcome is None:
                tr.outcome, tr.reason, tr.queue = "transfer", "error", self._fallback_queue()
                tr.summary = tr.summary or "The call's audio stream dropped; the caller may " \
                                           "need to be called back."
                tr.context = tr.context or self._summary_context()
        else:
            log_event(logger, "call.stream_stopped", call_sid=self.call_sid,
                      decided=tr.outcome or "")
            if tr.outcome is None:
                tr.outcome, tr.reason = "hangup", "caller_hangup"
                tr.context = tr.context or self._summary_context()
        self._sync_path()
        self.revision += 1
        self.milestones += 1
        return []

    # ----------------------------------------------------------------------- timers

    def _timers(self, t: float) -> list[SessionAction]:
        out: list[SessionAction] = []
        if self._keys_deadline is not None and t >= self._keys_deadline and self._keys:
            out += self._deliver_keys(self._keys, t)
        if self._playing:
            late = [p for p in self._playing
                    if p.expected_end is not None and t > p.expected_end + MARK_GRACE_S]
            if late:
                log_event(logger, "mark.missing", logging.WARNING, call_sid=self.call_sid,
                          mark=late[-1].mark)
                out += self._on_mark(late[-1].mark, t)
        if self._stuck(t):
            self._idle_since = None
            return out + self._fault(t, "session.stuck", "NothingToDo")
        if not self._closing and self._armed and not self.endpointer.in_speech:
            for ev in self.endpointer.poll(t):
                if ev.kind == "no_input":
                    out += self._no_input(t)
        return out

    def _stuck(self, t: float) -> bool:
        """Nothing playing, nothing expected from the caller, no lookup, not closing: silence.
        Never leave a caller there (a flow or session bug); hand over after STUCK_S."""
        idle = not (self._playing or self._listen or self._awaiting_lookup or self._closing
                    or self._utt or self._keys)
        if not idle:
            self._idle_since = None
            return False
        if self._idle_since is None:
            self._idle_since = t
        return t - self._idle_since >= STUCK_S

    def _after_playback(self, t: float) -> list[SessionAction]:
        if self._playing:
            return []
        if self._closing:
            return self._close(t)
        if self._listen is not None and not self._awaiting_lookup and not self._armed:
            self._arm(t, self._listen)
        return []

    def _arm(self, t: float, listen: Listen) -> None:
        self.endpointer.listen(t, listen.no_input_timeout, **self._end_ms(listen))
        self._armed = True

    def _end_ms(self, listen: Listen | None) -> dict[str, int | None]:
        """Callers read a number out in groups with ~1 s pauses: wait longer for the end,
        but check at the usual end silence whether they asked for a person. A phrase turn
        is checked at the short silence that ends an answer which already decides it."""
        settings = self.endpoint_settings
        if listen and listen.slot_kind == "digits" and \
                settings.digits_speech_end_ms > settings.speech_end_ms:
            return {"speech_end_ms": settings.digits_speech_end_ms,
                    "check_ms": settings.speech_end_ms}
        check = complete_check_ms(turn_grammar(listen), settings) if listen else None
        return {"speech_end_ms": None, "check_ms": check}

    def _disarm(self, t: float) -> None:
        self.endpointer.listen(t, None, **self._end_ms(self._listen))
        self._armed = False

    def _end_check(self, t: float) -> list[SessionAction]:
        """The utterance may end before the usual silence when what was said decides it.

        A phrase turn (menu, yes/no) ends at the short silence when the early decode holds
        a phrase confident enough for the flow that nothing longer in the grammar could
        turn into another answer ("order" may become "order status", the same; "yes" may
        become "yes another order", not the same). Speech over the disclosure ends early only
        for an escape phrase (the only thing it can do), and so does a digits turn, at the
        usual silence (hand over now rather than after 1.5 s); a number is NOT
        ended when it already has all its digits: measured on 4-digit FSDD strings read
        digit by digit (0.6 s pauses), the decode of the first three digits already showed
        four (an inserted digit) in 30 of 90, and ending there lost 12 answers the whole
        utterance got right (53% -> 40% right)."""
        utt, listen = self._utt, self._listen
        peek = getattr(utt.recognizer, "peek", None) if utt is not None and utt.recognizer \
            else None
        if peek is None or listen is None:
            return []
        try:
            hyp = peek()
        except Exception as exc:
            raise _Failure("engine.peek", exc) from exc
        if hyp is None or not hyp.text or not hyp.in_grammar:
            return []
        if utt.escape_only or listen.slot_kind == "digits":
            if not self._is_escape_text(hyp.text) or hyp.confidence < self._escape_threshold():
                return []
            log_event(logger, "speech.escape_early", call_sid=self.call_sid, node=utt.node)
        elif not decides(turn_grammar(listen), hyp,
                         self._escape_threshold() if self._is_escape_text(hyp.text)
                         else listen.confidence_threshold):
            return []
        self.endpointer.end_now()
        return self._speech_end(t)

    def _rearm(self, t: float) -> list[SessionAction]:
        """An utterance that was not a turn: keep the no-input timer honest."""
        if self._armed and self._listen is not None:
            self._arm(t, self._listen)
        return []

    # ------------------------------------------------------------------ flow actions

    def _turn(self, event: Recognized | Digits | NoInput, record: TurnRecord,
              t: float) -> list[SessionAction]:
        """Give the caller's turn to the flow and do what it says."""
        previous, was_armed = self._listen, self._armed
        self._disarm(t)
        self._listen = None
        self.transcript.turns.append(record)
        self.revision += 1
        self.milestones += 1
        self._reply_turn = record
        log_event(logger, "call.turn", call_sid=self.call_sid, node=record.node,
                  kind=record.kind, confidence=record.confidence,
                  in_grammar=record.in_grammar, during_prompt=record.during_prompt)
        before = self._flow_turn_count()
        actions = self._flow("handle", event)
        record.intent = self._turn_intent(before)
        if not actions and previous is not None:
            # The flow let the turn pass (a lone '#', speech over a lookup): it still waits
            # for the same answer, so keep listening instead of falling silent.
            self._listen = previous
            if was_armed or not self._playing:
                self._arm(t, previous)
            return []
        return self._apply(actions, t)

    def _apply(self, actions: list[FlowAction], t: float) -> list[SessionAction]:
        out: list[SessionAction] = []
        for action in actions:
            if self.closed:
                break
            if isinstance(action, Say):
                out.append(self._say(action, t))
            elif isinstance(action, Listen):
                self._listen = action
                self._disarm(t)  # its end-of-speech timings hold from now (prompts too)
                out += self._after_playback(t)
            elif isinstance(action, PerformLookup):
                self._awaiting_lookup = True
                out.append(RunLookup(action))
            elif isinstance(action, Transfer):
                out += self._decide("transfer", action.reason, action.queue, action.summary,
                                    action.context, t)
            elif isinstance(action, Hangup):
                out += self._decide("hangup", action.reason, None, "", {}, t)
        self._sync_path()
        return out

    def _say(self, say: Say, t: float) -> PlayPrompt:
        self._prompt_count += 1
        mark = f"p{self._prompt_count}"
        record = PromptRecord(text=say.text, node=say.node, kind=say.kind, t_sent=t)
        self.transcript.prompts.append(record)
        self.revision += 1
        interruptible = say.interruptible and say.kind not in ("disclosure", "handover",
                                                              "goodbye")
        self._playing.append(_Playing(mark, record, interruptible))
        if self._reply_turn is not None:
            self._reply_turn.t_reply = t
            self._reply_turn = None
        log_event(logger, "prompt.sent", call_sid=self.call_sid, node=say.node, kind=say.kind,
                  mark=mark)
        return PlayPrompt(text=say.text, kind=say.kind, node=say.node, mark=mark,
                          interruptible=interruptible)

    def _decide(self, outcome: str, reason: str, queue: str | None, summary: str,
                context: dict[str, Any], t: float) -> list[SessionAction]:
        tr = self.transcript
        tr.outcome, tr.reason, tr.queue = outcome, reason, queue
        tr.summary = summary
        tr.context = dict(context) if context else self._summary_context()
        self.revision += 1
        self.milestones += 1
        self._closing = True
        self._listen = None
        self._drop_utterance()
        self._disarm(t)
        log_event(logger, f"call.{outcome}", call_sid=self.call_sid, reason=reason,
                  queue=queue or "")
        return self._after_playback(t)

    def _close(self, t: float) -> list[SessionAction]:
        if self.closed:
            return []
        self.closed = True
        tr = self.transcript
        self.revision += 1
        self.milestones += 1
        log_event(logger, "call.closing_stream", call_sid=self.call_sid,
                  outcome=tr.outcome or "", reason=tr.reason or "")
        return [CloseStream(outcome=tr.outcome or "transfer", reason=tr.reason or "error",
                            queue=tr.queue)]

    def _clear(self, t: float, *, barged_in: bool) -> list[SessionAction]:
        if not self._playing:
            return []
        for p in self._playing:
            p.record.barged_in = barged_in
        self._playing = []
        self.revision += 1
        return [ClearAudio()]

    # ------------------------------------------------------------------------- faults

    def _fault(self, t: float, where: str, exc: BaseException | str) -> list[SessionAction]:
        error = exc if isinstance(exc, str) else type(exc).__name__
        log_event(logger, "call.fault", logging.ERROR, call_sid=self.call_sid, where=where,
                  error=error, node=self._flow_node())
        if self.closed:
            return []
        out: list[SessionAction] = []
        self._drop_utterance()
        self._keys, self._keys_deadline = "", None
        if self._faulted or self._closing:
            # Already handing over (or the hand-over itself broke): close now, to a person
            # unless the flow had already finished with a goodbye.
            self._playing = []
            if self.transcript.outcome is None:
                self._record_fallback_transfer()
            return out + self._close(t)
        self._faulted = True
        out += self._clear(t, barged_in=False)
        self._listen = None
        self._awaiting_lookup = False
        with contextlib.suppress(Exception):  # the endpointer may be what broke
            self._disarm(t)
        try:
            actions = self._flow("handle", Fault(f"{where}: {error}"))
        except _Failure:
            actions = []
        if not any(isinstance(a, Transfer) for a in actions):
            node = self._flow_node()
            actions = [Say(FALLBACK_HANDOVER, node, "handover", False),
                       Transfer(self._fallback_queue(), "error",
                                "The automated assistant failed during the call.",
                                self._summary_context())]
        return out + self._apply(actions, t)

    def _record_fallback_transfer(self) -> None:
        tr = self.transcript
        tr.outcome, tr.reason, tr.queue = "transfer", "error", self._fallback_queue()
        tr.summary = tr.summary or "The automated assistant failed during the call."
        tr.context = tr.context or self._summary_context()
        self.revision += 1
        self.milestones += 1

    # ----------------------------------------------------------------------- helpers

    def _flow(self, method: str, *args: Any) -> list[FlowAction]:
        try:
            return list(getattr(self.flow_session, method)(*args))
        except Exception as exc:
            raise _Failure(f"flow.{method}", exc) from exc

    def _recognizer(self, grammar: Grammar) -> Recognizer:
        try:
            return self.engine.recognizer(grammar)
        except Exception as exc:
            raise _Failure("engine.recognizer", exc) from exc

    def _drop_utterance(self) -> None:
        """Abandon the utterance in progress without decoding it: recognizers only buffer
        until finish(), so dropping one costs nothing, while finishing it would spend a full
        decode on speech nobody will use (keys, escape, hand-over, the stream's end)."""
        self._utt = None

    def _prefetch(self, tail_ms: int) -> None:
        """The end of the utterance is near: let an engine that can start decoding now, so
        the answer is ready when the silence is confirmed (the turn gap shrinks by the
        decode time). Engines without prefetch simply decode at finish()."""
        utt = self._utt
        prefetch = getattr(utt.recognizer, "prefetch", None) if utt is not None else None
        if prefetch is None:
            return
        try:
            prefetch(tail_ms)
        except Exception as exc:  # noqa: BLE001 - an optimisation: finish() still decodes
            log_event(logger, "speech.prefetch_failed", logging.WARNING, call_sid=self.call_sid,
                      error=type(exc).__name__)

    def _accept(self, pcm: bytes) -> None:
        utt = self._utt
        if utt is None or utt.recognizer is None:
            return
        try:
            utt.recognizer.accept(pcm)
        except Exception as exc:
            raise _Failure("engine.accept", exc) from exc

    def _escape_phrases(self) -> tuple[str, ...]:
        policy = getattr(self.flow, "policy", None)
        return tuple(getattr(policy, "escape_phrases", ()) or ())

    def _escape_threshold(self) -> float:
        """How sure an escape phrase must be to count: the flow's rule (its policy at the
        current node), so speech over the disclosure escapes exactly as it would elsewhere."""
        policy = getattr(self.flow, "policy", None)
        with contextlib.suppress(Exception):
            policy = self.flow.nodes[self.flow_session.node].policy
        return float(getattr(policy, "escape_threshold", 0.5))

    def _is_escape_text(self, text: str) -> bool:
        try:
            return bool(self.flow_session.is_escape_text(text))
        except Exception as exc:
            raise _Failure("flow.is_escape_text", exc) from exc

    def _is_escape_digit(self, digit: str) -> bool:
        try:
            return bool(self.flow_session.is_escape_digit(digit))
        except Exception as exc:
            raise _Failure("flow.is_escape_digit", exc) from exc

    def _flow_turn_count(self) -> int | None:
        turns = getattr(self.flow_session, "turns", None)
        return len(turns) if isinstance(turns, list) else None

    def _turn_intent(self, before: int | None) -> str | None:
        """The intent this turn matched (not one left over from an earlier turn)."""
        turns = getattr(self.flow_session, "turns", None)
        if before is not None and isinstance(turns, list) and len(turns) > before:
            intent = turns[-1].get("intent") if isinstance(turns[-1], dict) else None
            return str(intent) if intent else None
        return getattr(self.flow_session, "intent", None)

    def _flow_node(self) -> str:
        try:
            return str(self.flow_session.node or "")
        except Exception:
            return ""

    def _fallback_queue(self) -> str:
        return self.fallback_queue

    def _summary_context(self) -> dict[str, Any]:
        try:
            return dict(self.flow_session.summary_context())
        except Exception:  # context is a courtesy; never break the hand-over
            return {}

    def _sync_path(self) -> None:
        try:
            path = list(self.flow_session.path)
        except Exception:
            return
        if path != self.transcript.path:
            self.transcript.path = path
            self.revision += 1
