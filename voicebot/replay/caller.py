"""CallerSimulator: a scenario's caller on Twilio's side of a Media Stream, with no socket.

Pure like the driver: the offline replay loop and the live stand-in (`voicebot call`) both
use it, so a scenario behaves the same offline and against a running service. Twilio's part
(messages, 20 ms frames, the playback buffer, marks, clear) is TwilioSide; this adds when the
caller speaks, keys or stays silent, and measures the turn gaps.

    sim = CallerSimulator(turns: list[CallerTurn], call_sid, stream_sid, account_sid,
                          custom_parameters: dict[str, str], from_number: str)
    sim.opening() -> list[str]            # 'connected' and 'start' messages
    sim.on_message(text, now) -> None     # a message from the service: media, mark, clear
    sim.poll(now) -> list[str]            # what Twilio sends by `now`: 20 ms media frames
                                          # (caller audio or silence), dtmf, mark echoes
    sim.next_due() -> float               # when poll next has something to send
    sim.closing(now) -> list[str]         # 'stop' message (caller side hangs up)
    sim.done -> bool                      # turns exhausted and trailing wait over
    sim.turn_gaps_ms -> list[float]       # last voiced caller frame -> first bot audio back
    sim.prompt_times -> list[float]       # when each prompt's first audio arrived
    sim.audio_gaps -> int                 # gaps in the bot's outgoing audio within a prompt

When each caller turn starts:
- say / dtmf / silence: after the bot has sent audio since the previous turn ended and its
  playback has finished (buffer empty, no marks pending), plus a short natural pause;
- say with barge_in: `barge_in_after` seconds after the last prompt the bot has queued since
  the previous turn starts playing (a prompt is the audio between two marks), so that a
  disclosure followed by a menu is barged at the menu;
- silence: the caller stays silent `seconds` after the prompt ends, then the next turn waits
  as usual.
After the last turn the caller keeps listening (sending silence) until the service ends the
call, up to `max_call_s` of call time (then `done`, with a note in `notes`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from voicebot.replay.twilio_side import ULAW_SILENCE, TwilioSide
from voicebot.speech.audio import pcm16_to_ulaw
from voicebot.telephony.media_stream import StreamProtocolError

__all__ = ["CallerSimulator", "CallerTurn", "TurnLog", "ULAW_SILENCE"]

FRAME_PCM_BYTES = 320  # 20 ms of 8 kHz 16-bit PCM
NATURAL_PAUSE_S = 0.3  # a caller answers a little after the prompt ends
BARGE_IN_AFTER_S = 0.6  # how far into a prompt a barging caller starts
BURST_SETTLE_S = 0.5  # ... and no sooner than this after the bot's audio stopped arriving
VOICED_RMS = 300.0  # ~ -40 dBFS: a frame above this counts as voiced (turn gap measurement)

TurnKind = Literal["say", "dtmf", "silence"]


@dataclass(frozen=True)
class CallerTurn:
    """One thing the caller does. `audio` is 8 kHz 16-bit mono PCM (load_phone_audio)."""

    kind: TurnKind
    audio: bytes = field(default=b"", repr=False)
    digits: str = ""
    seconds: float = 0.0
    barge_in: bool = False
    barge_in_after: float = BARGE_IN_AFTER_S
    label: str = ""  # where it came from (recording path, "dtmf 2"), for reports


@dataclass
class TurnLog:
    """What the simulated caller actually did for one turn (times in stream seconds)."""

    index: int
    kind: TurnKind
    label: str
    barge_in: bool
    t_start: float
    t_end: float | None = None
    t_last_voiced: float | None = None  # end of the last voiced frame (say turns)
    t_bot_reply: float | None = None  # first bot audio received after t_last_voiced
    gap_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class _Segment:
    """A stretch of bot audio between marks, as the playback buffer sees it."""

    t_queued: float
    play_start: float
    after_turn: int  # how many turns had ended when it was queued


def _voiced(frame_pcm: bytes) -> bool:
    samples = np.frombuffer(frame_pcm, dtype="<i2").astype(np.float64)
    return bool(samples.size) and float(np.sqrt(np.mean(samples * samples))) > VOICED_RMS


class CallerSimulator:
    """Twilio plus a caller, as a pure state machine: feed it time and the service's messages."""

    def __init__(
        self,
        turns: list[CallerTurn],
        call_sid: str = "CA00000000000000000000000000000000",
        stream_sid: str = "MZ00000000000000000000000000000000",
        account_sid: str = "AC00000000000000000000000000000000",
        custom_parameters: dict[str, str] | None = None,
        from_number: str = "",
        *,
        max_call_s: float = 90.0,
        natural_pause_s: float = NATURAL_PAUSE_S,
    ) -> None:
        self.turns = list(turns)
        self.from_number = from_number
        self.max_call_s = max_call_s
        self.natural_pause_s = natural_pause_s
        self.line = TwilioSide(call_sid, stream_sid, account_sid, custom_parameters,
                               frame_source=self._frame, on_keys_sent=self._keys_sent)
        self._segments: list[_Segment] = []

        # the caller's turns
        self._turn_index = 0
        self._turns_ended = 0
        self._ready_since = -1.0  # bot audio after this time counts as the reply to the turn
        self._active: TurnLog | None = None
        self._audio = b""  # PCM of the active say turn not yet sent
        self._silence_until: float | None = None
        self._awaiting_reply: TurnLog | None = None
        self.turn_log: list[TurnLog] = []
        self.notes: list[str] = []
        self.timed_out = False

    # ------------------------------------------------------------------ Twilio's side

    @property
    def audio_gaps(self) -> int:
        """Gaps in the bot's audio within a prompt (Twilio's buffer ran dry)."""
        return self.line.audio_gaps

    @property
    def bot_audio_bytes(self) -> int:
        return self.line.bot_audio_bytes

    @property
    def clears(self) -> int:
        return self.line.clears

    @property
    def playback_idle(self) -> bool:
        """Nothing of the bot's left to play and no mark waiting to be echoed."""
        return self.line.playback_idle

    def opening(self) -> list[str]:
        """`connected` then `start`, as Twilio sends them when the WebSocket opens."""
        return self.line.opening()

    def closing(self, now: float) -> list[str]:
        """The caller hangs up: Twilio's `stop`."""
        return self.line.closing()

    # ------------------------------------------------------------------ from the service

    def on_message(self, text: str, now: float) -> None:
        """Take one message from the service (media, mark or clear)."""
        starts_prompt = not self.line.in_prompt
        play_start = max(now, self.line.play_end)
        try:
            kind, value = self.line.receive(text, now)
        except StreamProtocolError as exc:
            self.notes.append(f"{now:.2f}s: service sent a bad message ({exc.reason})")
            return
        if kind == "media" and value:
            if starts_prompt:
                self._segments.append(_Segment(now, play_start, self._turns_ended))
            self._on_bot_audio(now)

    @property
    def prompt_times(self) -> list[float]:
        """When each of the bot's prompts began to arrive (stream seconds), in order."""
        return [segment.t_queued for segment in self._segments]

    def _on_bot_audio(self, now: float) -> None:
        # the reply may come while the recording's trailing silence is still being sent
        for turn in (self._awaiting_reply, self._active):
            if turn is not None and turn.kind == "say" and turn.t_last_voiced is not None \
                    and turn.t_bot_reply is None and now >= turn.t_last_voiced:
                turn.t_bot_reply = now
                turn.gap_ms = round((now - turn.t_last_voiced) * 1000.0, 1)
        self._awaiting_reply = None

    # ------------------------------------------------------------------ state

    @property
    def turns_performed(self) -> int:
        return self._turns_ended

    @property
    def turn_gaps_ms(self) -> list[float]:
        return [t.gap_ms for t in self.turn_log if t.gap_ms is not None]

    @property
    def done(self) -> bool:
        return self.line.closed or self.timed_out

    def next_due(self) -> float:
        """When `poll` next has something to send (a media frame is due every 20 ms)."""
        return self.line.next_due()

    # ------------------------------------------------------------------ time passes

    def poll(self, now: float) -> list[str]:
        """Everything Twilio sends up to `now`, in time order."""
        if self.done:
            return []
        out = self.line.poll(now)
        self._advance_turns(self.line.now)
        if self.line.now >= self.max_call_s and not self.timed_out:
            self.timed_out = True
            left = len(self.turns) - self._turns_ended
            self.notes.append(
                f"timeout: the call was still going after {self.max_call_s:g} s of call time"
                + (f" with {left} caller turn(s) not performed" if left else "")
            )
        return out

    def _frame(self, t: float) -> bytes:
        """The caller's next 20 ms: the active say turn's audio, or silence."""
        self._advance_turns(t)
        turn = self._active
        if turn is None or turn.kind != "say":
            return ULAW_SILENCE
        frame, self._audio = self._audio[:FRAME_PCM_BYTES], self._audio[FRAME_PCM_BYTES:]
        if len(frame) < FRAME_PCM_BYTES:
            frame = frame + b"\x00" * (FRAME_PCM_BYTES - len(frame))
        if _voiced(frame):
            turn.t_last_voiced = t  # the frame is sent (fully captured) at t
            if turn.t_bot_reply is not None:  # the bot spoke before the caller had finished:
                turn.t_bot_reply = turn.gap_ms = None  # measure from this later frame
        if not self._audio:
            self._end_turn(t)
        return pcm16_to_ulaw(frame)

    def _keys_sent(self, t: float) -> None:
        if self._active is not None:
            self._end_turn(t)

    def _end_turn(self, t: float) -> None:
        turn = self._active
        if turn is None:
            return
        turn.t_end = t
        self._active = None
        self._turns_ended += 1
        self._turn_index += 1
        # The bot's answer counts from the end of what the caller did: the last voiced frame
        # of a say (the reply may come during the recording's trailing silence), the last
        # key, or the start of a silence (a no-input reprompt comes during it).
        if turn.kind == "silence":
            self._ready_since = turn.t_start
        elif turn.kind == "say" and turn.t_last_voiced is not None:
            self._ready_since = turn.t_last_voiced
        else:
            self._ready_since = t
        if turn.kind == "say" and turn.t_last_voiced is not None and turn.t_bot_reply is None:
            self._awaiting_reply = turn

    def _advance_turns(self, t: float) -> None:
        """Start the next turn when its moment has come; end a silence turn when it is over."""
        if self._active is not None:
            if self._active.kind == "silence" and self._silence_until is not None \
                    and t >= self._silence_until - 1e-9:
                self._silence_until = None
                self._end_turn(t)
            return
        if self._turn_index >= len(self.turns):
            return
        spec = self.turns[self._turn_index]
        start = self._barge_in_start(spec) if spec.barge_in else self._answer_start()
        if start is not None and t + 1e-9 >= start:
            self._begin_turn(spec, t)

    def _answer_start(self) -> float | None:
        """After the bot's reply has finished playing, plus a natural pause."""
        seen = self.line.bot_audio_seen_at
        replied = seen is not None and seen >= self._ready_since
        if not replied or not self.playback_idle:
            return None
        return max(self.line.play_end, self.line.last_mark_echo) + self.natural_pause_s

    def _barge_in_start(self, spec: CallerTurn) -> float | None:
        """`barge_in_after` seconds into the latest prompt queued since the previous turn,
        once the bot's audio has stopped arriving for BURST_SETTLE_S: a service sends a
        disclosure and the menu after it at once, and on a loaded machine the menu's audio
        can arrive after the moment to barge in, which then fell in the disclosure."""
        fresh = [s for s in self._segments if s.after_turn >= self._turns_ended
                 and s.t_queued >= self._ready_since]
        if not fresh:
            return None
        arrived = self.line.bot_audio_seen_at or 0.0
        return max(fresh[-1].play_start + spec.barge_in_after, arrived + BURST_SETTLE_S)

    def _begin_turn(self, spec: CallerTurn, t: float) -> None:
        log = TurnLog(index=self._turn_index, kind=spec.kind, label=spec.label,
                      barge_in=spec.barge_in, t_start=t)
        self.turn_log.append(log)
        self._active = log
        if spec.kind == "say":
            self._audio = spec.audio
            if not self._audio:
                self._end_turn(t)
        elif spec.kind == "dtmf":
            self.line.press(spec.digits, at=t)
            if not spec.digits:
                self._end_turn(t)
        else:
            self._silence_until = t + spec.seconds

    def summary(self) -> dict[str, Any]:
        """What the caller side saw, for reports and --json."""
        return {
            "turns_performed": self._turns_ended,
            "turns_planned": len(self.turns),
            "turn_gaps_ms": self.turn_gaps_ms,
            "audio_gaps": self.audio_gaps,
            "marks_echoed": len(self.line.marks_echoed),
            "clears": self.clears,
            "bot_audio_s": round(self.bot_audio_bytes / 8000.0, 2),
            "timed_out": self.timed_out,
            "notes": list(self.notes),
            "turns": [t.to_dict() for t in self.turn_log],
        }
