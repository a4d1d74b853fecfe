"""A caller the test scripts step by step, on Twilio's side of the stream (TwilioSide).

Twilio's part (messages, 20 ms frames, the playback buffer, mark echoes, clear) is the
replay package's TwilioSide, the one simulator replay and the stand-in use too. This only
connects it to a CallDriver on a virtual clock and keeps every message the driver sent,
with its time. Only Twilio's cloud is imitated; the driver, flow, engine and TTS under
test are the real ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voicebot.replay.twilio_side import FRAME_S, ULAW_SILENCE, TwilioSide
from voicebot.speech.audio import frames, pcm16_to_ulaw
from voicebot.telephony.driver import CallDriver

CALL_SID = "CA0123456789abcdef0123456789abcdef"
STREAM_SID = "MZ0123456789abcdef0123456789abcdef"
ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"


@dataclass
class Sent:
    t: float
    kind: str  # media | mark | clear
    value: Any  # mu-law bytes | mark name | None


class ScriptedLine:
    def __init__(self, driver: CallDriver, *, params: dict[str, str] | None = None,
                 call_sid: str = CALL_SID) -> None:
        self.driver = driver
        self.t = 0.0
        self.sent: list[Sent] = []
        self.twilio = TwilioSide(call_sid, STREAM_SID, ACCOUNT_SID,
                                 {"flow": "support"} if params is None else params,
                                 frame_source=lambda _t: self._frame)
        self._frame = ULAW_SILENCE

    @property
    def hold_marks(self) -> bool:
        """True: Twilio's playback "stalls", marks are not echoed."""
        return self.twilio.stalled

    @hold_marks.setter
    def hold_marks(self, value: bool) -> None:
        self.twilio.stalled = value

    # ------------------------------------------------------------------ talking to the driver

    def send(self, text: str) -> list[str]:
        """One message to the driver now; what Twilio answers at once (marks of cleared
        audio) follows it."""
        out = self.driver.receive(text, self.t)
        for message in out:
            kind, value = self.twilio.receive(message, self.t)
            self.sent.append(Sent(self.t, kind, value))
        self._send_all(self.twilio.poll(self.t))
        return out

    def _send_all(self, texts: list[str]) -> None:
        for text in texts:
            if self.driver.finished:  # it takes nothing more
                return
            self.send(text)

    def open(self) -> None:
        self._send_all(self.twilio.opening())

    def step(self, ulaw: bytes = ULAW_SILENCE) -> None:
        """20 ms pass: due marks are echoed, then the caller's next frame is sent."""
        self._frame = ulaw
        self.t = round(self.t + FRAME_S, 6)
        self._send_all(self.twilio.poll(self.t))

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
        self.twilio.press(digit, at=self.t)
        self._send_all(self.twilio.poll(self.t))

    def stop(self) -> None:
        self._send_all(self.twilio.closing())

    def until_quiet(self, limit_s: float = 60.0) -> None:
        """Silence until the bot's audio has all played (no marks pending) or the call ends."""
        end = self.t + limit_s
        while not self.driver.finished and self.t < end and self.playing:
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
        return not self.twilio.playback_idle
