"""The call session: one call's decisions as a pure core (events in, actions out).

events: what the driver reports and what it is asked to do. core: CallSession, which hands
the caller's turns to the flow and does what it says. turns: where an audio frame or a key
goes and where a turn ends (with utterance: the speech in progress; keys: a keyed answer).
phase: where the call stands. playback: what the caller hears. record: the transcript.
The rules of a turn (grammar, end silences) are in voicebot.speech.turn_end.
"""

from voicebot.telephony.session.core import CallSession
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
    StopServing,
    StreamDropped,
    StreamStarted,
    StreamStopped,
    Tick,
)

__all__ = [
    "AudioFrame", "CallSession", "ClearAudio", "CloseStream", "KeyPressed", "LookupFinished",
    "MarkPlayed", "PartFailed", "PlayPrompt", "PromptFailed", "PromptQueued", "RunLookup",
    "SessionAction", "SessionEvent", "StopServing", "StreamDropped", "StreamStarted",
    "StreamStopped", "Tick",
]
