"""ResilientRecords on a real SQLite file that is made immutable, removed or locked: writes
never fail or wait, reads answer by their deadline, nothing is lost across a restart."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from tests import waiting
from tests.faults import db_files
from voicebot.records.hashing import hash_number, load_hash_key
from voicebot.records.resilient import RecordsUnavailable, ResilientRecords
from voicebot.records.store import CallStore
from voicebot.records.transcript import CallTranscript, PromptRecord

NUMBER = "+15550100777"


def goodbye(sid: str) -> CallTranscript:
    return CallTranscript(call_sid=sid, flow_name="support", flow_version="1.0",
                          prompts=[PromptRecord("Thanks for calling. Goodbye.", "goodbye",
                                                "goodbye", 9.0)],
                          path=["main_menu", "goodbye"], outcome="hangup", reason="completed")


def open_records(var: Path) -> ResilientRecords:
    db = var / "calls.sqlite3"
    key = load_hash_key(None, db)
    return ResilientRecords(CallStore(db, key), hash_key=key, spool_dir=var / "spool",
                            reopen=lambda: CallStore(db, key), db_path=db, deadline_s=0.5)


def in_database(var: Path, sid: str) -> CallTranscript | None:
    db = var / "calls.sqlite3"
    store = CallStore(db, load_hash_key(None, db))
    try:
        return store.get(sid)
    finally:
        store.close()


def spooled(var: Path) -> str:
    return "".join(p.read_text() for p in (var / "spool").glob("*.jsonl"))


def wait_until(condition, limit_s: float = 30.0) -> None:
    waiting.wait_until(condition, limit_s)


@pytest.fixture
def var(tmp_path: Path) -> Path:
    return tmp_path / "var"


def test_records_are_written_and_read_back(var: Path) -> None:
    records = open_records(var)
    try:
        records.save(goodbye("CA1"), from_number=NUMBER)
        records.save(goodbye("CA1"), ended=True)
        records.close_call("CA1", "completed")
        records.record_handoff("CAagent", "CA1", "QU1", 12)
        assert records.flush(10)
        assert records.call_row("CA1")["status"] == "completed"
        assert records.caller_for_agent("CAagent") == "CA1"
        assert records.health() == (True, "writing")
    finally:
        records.close()
    assert in_database(var, "CA1") == goodbye("CA1")


def test_an_unwritable_database_keeps_the_records_until_it_takes_them(var, immutable) -> None:
    records = open_records(var)
    try:
        records.save(goodbye("CAbefore"))
        assert records.flush(10)
        immutable(*db_files(var / "calls.sqlite3")[:2])  # .db and -wal, as an operator might
        records.save(goodbye("CA2"), from_number=NUMBER)  # returns at once, never raises
        records.save(goodbye("CA2"), ended=True)
        records.close_call("CA2", "completed")
        assert records.get("CA2") == goodbye("CA2")  # what the <Connect> action reads
        wait_until(lambda: "CA2" in spooled(var))
        ok, detail = records.health()
        assert not ok and "refuses" in detail
        assert NUMBER not in spooled(var) and "5550100777" not in spooled(var)
        key = load_hash_key(None, var / "calls.sqlite3")
        assert hash_number(key, NUMBER) in spooled(var)
        immutable.release()  # the operator repairs it: the writes go in, the spool empties
        wait_until(lambda: records.health()[0])
        assert records.flush(10)
        assert records.call_row("CA2")["caller_hash"] == hash_number(key, NUMBER)
        assert spooled(var) == ""
    finally:
        records.close()
    assert in_database(var, "CA2") == goodbye("CA2")


def test_the_spool_reaches_the_database_at_the_next_start(var: Path, immutable) -> None:
    records = open_records(var)
    records.save(goodbye("CAfirst"))
    assert records.flush(10)
    immutable(*db_files(var / "calls.sqlite3")[:2])  # -shm too: SIGBUS (the store's pragmas)
    records.save(goodbye("CAlast"), ended=True)
    records.close()  # the service stops while the database refuses writes
    assert "CAlast" in spooled(var)
    immutable.release()
    again = open_records(var)  # the next start
    try:
        assert again.flush(10)
        assert again.call_row("CAlast")["outcome"] == "hangup"
    finally:
        again.close()
    assert in_database(var, "CAlast") == goodbye("CAlast")
    assert spooled(var) == ""


def test_a_database_removed_under_the_service_is_made_again_with_its_records(var) -> None:
    records = open_records(var)
    try:
        for sid in ("CA1", "CA2"):
            records.save(goodbye(sid), ended=True)
        assert records.flush(10)
        for path in db_files(var / "calls.sqlite3"):
            path.unlink(missing_ok=True)
        ok, detail = records.health()
        assert not ok and "removed" in detail
        wait_until(lambda: records.health()[0])
        records.save(goodbye("CA3"), ended=True)
        assert records.flush(10)
    finally:
        records.close()
    assert [in_database(var, sid) for sid in ("CA1", "CA2", "CA3")] == [
        goodbye("CA1"), goodbye("CA2"), goodbye("CA3")]


def test_a_locked_database_costs_readers_their_deadline_and_writers_nothing(var) -> None:
    records = open_records(var)
    db = var / "calls.sqlite3"
    other = sqlite3.connect(db, isolation_level=None)
    try:
        records.save(goodbye("CA1"), ended=True)
        assert records.flush(10)
        other.execute("BEGIN EXCLUSIVE")  # another process holds the database
        started = time.monotonic()
        records.save(goodbye("CA2"), ended=True)
        records.close_call("CA1", "completed")
        assert time.monotonic() - started < 1.0  # writes never wait for the database
        with pytest.raises(RecordsUnavailable):
            records.call_row("CA1")
        assert records.next_waiting("support") is None  # the agent gets a general briefing
        assert records.get("CA2") == goodbye("CA2")  # from memory
        assert not records.health()[0]
        other.execute("COMMIT")
        assert records.flush(30)
        assert records.call_row("CA1")["status"] == "completed"
    finally:
        other.close()
        records.close()
    assert in_database(var, "CA2") == goodbye("CA2")
