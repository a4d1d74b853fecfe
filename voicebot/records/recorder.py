"""Where a call's transcript goes while the call runs.

The driver calls `recorder.save(transcript, from_number=..., ended=...)` at the start,
after each turn or prompt change, and at the end. The service records calls through
ResilientRecords (records/resilient.py), which keeps the writes and hands them to a store
with the RecordStore methods (CallStore); offline replay uses NullRecorder or
MemoryRecorder. A recorder that raises never breaks a call: the driver logs and carries on.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Protocol

from voicebot.records.transcript import CallTranscript


class Recorder(Protocol):
    def save(self, transcript: CallTranscript, *, from_number: str | None = None,
             ended: bool = False) -> None:
        """Store the transcript as it is now (called repeatedly; last call wins)."""


class RecordStore(Protocol):
    """What ResilientRecords needs of a store (CallStore has it). `caller_hash` is the
    number already hashed, for records kept in the spool."""

    def save(self, transcript: CallTranscript, *, from_number: str | None = None,
             ended: bool = False, caller_hash: str | None = None) -> None: ...
    def open_call(self, call_sid: str, *, from_number: str | None, flow_name: str,
                  flow_version: str, variant: str | None = None,
                  caller_hash: str | None = None) -> None: ...
    def mark_enqueued(self, call_sid: str, queue: str, *, summary_if_undecided: str) -> None: ...
    def describe(self) -> str: ...
    def get(self, call_sid: str) -> CallTranscript | None: ...
    def call_row(self, call_sid: str) -> dict[str, Any] | None: ...
    def close_call(self, call_sid: str, status: str) -> None: ...
    def record_handoff(self, agent_call_sid: str, call_sid: str, queue_sid: str | None = None,
                       queue_time: int | None = None) -> None: ...
    def next_waiting(self, queue: str) -> CallTranscript | None: ...
    def caller_for_agent(self, agent_call_sid: str) -> str | None: ...
    def close(self) -> None: ...


class NullRecorder:
    """Keeps nothing (offline replay reads the transcript straight from the driver)."""

    def save(self, transcript: CallTranscript, *, from_number: str | None = None,
             ended: bool = False) -> None:
        return None


@dataclass
class SavedCall:
    transcript: CallTranscript
    from_number: str | None
    ended: bool
    saves: int


@dataclass
class MemoryRecorder:
    """Keeps a copy of each call's latest transcript in memory (tests, chat, replay)."""

    calls: dict[str, SavedCall] = field(default_factory=dict)

    def save(self, transcript: CallTranscript, *, from_number: str | None = None,
             ended: bool = False) -> None:
        previous = self.calls.get(transcript.call_sid)
        self.calls[transcript.call_sid] = SavedCall(
            transcript=copy.deepcopy(transcript),
            from_number=from_number if from_number is not None else (
                previous.from_number if previous else None),
            ended=ended or bool(previous and previous.ended),
            saves=(previous.saves if previous else 0) + 1,
        )
