"""The call records: a real SQLite file, keyed caller hash, survives reopening."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading

from voicebot.records.hashing import hash_number, key_file_for, load_hash_key
from voicebot.records.store import CallStore
from voicebot.records.transcript import CallTranscript, PromptRecord, TurnRecord

NUMBER = "+15550100123"


def _transcript(sid: str = "CA1") -> CallTranscript:
    return CallTranscript(
        call_sid=sid, flow_name="support", flow_version="v1", engine="pocketsphinx",
        prompts=[PromptRecord("You are talking to an automated assistant.", "start",
                              "disclosure", 0.0, 3.1),
                 PromptRecord("Say order status or agent.", "main_menu", "prompt", 3.1, 5.0)],
        turns=[TurnRecord("main_menu", "speech", "agent", 0.82, True, "agent", 5.6, 6.1,
                          6.4)],
        path=["start", "main_menu"], outcome="transfer", reason="keyword", queue="support",
        summary="Caller asked for a person.", context={"intent": "agent", "slots": {}},
    )


def test_record_survives_reopen_and_keeps_no_number_in_clear(tmp_path):
    db = tmp_path / "calls.sqlite3"
    key = load_hash_key(None, db)
    store = CallStore(db, key)
    store.save(_transcript(), from_number=NUMBER)
    store.save(_transcript(), ended=True)
    store.close()

    reopened = CallStore(db, load_hash_key(None, db))
    got = reopened.get("CA1")
    assert got == _transcript()
    row = reopened.call_row("CA1")
    assert row["caller_hash"] == hash_number(key, NUMBER)
    assert row["ended"] is not None
    raw = db.read_bytes() + (db.parent / "calls.sqlite3-wal").read_bytes() \
        if (db.parent / "calls.sqlite3-wal").exists() else db.read_bytes()
    assert NUMBER.encode() not in raw
    assert b"5550100123" not in raw
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        prompt = conn.execute("SELECT prompt FROM turns WHERE call_sid='CA1'").fetchone()[0]
    assert prompt == "Say order status or agent."


def test_generated_key_is_private_and_stable(tmp_path):
    db = tmp_path / "var" / "calls.sqlite3"
    first = load_hash_key(None, db)
    assert load_hash_key(None, db) == first
    mode = stat.S_IMODE(os.stat(key_file_for(db)).st_mode)
    assert mode == 0o600
    assert load_hash_key("configured", db) == b"configured"
    assert hash_number(first, "+1 555-0100") == hash_number(first, "+15550100")


def test_status_callback_closes_known_and_unknown_calls(tmp_path):
    store = CallStore(tmp_path / "c.sqlite3", b"k")
    store.save(_transcript("CA2"))
    store.close_call("CA2", "completed")
    store.close_call("CA3", "no-answer")
    assert store.call_row("CA2")["status"] == "completed"
    assert store.call_row("CA2")["ended"] is not None
    assert store.call_row("CA3")["status"] == "no-answer"
    assert store.get("CA3").outcome is None
    assert store.get("nope") is None


def test_concurrent_saves_from_many_threads(tmp_path):
    store = CallStore(tmp_path / "c.sqlite3", b"k")
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            for _ in range(20):
                store.save(_transcript(f"CA{i}"), from_number=NUMBER)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(store.get(f"CA{i}").turns[0].heard == "agent" for i in range(10))
