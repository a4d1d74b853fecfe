"""A call's record as a transcript a person reads: what the bot said (and whether the caller
cut it short), what it heard and how sure it was, keys pressed, silences, where the call
moved in the flow, and how it ended and why. Plain data; the template escapes it."""

from __future__ import annotations

from dataclasses import dataclass

from voicebot.flow.reasons import whisper_reason
from voicebot.records.transcript import CallTranscript

BOT, CALLER, NODE, END = "bot", "caller", "node", "end"


@dataclass(frozen=True)
class Entry:
    t: float | None  # stream seconds
    who: str  # bot | caller | node | end
    text: str
    detail: str = ""  # "confidence 0.83, no match", "interrupted by the caller", ...
    kind: str = ""  # prompt kind, turn kind or result (for the style)
    node: str = ""


def timeline(t: CallTranscript) -> list[Entry]:
    """The call's events in the order they happened."""
    events: list[tuple[float, int, Entry]] = []
    for p in t.prompts:
        detail = "interrupted by the caller" if p.barged_in else (
            "" if p.kind == "prompt" else p.kind)
        events.append((p.t_sent, 1, Entry(p.t_sent, BOT, p.text, detail, p.kind, p.node)))
    for r in t.turns:
        when = r.t_start if r.t_start is not None else (r.t_end or 0.0)
        events.append((when, 0, Entry(when, CALLER, *_turn_words(r), r.node)))
    events.sort(key=lambda e: (e[0], e[1]))
    out: list[Entry] = []
    node = None
    for _, _, entry in events:
        if entry.node and entry.node != node:
            node = entry.node
            out.append(Entry(entry.t, NODE, node, kind="node", node=node))
        out.append(entry)
    out.append(_ending(t))
    return out


def _turn_words(r) -> tuple[str, str, str]:  # noqa: ANN001 - a TurnRecord
    notes = []
    if r.confidence is not None:
        notes.append(f"confidence {r.confidence:.2f}")
    if r.result and r.result not in ("matched", "collected"):
        notes.append(r.result.replace("_", " "))
    elif r.intent:
        notes.append(f"intent {r.intent}")
    if r.during_prompt:
        notes.append("over the prompt")
    if r.kind == "dtmf":
        return f"pressed {r.heard}", ", ".join(notes), "dtmf"
    if r.kind == "no_input":
        return "(said nothing)", ", ".join(notes), "no_input"
    return r.heard or "(nothing recognised)", ", ".join(notes), r.result or "speech"


def _ending(t: CallTranscript) -> Entry:
    last = max([p.t_played or p.t_sent for p in t.prompts] + [0.0])
    if t.outcome == "transfer":
        why = whisper_reason(t.reason) if t.reason else "was handed over"
        return Entry(last, END, f"Handed over to the {t.queue or '?'} queue: the caller {why}.",
                     t.summary, "transfer")
    if t.outcome == "hangup" and t.reason == "completed":
        return Entry(last, END, "The bot ended the call: done.", "", "completed")
    if t.outcome == "hangup":
        return Entry(last, END, "The caller hung up before the flow was done.", "", "abandoned")
    return Entry(last, END, "The call is still going on (or its end was not recorded).", "",
                 "open")
