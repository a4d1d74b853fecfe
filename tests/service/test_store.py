"""The call records on both backends (a real SQLite file, a real PostgreSQL): keyed caller
hash, survives reopening, many threads, the state a later request on another host needs."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading

from voicebot.records.hashing import hash_number, key_file_for, load_hash_key
from voicebot.records.store import CallStore
from voicebot.records.transcript import CallTranscript, PromptRecord, TurnRecord
from voicebot.service.briefing import interrupted_summary

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


def test_record_survives_reopen_and_keeps_no_number_in_clear(store_backend, tmp_path):
    where = store_backend.new_location(tmp_path)
    key = load_hash_key(None, tmp_path / "calls.sqlite3")
    store = CallStore(where, key)
    store.save(_transcript(), from_number=NUMBER)
    store.save(_transcript(), ended=True)
    store.close()

    reopened = CallStore(where, load_hash_key(None, tmp_path / "calls.sqlite3"))
    got = reopened.get("CA1")
    assert got == _transcript()
    row = reopened.call_row("CA1")
    assert row["caller_hash"] == hash_number(key, NUMBER)
    assert row["ended"] is not None
    raw = store_backend.raw_bytes(where)
    assert b"Say order status" in raw  # the scan reads the files the rows are in
    assert NUMBER.encode() not in raw
    assert b"5550100123" not in raw
    prompt = store_backend.scalar(where, "SELECT prompt FROM turns WHERE call_sid='CA1'")
    assert prompt == "Say order status or agent."
    reopened.close()


def test_sqlite_file_is_private_and_in_wal_mode_without_mmap(tmp_path):
    db = tmp_path / "calls.sqlite3"
    store = CallStore(db, b"k")
    store.save(_transcript())
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(f"{db}-wal").st_mode) == 0o600
    with store._db.transaction("check", write=False) as conn:
        assert conn.exec_driver_sql("PRAGMA mmap_size").scalar() == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def test_generated_key_is_private_and_stable(tmp_path):
    db = tmp_path / "var" / "calls.sqlite3"
    first = load_hash_key(None, db)
    assert load_hash_key(None, db) == first
    mode = stat.S_IMODE(os.stat(key_file_for(db)).st_mode)
    assert mode == 0o600
    assert load_hash_key("configured", db) == b"configured"
    assert hash_number(first, "+1 555-0100") == hash_number(first, "+15550100")


def test_status_callback_closes_known_and_unknown_calls(store_backend, tmp_path):
    store = store_backend.store(store_backend.new_location(tmp_path))
    store.save(_transcript("CA2"))
    store.close_call("CA2", "completed")
    store.close_call("CA3", "no-answer")
    assert store.call_row("CA2")["status"] == "completed"
    assert store.call_row("CA2")["ended"] is not None
    assert store.call_row("CA3")["status"] == "no-answer"
    assert store.get("CA3").outcome is None
    assert store.get("nope") is None
    store.close()


def test_concurrent_saves_from_many_threads(store_backend, tmp_path):
    store = store_backend.store(store_backend.new_location(tmp_path))
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
    store.close()


def test_two_stores_on_one_database_see_each_others_calls(store_backend, tmp_path):
    # Two hosts (or processes) on one database: the webhook on one, the stream on the
    # other, the <Connect> action and the agent on either.
    where = store_backend.new_location(tmp_path)
    host_a, host_b = store_backend.store(where), store_backend.store(where)
    host_a.open_call("CA5", from_number=NUMBER, flow_name="support", flow_version="v1",
                     variant="B")
    undecided = _transcript("CA5")
    undecided.outcome = undecided.reason = undecided.queue = None
    undecided.summary = ""
    undecided.context = {"node": "ask_order_number", "intents": ["order_status"],
                         "slots": {}, "turns": [{"kind": "dtmf", "heard": "1"}]}
    host_b.save(undecided, from_number=NUMBER)
    row = host_a.call_row("CA5")
    assert (row["flow_variant"], row["caller_hash"]) == ("B", hash_number(b"k", NUMBER))
    assert host_a.get("CA5").context["node"] == "ask_order_number"
    assert host_a.next_waiting("support") is None  # still talking to the bot

    # host B dies; host A answers the <Connect> action with the context B saved
    summary = interrupted_summary(host_a.get("CA5"))
    host_a.mark_enqueued("CA5", "support", summary_if_undecided=summary)
    waiting = host_b.next_waiting("support")
    assert (waiting.call_sid, waiting.outcome, waiting.reason) == ("CA5", "transfer", "error")
    assert waiting.summary == summary and "Intent: order status." in summary
    assert "at 'ask_order_number'" in summary
    host_b.save(undecided)  # a late save of the undecided call does not undo the hand-over
    assert host_a.get("CA5").outcome == "transfer"

    # a decided call keeps its own reason and summary when it is enqueued
    host_b.save(_transcript("CA6"), ended=True)
    host_a.mark_enqueued("CA6", "support", summary_if_undecided="not used")
    assert (host_b.get("CA6").reason, host_b.get("CA6").summary) == (
        "keyword", "Caller asked for a person.")

    host_b.record_handoff("CAagent", "CA5", "QU1", 12)
    assert host_a.caller_for_agent("CAagent") == "CA5"
    assert host_a.next_waiting("support").call_sid == "CA6"
    host_a.close()
    host_b.close()


def test_a_caller_with_no_record_is_still_briefed(store_backend, tmp_path):
    store = store_backend.store(store_backend.new_location(tmp_path))
    store.mark_enqueued("CAlost", "support", summary_if_undecided=interrupted_summary(None))
    waiting = store.next_waiting("support")
    assert (waiting.call_sid, waiting.reason) == ("CAlost", "error")
    assert "stopped before the caller said anything" in waiting.summary
    store.close()
