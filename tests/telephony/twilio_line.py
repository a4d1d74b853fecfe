"""A small stand-in for Twilio's side of one Media Stream, on a virtual clock.

It sends what Twilio sends (connected, start, a 20 ms mu-law media frame every 20 ms, dtmf,
stop), plays the bot's audio like Twilio's playback buffer (a mark is echoed once the audio
queued before it has finished playing; `clear` empties the buffer and echoes the pending
marks at once) and keeps every message the driver sent, with its time. Only Twilio's cloud is
imitated; the driver, flow, engine and TTS under test are the real ones.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from voicebot.speech.audio import frames, pcm16_to_ulaw
from voicebot.telephony import media_stream as ms
from voicebot.telephony.driver import CallDriver

FRAME_S = 0.02
ULAW_SILENCE = b"\xff" * 160
CALL_SID = "CA0123456789abcdef0123456789abcdef"
STREAM_SID = "MZ0123456789abcdef0123456789abcdef"
ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"


@dataclass
class Sent:
    t: float
    kind: str  # media | mark | clear
    value: Any  # mu-law bytes | mark name | None


class TwilioLine:
    def __init__(self, driver: CallDriver, *, params: dict[str, str] | None = None,
                 call_sid: str = CALL_SID) -> None:
        self.driver = driver
        self.call_sid = call_sid
        self.params = {"flow": "support"} if params is None else params
        self.t = 0.0
        self.sent: list[Sent] = []
        self.hold_marks = False  # True: playback "stalls", marks are not echoed
        self._play_end = 0.0
        self._marks: deque[tuple[str, float]] = deque()
        self._chunk = 0

    # ------------------------------------------------------------------ talking to the driver

    def send(self, text: str) -> list[str]:
        out = self.driver.receive(text, self.t)
        for message in out:
            kind, value = ms.parse_outbound(message)
            self.sent.append(Sent(self.t, kind, value))
            if kind == "media":
                start = max(self.t, self._play_end)
                self._play_end = start + len(value) / 8000
            elif kind == "mark":
                self._marks.append((value, max(self.t, self._play_end)))
            elif kind == "clear":
                self._play_end = self.t
                pending = list(self._marks)
                self._marks.clear()
                for name, _ in pending:  # Twilio echoes the marks of cleared audio
                    self.send(ms.twilio_mark(STREAM_SID, name))
        return out

    def open(self) -> None:
        self.send(ms.twilio_connected())
        self.send(ms.twilio_start(STREAM_SID, self.call_sid, ACCOUNT_SID, self.params))

    def step(self, ulaw: bytes = ULAW_SILENCE) -> None:
        """20 ms pass: due marks are echoed, then the next caller frame is sent."""
        self.t = round(self.t + FRAME_S, 6)
        while self._marks and not self.hold_marks and self._marks[0][1] <= self.t:
            name, _ = self._marks.popleft()
            self.send(ms.twilio_mark(STREAM_SID, name))
        if self.driver.finished:
            return
        self._chunk += 1
        self.send(ms.twilio_media(STREAM_SID, ulaw, self._chunk, int((self.t - FRAME_S) * 1000)))

    def say(self, pcm: bytes) -> None:
        """The caller speaks `pcm` (8 kHz 16-bit) from now, frame by frame."""
        for frame in frames(pcm):
            if self.driver.finished:
                return
            self.step(pcm16_to_ulaw(frame))

    def silence(self, seconds: float) -> None:
        for _ in range(round(seconds / FRAME_S)):
            if self.driver.finished:
                return
            self.step()

    def press(self, digit: str) -> None:
        self.send(ms.twilio_dtmf(STREAM_SID, digit))

    def stop(self) -> None:
        self.send(ms.twilio_stop(STREAM_SID, self.call_sid, ACCOUNT_SID))

    def until_quiet(self, limit_s: float = 60.0) -> None:
        """Silence until the bot's audio has all played (no marks pending) or the call ends."""
        end = self.t + limit_s
        while not self.driver.finished and self.t < end and (
                self._marks or self._play_end > self.t):
            self.step()

    def until_finished(self, limit_s: float = 60.0) -> None:
        end = self.t + limit_s
        while not self.driver.finished and self.t < end:
            self.step()

    def until_prompt(self, kind: str, limit_s: float = 60.0) -> None:
        """Silence until the driver has sent a prompt of `kind` (per the transcript)."""
        end = self.t + limit_s
        while not self.driver.finished and self.t < end and not any(
                p.kind == kind for p in self.driver.transcript.prompts):
            self.step()

    # ----------------------------------------------------------------------- what happened

    def kinds(self) -> list[str]:
        """The outbound message kinds in order, with runs of media collapsed."""
        out: list[str] = []
        for s in self.sent:
            if not (s.kind == "media" and out and out[-1] == "media"):
                out.append(s.kind)
        return out

    def clears(self) -> list[float]:
        return [s.t for s in self.sent if s.kind == "clear"]

    @property
    def playing(self) -> bool:
        return bool(self._marks) or self._play_end > self.t
