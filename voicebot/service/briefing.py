"""What the agent is told about a caller: spoken before the bridge and served to the desktop."""

from __future__ import annotations

from voicebot.flow.reasons import agent_summary, whisper_reason
from voicebot.records.transcript import CallTranscript

NOTHING_SAVED = ("The automated assistant stopped before the caller said anything; "
                 "the caller may need to be asked again.")


def whisper_text(transcript: CallTranscript | None) -> str:
    if transcript is None or not (transcript.summary or transcript.reason):
        return "Connecting a caller. No summary is available for this call."
    text = f"Connecting a caller who {whisper_reason(transcript.reason)}."
    if transcript.summary:
        text += " " + transcript.summary
    return text


def interrupted_summary(transcript: CallTranscript | None) -> str:
    """The summary of a call the bot never decided: the host serving its stream died (or its
    record was lost) and another host answers Twilio's <Connect> action. Built from the
    context the call saved after its last turn: where it was, intent, slots, last heard."""
    context = transcript.context if transcript is not None else {}
    if not context:
        return NOTHING_SAVED
    heard = [t.get("heard") for t in context.get("turns", [])
             if t.get("kind") == "speech" and t.get("heard")]
    lead = ("The automated assistant stopped mid-call (its server failed) at "
            f"'{context.get('node') or '?'}'.")
    return agent_summary(lead, context.get("intents") or [], context.get("slots") or {},
                         heard[-1:])
