"""Turn a finished call from the call records into a scenario skeleton (a regression test):
read it from the store, write what voicebot.records.as_scenario makes of it."""

from __future__ import annotations

import os
from pathlib import Path

from voicebot.errors import VoicebotError
from voicebot.records.as_scenario import scenario_skeleton
from voicebot.records.crypto import DataCipher
from voicebot.records.store import CallStore


class ExportError(VoicebotError):
    """The call cannot be exported (no database, no such call, call not finished)."""


def export_call(call_sid: str, records: Path | str, *, hash_key: str | None = None,
                cipher: DataCipher | None = None, output: Path | None = None,
                flow_path: Path | None = None) -> str:
    """Read `call_sid` from the call records (a SQLite file or a postgresql:// URL, opened
    with the data keys `cipher`) and return (and write) its scenario."""
    if isinstance(records, Path) and not records.is_file():
        raise ExportError(f"no call records at {records} (set VOICEBOT_DB or "
                          "VOICEBOT_DATABASE_URL, or pass --db)")
    store = CallStore(records, hash_key or "export-reads-only", cipher=cipher)
    try:
        transcript = store.get(call_sid)
    finally:
        store.close()
    if transcript is None:
        raise ExportError(f"no call {call_sid} in {store.describe()}")
    flow_ref = None
    if flow_path is not None:
        base = (output.parent if output else Path.cwd()).resolve()
        flow_ref = os.path.relpath(flow_path.resolve(), base)
    text = scenario_skeleton(transcript, flow_ref=flow_ref)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    return text
