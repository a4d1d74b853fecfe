"""TwilioSide: Twilio's side of one Media Stream, as a pure object on a virtual clock.

The one simulator of Twilio used by offline replay (through CallerSimulator), the live
stand-in (`voicebot call`) and the tests. It sends what Twilio sends (connected, start, a
20 ms mu-law media frame every 20 ms, dtmf, stop) and plays the service's audio like
Twilio's playback buffer: a `mark` is echoed when the audio queued before it has finished
playing; `clear` empties the buffer and echoes every pending mark at once.

Time: stream time starts at 0 with `start`. Media frame k is sent once it has been
"captured", at (k + 1) * 20 ms, with timestamp k * 20 ms; what it carries comes from
`frame_source(t)` (silence without one). Events due at the same moment go out marks first,
then keys, then the frame. Nothing here reads a clock: `poll(now)` says how far time went.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from voicebot.speech.types import PHONE_RATE
from voicebot.telephony import media_stream as ms

FRAME_S = 0.02
FRAME_ULAW_BYTES = 160
ULAW_SILENCE = b"\xff" * FRAME_ULAW_BYTES  # mu-law code for 0
DTMF_SPACING_S = 0.25  # between keys pressed in one go
GAP_TOLERANCE_S = FRAME_S  # playback buffer empty this long mid-prompt counts as a gap
_EPS = 1e-9


class TwilioSide:
    """Twilio's messages and playback buffer for one stream; feed it time and our messages."""

    def __init__(self, call_sid: str, stream_sid: str, account_sid: str,
                 custom_parameters: dict[str, str] | None = None, *,
                 frame_source: Callable[[float], bytes] | None = None,
                 on_keys_sent: Callable[[float], None] | None = None) -> None:
        self.call_sid = call_sid
        self.stream_sid = stream_sid
        self.account_sid = account_sid
        self.custom_parameters = dict(custom_parameters or {})
        self._frame_source = frame_source
        self._on_keys_sent = on_keys_sent
        self.stalled = False  # playback stalls: marks are not echoed (cleared ones still are)
        self.closed = False
        self.now = 0.0  # how far `poll` has been told time went
        self._seq = 0
        self._next_frame = 0  # index of the next media frame to send
        self._keys: deque[tuple[float, str]] = deque()
        # the playback buffer of the service's audio
        self.play_end = 0.0  # when the audio queued so far finishes playing
        self._marks: deque[tuple[float, str]] = deque()  # (due, name)
        self._flushed = 0  # leading marks cleared: echoed even while playback is stalled
        self.in_prompt = False  # audio received since the last mark / clear
        self.bot_audio_seen_at: float | None = None  # when audio last arrived
        self.bot_audio_bytes = 0
        self.audio_gaps = 0  # the buffer ran dry in the middle of a prompt
        self.marks_echoed: list[str] = []
        self.last_mark_echo = 0.0
        self.clears = 0

    # ------------------------------------------------------------------ what Twilio sends

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def opening(self) -> list[str]:
        """`connected` then `start`, as Twilio sends them when the WebSocket opens."""
        return [ms.twilio_connected(),
                ms.twilio_start(self.stream_sid, self.call_sid, self.account_sid,
                                self.custom_parameters, sequence=self._next_seq())]

    def closing(self) -> list[str]:
        """The caller hangs up: Twilio's `stop`."""
        self.closed = True
        return [ms.twilio_stop(self.stream_sid, self.call_sid, self.account_sid,
                               sequence=self._next_seq())]

    def press(self, digits: str, at: float, spacing: float = DTMF_SPACING_S) -> None:
        """Key `digits` from `at`, `spacing` apart; `on_keys_sent(t)` when the last has gone."""
        self._keys.extend((at + i * spacing, d) for i, d in enumerate(digits))

    @property
    def keys_pending(self) -> bool:
        return bool(self._keys)

    def _mark_due(self) -> float | None:
        if self._marks and (self._flushed or not self.stalled):
            return self._marks[0][0]
        return None

    def next_due(self) -> float:
        """When `poll` next has something to send (a media frame is due every 20 ms)."""
        due = (self._next_frame + 1) * FRAME_S
        for other in (self._mark_due(), self._keys[0][0] if self._keys else None):
            if other is not None:
                due = min(due, other)
        return due

    def poll(self, now: float) -> list[str]:
        """Everything Twilio sends up to `now`, in time order."""
        out: list[str] = []
        while True:
            frame_due = (self._next_frame + 1) * FRAME_S
            mark_due = self._mark_due()
            key_due = self._keys[0][0] if self._keys else None
            t = min(x for x in (frame_due, mark_due, key_due) if x is not None)
            if t > now + _EPS:
                break
            self.now = max(self.now, t)
            if mark_due is not None and mark_due <= t:
                out.append(self._echo_mark(t))
            elif key_due is not None and key_due <= t:
                _, digit = self._keys.popleft()
                out.append(ms.twilio_dtmf(self.stream_sid, digit, sequence=self._next_seq()))
                if not self._keys and self._on_keys_sent is not None:
                    self._on_keys_sent(t)
            else:
                payload = self._frame_source(t) if self._frame_source else ULAW_SILENCE
                out.append(ms.twilio_media(self.stream_sid, payload, self._next_frame + 1,
                                           self._next_frame * 20, sequence=self._next_seq()))
                self._next_frame += 1
        self.now = max(self.now, now)
        return out

    def _echo_mark(self, t: float) -> str:
        _, name = self._marks.popleft()
        self._flushed = max(0, self._flushed - 1)
        self.marks_echoed.append(name)
        self.last_mark_echo = t
        return ms.twilio_mark(self.stream_sid, name, sequence=self._next_seq())

    # ------------------------------------------------------------------ what the service sends

    def receive(self, text: str, now: float) -> tuple[str, Any]:
        """Take one message of ours, as media_stream.parse_outbound reads it (an unknown
        event is ignored). Raises media_stream.StreamProtocolError for a malformed one."""
        kind, value = ms.parse_outbound(text)
        if kind == "media":
            self._play(value, now)
        elif kind == "mark":
            self._marks.append((max(now, self.play_end), value))
            self.in_prompt = False
        elif kind == "clear":  # what is buffered is dropped and its marks come back now
            self.clears += 1
            self.play_end = now
            self.in_prompt = False
            self._marks = deque((now, name) for _, name in self._marks)
            self._flushed = len(self._marks)
        return kind, value

    def _play(self, audio: bytes, now: float) -> None:
        if not audio:
            return
        if self.in_prompt and now - self.play_end > GAP_TOLERANCE_S:
            self.audio_gaps += 1
        self.in_prompt = True
        self.play_end = max(now, self.play_end) + len(audio) / PHONE_RATE
        self.bot_audio_bytes += len(audio)
        self.bot_audio_seen_at = now

    @property
    def playback_idle(self) -> bool:
        """Nothing of the service's left to play and no mark waiting to be echoed."""
        return self.play_end <= self.now and not self._marks
