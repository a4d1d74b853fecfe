"""A write the resilient records keep until the database takes it: an entry (a plain dict,
so the spool can hold it as a JSON line), its key (a later write with the same key replaces
an earlier one: every write is an idempotent upsert of the latest state) and how it is made."""

from __future__ import annotations

from typing import Any

from voicebot.records.recorder import RecordStore
from voicebot.records.transcript import CallTranscript

Key = tuple[str, str]


def entry_key(entry: dict[str, Any]) -> Key:
    who = entry["agent_call_sid"] if entry["op"] == "handoff" else entry["call_sid"]
    return entry["op"], str(who)


def apply_entry(store: RecordStore, entry: dict[str, Any]) -> None:
    op = entry["op"]
    if op == "save":
        store.save(CallTranscript.from_dict(entry["transcript"]),
                   ended=bool(entry.get("ended")), caller_hash=entry.get("caller_hash"))
    elif op == "open":
        store.open_call(entry["call_sid"], from_number=None, flow_name=entry["flow_name"],
                        flow_version=entry["flow_version"], variant=entry.get("variant"),
                        caller_hash=entry.get("caller_hash"))
    elif op == "enqueued":
        store.mark_enqueued(entry["call_sid"], entry["queue"],
                            summary_if_undecided=entry["summary_if_undecided"])
    elif op == "close":
        store.close_call(entry["call_sid"], entry["status"])
    elif op == "handoff":
        store.record_handoff(entry["agent_call_sid"], entry["call_sid"],
                             entry.get("queue_sid"), entry.get("queue_time"))
    else:
        raise ValueError(f"unknown record write {op!r}")
