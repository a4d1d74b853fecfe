"""Turn-taking: from the caller's audio and keys to turns for the flow.

Every 20 ms frame goes to the Endpointer, which says where speech starts, pauses and ends;
the utterance in progress hears it with a recognizer made at speech start (the grammar from
speech.turn_end). A turn ends at the usual silence, at the shorter check when the early
decode already decides it, or at the long silence of a spoken number; keys make a turn at
the node's length, the terminator or a pause; silence after the prompts makes a no-input
turn. Over a prompt the caller may not skip, only an escape phrase or key counts; over any
other, speech or a key cuts the prompt (barge-in).

The session owns this object and the parts it shares with it (phase, playback); it hands
the turns this returns to the flow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from voicebot.flow.events import Digits, Listen, NoInput, Recognized
from voicebot.flow.interpreter import FlowSession
from voicebot.flow.model import Flow
from voicebot.logs import log_event
from voicebot.records.transcript import TurnRecord
from voicebot.settings import EndpointSettings
from voicebot.speech.endpoint import Endpointer
from voicebot.speech.turn_end import end_silence, ends_early, escape_grammar, turn_grammar
from voicebot.speech.types import Engine, Hypothesis
from voicebot.telephony.session.events import ClearAudio
from voicebot.telephony.session.keys import KeyCollector, KeyedAnswer
from voicebot.telephony.session.phase import CallPhase, Phase, Step
from voicebot.telephony.session.playback import Playback
from voicebot.telephony.session.utterance import PartFailure, Utterance, part

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Turn:
    """The caller's turn: what the flow is told, and what the transcript keeps."""

    event: Recognized | Digits | NoInput
    record: TurnRecord


Heard = ClearAudio | Turn  # a turn comes last: the session hands it to the flow


class TurnTaking:
    """The caller's side of one call. `listen` is what the caller may answer now (set by
    the session when the flow asks, None when no answer is expected)."""

    def __init__(self, flow: Flow, flow_session: FlowSession, engine: Engine,
                 settings: EndpointSettings, phase: CallPhase, playback: Playback) -> None:
        self.flow = flow
        self.flow_session = flow_session
        self.engine = engine
        self.settings = settings
        self.phase = phase
        self.playback = playback
        self.endpointer = Endpointer(settings)
        self.keys = KeyCollector()
        self.listen: Listen | None = None
        self.utterance: Utterance | None = None
        self.call_sid = ""

    # ------------------------------------------------------------------ for the session

    def audio(self, pcm: bytes, t: float) -> list[Heard]:
        """One frame of the caller's audio."""
        with part("endpointer"):
            result = self.endpointer.feed(pcm, t)
        out: list[Heard] = []
        fed = False  # the audio goes to the utterance before its events are handled
        for ev in result.events:
            if ev.kind == "speech_start":
                out += self._speech_start(ev.t)
                fed = False  # ... or to the one it starts (with its pre-roll)
            if ev.kind != "no_input" and not fed and self.utterance is not None:
                self.utterance.accept(result.audio)
            fed = fed or ev.kind != "no_input"
            if ev.kind in ("speech_end", "max_length"):
                out += self._speech_end(ev.t)
            elif ev.kind == "speech_pause":
                self._prefetch(ev.tail_ms)
            elif ev.kind == "end_check":
                out += self._end_check(ev.t)
            elif ev.kind == "no_input":
                out += self._no_input(ev.t)
        if not fed and self.utterance is not None:
            self.utterance.accept(result.audio)
        return out

    def key(self, digit: str, t: float) -> list[Heard]:
        current, node, listen = self.playback.current, self.node(), self.listen
        if not self.keys.collecting and self._is_escape_digit(digit):
            self.utterance = None
            return [*self._barge_in(), Turn(Digits(digit), TurnRecord(
                node=node, kind="dtmf", heard=digit, t_start=t, t_end=t,
                during_prompt=current is not None))]
        skipped = current is not None and not current.interruptible
        if skipped or listen is None:
            log_event(logger, "dtmf.ignored", call_sid=self.call_sid, node=node,
                      why="non-interruptible prompt" if skipped else "not listening")
            return []
        out = self._barge_in()
        self.utterance = None  # keys win over speech in progress
        self.phase.process(Step.INPUT)
        self.end_timings(t)
        answer = self.keys.press(digit, t, max_keys=listen.dtmf_max,
                                 terminator=listen.dtmf_terminator, during_prompt=bool(out))
        if answer is not None:
            return [*out, self._keyed_turn(answer, t)]
        if not self.keys.collecting and not self.playback.playing:
            self.arm(t)  # a lone terminator ends nothing: keep listening
        return out

    def keys_due(self, t: float) -> list[Heard]:
        """A keyed answer the caller stopped typing."""
        answer = self.keys.due(t)
        return [] if answer is None else [self._keyed_turn(answer, t)]

    def poll(self, t: float) -> list[Heard]:
        """The no-input timer, when no audio comes."""
        if self.phase.state is not Phase.WAITING or self.endpointer.in_speech:
            return []
        return [turn for ev in self.endpointer.poll(t) if ev.kind == "no_input"
                for turn in self._no_input(t)]

    def arm(self, t: float) -> None:
        """Start (or restart) the no-input timer, with this turn's end silences."""
        if self.listen is None:
            return
        end = end_silence(self.listen, self.settings)
        self.endpointer.listen(t, self.listen.no_input_timeout,
                               speech_end_ms=end.speech_end_ms, check_ms=end.check_ms)
        self.phase.process(Step.ARM)

    def end_timings(self, t: float) -> None:
        """No no-input timer; the end silences of what is asked now hold from `t`."""
        end = end_silence(self.listen, self.settings)
        self.endpointer.listen(t, None, speech_end_ms=end.speech_end_ms, check_ms=end.check_ms)

    def drop(self) -> None:
        """Forget the speech and keys in progress (they answer nothing now)."""
        self.utterance = None
        self.keys.reset()

    def node(self) -> str:
        return self.listen.node if self.listen else self.flow_session.node

    def escape_threshold(self) -> float:
        """How sure an escape phrase must be: the flow's rule at the current node, so speech
        over the disclosure escapes exactly as it would elsewhere."""
        node = self.flow.nodes.get(self.flow_session.node)
        return (node.policy if node else self.flow.policy).escape_threshold

    # ------------------------------------------------------------------ speech

    def _speech_start(self, t: float) -> list[Heard]:
        current, node, listen = self.playback.current, self.node(), self.listen
        self.utterance = None
        if self.phase.state is Phase.AWAITING_LOOKUP:
            self.utterance = Utterance(t, node, during_prompt=False)  # heard, ignored
            return []
        if current is not None and not current.interruptible:
            grammar = escape_grammar(tuple(self.flow.policy.escape_phrases), listen)
            self.utterance = Utterance.heard_by(self.engine, grammar, t, node,
                                                during_prompt=True, escape_only=True)
            log_event(logger, "speech.during_disclosure", call_sid=self.call_sid, node=node)
            return []
        if listen is None:
            self.utterance = Utterance(t, node, during_prompt=current is not None)
            return []
        out = self._barge_in()
        if out:
            log_event(logger, "call.barge_in", call_sid=self.call_sid, node=node)
        self.phase.process(Step.INPUT)
        self.end_timings(t)
        self.utterance = Utterance.heard_by(self.engine, turn_grammar(listen), t, listen.node,
                                            during_prompt=bool(out))
        return out

    def _speech_end(self, t: float) -> list[Heard]:
        utt, self.utterance = self.utterance, None
        hyp = utt.finish() if utt is not None else None
        if utt is None or hyp is None:
            return self._rearm(t)
        if utt.escape_only:
            if (hyp.text and hyp.in_grammar and hyp.confidence >= self.escape_threshold()
                    and self._is_escape_text(hyp.text)):
                return [*self._barge_in(), self._spoken_turn(utt, hyp, t)]
            log_event(logger, "speech.ignored", call_sid=self.call_sid, node=utt.node,
                      why="not an escape phrase during a non-interruptible prompt")
            return self._rearm(t)
        return [] if self.listen is None else [self._spoken_turn(utt, hyp, t)]

    def _prefetch(self, tail_ms: int) -> None:
        if self.utterance is None:
            return
        try:
            self.utterance.prefetch(tail_ms)
        except PartFailure as failure:  # an optimisation: finish() still decodes
            log_event(logger, "speech.prefetch_failed", logging.WARNING, call_sid=self.call_sid,
                      error=type(failure.exc).__name__)

    def _end_check(self, t: float) -> list[Heard]:
        """At the short silence: end the utterance now if its early decode already decides
        the turn (speech.turn_end.ends_early)."""
        utt, listen = self.utterance, self.listen
        hyp = utt.peek() if utt is not None and listen is not None else None
        if utt is None or listen is None or hyp is None or not hyp.text or not hyp.in_grammar:
            return []
        why = ends_early(listen, hyp, escape_only=utt.escape_only,
                         is_escape=self._is_escape_text(hyp.text),
                         escape_threshold=self.escape_threshold())
        if why is None:
            return []
        if why == "escape":
            log_event(logger, "speech.escape_early", call_sid=self.call_sid, node=utt.node)
        self.endpointer.end_now()
        return self._speech_end(t)

    def _rearm(self, t: float) -> list[Heard]:
        """An utterance that was not a turn: keep the no-input timer honest."""
        if self.phase.state is Phase.WAITING:
            self.arm(t)
        return []

    # ------------------------------------------------------------------ turns

    def _spoken_turn(self, utt: Utterance, hyp: Hypothesis, t: float) -> Turn:
        return Turn(Recognized(hyp.text, hyp.confidence, hyp.in_grammar), TurnRecord(
            node=utt.node, kind="speech", heard=hyp.text, confidence=hyp.confidence,
            in_grammar=hyp.in_grammar, t_start=utt.t_start, t_end=t,
            during_prompt=utt.during_prompt))

    def _keyed_turn(self, answer: KeyedAnswer, t: float) -> Turn:
        return Turn(Digits(answer.keys), TurnRecord(
            node=self.node(), kind="dtmf", heard=answer.keys, t_start=answer.t_start,
            t_end=t, during_prompt=answer.during_prompt or self.playback.playing))

    def _no_input(self, t: float) -> list[Heard]:
        if self.phase.state is not Phase.WAITING or self.playback.playing or not self.listen:
            return []
        return [Turn(NoInput(), TurnRecord(node=self.listen.node, kind="no_input",
                                           t_start=t, t_end=t))]

    def _barge_in(self) -> list[Heard]:
        return [ClearAudio()] if self.playback.clear(barged_in=True) else []

    def _is_escape_text(self, text: str) -> bool:
        with part("flow.is_escape_text"):
            return self.flow_session.is_escape_text(text)

    def _is_escape_digit(self, digit: str) -> bool:
        with part("flow.is_escape_digit"):
            return self.flow_session.is_escape_digit(digit)
