"""The writes ResilientRecords keeps, retries and spools: each is a plain dict (so it can go
into the spool as a JSON line) naming its `op`, and made on a store by `apply`.

A later write with the same key replaces an earlier one still waiting (a call's newest
transcript is all that needs writing); audit entries each have a key of their own.
"""

from __future__ import annotations

import uuid
from typing import Any

from voicebot.records.access import AccessStore, AuditEntry
from voicebot.records.recorder import RecordStore
from voicebot.records.transcript import CallTranscript

Key = tuple[str, str]


def key_of(entry: dict[str, Any]) -> Key:
    op = entry["op"]
    if op == "handoff":
        return op, str(entry["agent_call_sid"])
    if op == "audit":
        return op, str(entry.setdefault("id", uuid.uuid4().hex))
    return op, str(entry["call_sid"])


def call_of(entry: dict[str, Any]) -> str | None:
    """The caller's call a write is about (None for an audit entry)."""
    return None if entry["op"] == "audit" else str(entry["call_sid"])


def apply(store: RecordStore, entry: dict[str, Any]) -> None:
    """Make one kept write on `store`."""
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
    elif op == "stream":
        store.mark_stream(entry["call_sid"], entry["state"])
    elif op == "handoff":
        store.record_handoff(entry["agent_call_sid"], entry["call_sid"],
                             entry.get("queue_sid"), entry.get("queue_time"))
    elif op == "audit":
        AccessStore(store.database).append_audit(AuditEntry(**entry["entry"]))
    else:
        raise ValueError(f"unknown record write {op!r}")
