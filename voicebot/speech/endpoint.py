"""Cutting the caller's audio into utterances with webrtcvad: a pure state machine.

The call session feeds 20 ms frames of 8 kHz PCM with their stream time and gets events back
(speech_start, speech_pause, speech_end, max_length, no_input) plus the PCM that belongs to
the utterance.
No clock and no threads: time only moves when the caller says so, which makes the behaviour
reproducible in tests and in replay.

Why a window and not single frames: webrtcvad flags clicks, breaths and line noise as voiced
now and then, and it keeps saying "voiced" for about 80 ms after any sound stops (its
hangover), so a 5 ms click reads as 100 ms of speech. A frame therefore counts towards speech
start only when webrtcvad calls it voiced AND it is clearly louder than the line's noise floor
(the quietest frame of the last second); speech starts when `speech_start_ms` worth of such
frames fall in a short window, and ends after `speech_end_ms` without them. The pre-roll
(audio from just before that moment) is handed over with the start so the recognizer hears
the onset of the first word.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import webrtcvad

from voicebot.settings import EndpointSettings
from voicebot.speech.audio import frame_rms, pcm16_to_ulaw, ulaw_to_pcm16
from voicebot.speech.types import (
    FRAME_BYTES,
    FRAME_MS,
    PHONE_RATE,
    PREFETCH_LEAD_MS,
    EndpointEvent,
)

PRE_ROLL_MS = 300  # audio kept from before speech start (onsets are soft; VAD is late)
START_SLACK_FRAMES = 2  # unvoiced frames tolerated inside the start window
FLOOR_FRAMES = 50  # noise floor = quietest frame of the last second
ONSET_OVER_FLOOR = 2.0  # a frame must be this many times the floor's RMS (6 dB) to count
MIN_ONSET_RMS = 60.0  # ... and at least this loud (-55 dBFS) when the line is digitally silent
FRAME_S = FRAME_MS / 1000
PREFETCH_LEAD_FRAMES = PREFETCH_LEAD_MS // FRAME_MS
# webrtcvad does not update its noise model on frames of digital silence (mu-law 0xFF), so it
# meets the first word with its start-up model and may miss a quiet, short one. It is shown a
# quiet line instead; the level check uses the real frame.
DIGITAL_SILENCE_RMS = 8.0  # below the smallest mu-law step (+-8): the line is digitally silent
COMFORT_NOISE_RMS = 30.0  # what webrtcvad hears then: a quiet line (-61 dBFS), through mu-law
_COMFORT_NOISE = ulaw_to_pcm16(pcm16_to_ulaw(np.rint(np.random.default_rng(0).normal(
    0.0, COMFORT_NOISE_RMS, FRAME_BYTES // 2)).astype("<i2").tobytes()))


@dataclass
class FeedResult:
    """What one `feed` produced: events, and the PCM that belongs to the current utterance."""

    events: list[EndpointEvent] = field(default_factory=list)
    audio: bytes = b""


class Endpointer:
    """Speech start / end / max length / no-input for one call's inbound audio."""

    def __init__(self, settings: EndpointSettings | None = None) -> None:
        self.settings = settings or EndpointSettings()
        if not 0 <= self.settings.aggressiveness <= 3:
            raise ValueError("VAD aggressiveness must be 0..3")
        self._vad = webrtcvad.Vad(int(self.settings.aggressiveness))
        self._start_frames = max(1, math.ceil(self.settings.speech_start_ms / FRAME_MS))
        self._end_frames = max(1, math.ceil(self.settings.speech_end_ms / FRAME_MS))
        self._usual_end_frames = self._end_frames
        self._check_frames: int | None = None
        self._pauses = self._pause_points()
        self._max_bytes = int(self.settings.max_utterance_s * PHONE_RATE) * 2
        self._window = self._start_frames + START_SLACK_FRAMES
        self._pre_roll_frames = max(self._window, PRE_ROLL_MS // FRAME_MS)
        self.reset()

    def reset(self) -> None:
        """Forget everything (new stream); no-input is disarmed."""
        self.in_speech = False
        self._voiced: deque[bool] = deque(maxlen=self._window)
        self._ring: deque[bytes] = deque(maxlen=self._pre_roll_frames)
        self._levels: deque[float] = deque(maxlen=FLOOR_FRAMES)
        self._silence_run = 0
        self._last_voiced = False
        self._utterance_bytes = 0
        self._deadline: float | None = None
        self.utterance_start: float | None = None  # stream time of the first pre-roll frame

    def listen(self, t: float, no_input_timeout: float | None, *,
               speech_end_ms: int | None = None, check_ms: int | None = None) -> None:
        """Arm no-input: if no speech starts within the timeout from `t`, report no_input.

        Call it when the prompt has finished playing. None disarms. Speech already in
        progress counts as input. `speech_end_ms` overrides the trailing silence until the
        next `listen` (callers reading out a number pause ~1 s between digit groups, so a
        digit-collecting turn wants ~1500 ms where a menu answer wants the default).
        `check_ms` (shorter than the end) adds an `end_check` event at that much silence, so
        the session can end the utterance there (`end_now`) when what was said already
        decides the turn (a digits turn: an escape phrase).
        """
        self._deadline = None if no_input_timeout is None else t + no_input_timeout
        end_ms = self.settings.speech_end_ms if speech_end_ms is None else speech_end_ms
        self._end_frames = max(1, math.ceil(end_ms / FRAME_MS))
        check = None if check_ms is None else max(1, math.ceil(check_ms / FRAME_MS))
        self._check_frames = check if check is not None and check < self._end_frames else None
        self._pauses = self._pause_points()

    def end_now(self) -> None:
        """End the utterance in progress here (the session found the answer complete)."""
        if self.in_speech:
            self._end_utterance()

    @property
    def listening(self) -> bool:
        """True while a no-input timeout is armed."""
        return self._deadline is not None

    def poll(self, t: float) -> list[EndpointEvent]:
        """Check the no-input timeout without audio (e.g. the stream stalled)."""
        if self._deadline is not None and not self.in_speech and t >= self._deadline:
            self._deadline = None
            return [EndpointEvent("no_input", t)]
        return []

    def feed(self, frame: bytes, t: float) -> FeedResult:
        """Feed one 20 ms frame (320 bytes of 8 kHz PCM) starting at stream time `t`.

        Shorter frames are zero-padded; longer input is processed 20 ms at a time with
        times t, t + 0.02, ...; empty input only checks the no-input timeout.
        """
        if not frame:
            return FeedResult(events=self.poll(t))
        result = FeedResult()
        chunks: list[bytes] = []
        for i in range(0, len(frame), FRAME_BYTES):
            part = frame[i:i + FRAME_BYTES]
            chunks.append(part + b"\x00" * (FRAME_BYTES - len(part)))
        audio: list[bytes] = []
        for i, chunk in enumerate(chunks):
            self._feed_one(chunk, t + i * FRAME_S, result, audio)
        result.audio = b"".join(audio)
        return result

    def _feed_one(self, frame: bytes, t: float, result: FeedResult, audio: list[bytes]) -> None:
        level = float(frame_rms(frame)[0])
        voiced = self._vad.is_speech(
            _COMFORT_NOISE if level < DIGITAL_SILENCE_RMS else frame, PHONE_RATE)
        self._levels.append(level)
        loud = voiced and level >= max(MIN_ONSET_RMS, ONSET_OVER_FLOOR * min(self._levels))
        if self.in_speech:
            self._deadline = None
            audio.append(frame)
            self._utterance_bytes += len(frame)
            # A lone voiced frame in the trailing silence (a click, line noise) does not
            # restart the silence count; two voiced frames in a row do.
            if loud and self._last_voiced:
                self._silence_run = 0
            elif not loud or self._silence_run:
                self._silence_run += 1
            self._last_voiced = loud
            if self._utterance_bytes >= self._max_bytes:
                self._end_utterance()
                result.events.append(EndpointEvent("max_length", t))
            elif self._silence_run >= self._end_frames:
                self._end_utterance()
                result.events.append(EndpointEvent("speech_end", t))
            else:
                if self._silence_run in self._pauses:
                    tail = max(PREFETCH_LEAD_FRAMES, self._usual_end_frames - self._silence_run)
                    result.events.append(EndpointEvent("speech_pause", t,
                                                       tail_ms=tail * FRAME_MS))
                if self._silence_run == self._check_frames:
                    result.events.append(EndpointEvent("end_check", t))
            return

        self._ring.append(frame)
        self._voiced.append(loud)
        if sum(self._voiced) >= self._start_frames:
            pre_roll = b"".join(self._ring)
            self.utterance_start = t - (len(self._ring) - 1) * FRAME_S
            self.in_speech = True
            self._deadline = None
            self._silence_run = 0
            self._last_voiced = True
            self._utterance_bytes = len(pre_roll)
            self._ring.clear()
            self._voiced.clear()
            audio.append(pre_roll)
            result.events.append(EndpointEvent("speech_start", t, pre_roll))
            return
        if self._deadline is not None and t >= self._deadline:
            self._deadline = None
            result.events.append(EndpointEvent("no_input", t))

    def _pause_points(self) -> frozenset[int]:
        """Silence lengths (frames) at which an early decode may start: PREFETCH_LEAD_MS before
        the end and, with a check point, before the check (or before the usual end, if that
        is sooner). So the early decode is ready at a short check point; what is left of the
        usual end silence is added to it (`tail_ms`), so it decodes what a usual end would."""
        points = {max(1, self._end_frames - PREFETCH_LEAD_FRAMES)}
        if self._check_frames is not None:
            usual = max(1, self._usual_end_frames - PREFETCH_LEAD_FRAMES)
            points.add(max(1, min(self._check_frames - PREFETCH_LEAD_FRAMES, usual)))
        return frozenset(points)

    def _end_utterance(self) -> None:
        self.in_speech = False
        self._silence_run = 0
        self._last_voiced = False
        self._utterance_bytes = 0
        self._voiced.clear()
        self._ring.clear()
