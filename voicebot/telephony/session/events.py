"""What the driver tells a call session (events) and what the session asks of it (actions).

The contract between the pure CallSession and whoever drives it (the live WebSocket, offline
replay, tests), as voicebot.flow.events is for the flow. Times are on the driver's clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voicebot.flow.events import LookupDone, PerformLookup

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


@dataclass(frozen=True)
class StopServing:
    """The service is shutting down: hand the caller to a person now, with a short message
    (a call already handing over or saying goodbye finishes as it is)."""

    t: float


SessionEvent = (StreamStarted | AudioFrame | KeyPressed | MarkPlayed | PromptQueued
                | PromptFailed | PartFailed | LookupFinished | Tick | StreamStopped
                | StreamDropped | StopServing)

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
