"""The call session: one call's decisions as a pure core (events in, actions out).

events: what the driver reports and what it is asked to do; core: CallSession, which
orchestrates the parts: phase (where the call stands), playback (what the caller hears),
keys (keyed answers). Where a turn ends lives in voicebot.speech.turn_end.
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
    StreamDropped,
    StreamStarted,
    StreamStopped,
    Tick,
)

__all__ = [
    "AudioFrame", "CallSession", "ClearAudio", "CloseStream", "KeyPressed", "LookupFinished",
    "MarkPlayed", "PartFailed", "PlayPrompt", "PromptFailed", "PromptQueued", "RunLookup",
    "SessionAction", "SessionEvent", "StreamDropped", "StreamStarted", "StreamStopped", "Tick",
]
