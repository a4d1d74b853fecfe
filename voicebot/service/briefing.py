"""What the agent is told about a caller: spoken before the bridge and served to the desktop."""

from __future__ import annotations

from voicebot.flow.reasons import whisper_reason
from voicebot.records.transcript import CallTranscript


def whisper_text(transcript: CallTranscript | None) -> str:
    if transcript is None or not (transcript.summary or transcript.reason):
        return "Connecting a caller. No summary is available for this call."
    text = f"Connecting a caller who {whisper_reason(transcript.reason)}."
    if transcript.summary:
        text += " " + transcript.summary
    return text
