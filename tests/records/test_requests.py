"""Retention and data-subject requests on both backends: expired data is purged per kind;
export returns all of one caller's calls and nothing of another's; forget leaves no trace
in the database's files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.backends import HASH_KEY
from tests.waiting import wait_until
from voicebot.records.access import AccessStore, AuditEntry
from voicebot.records.database import now_iso
from voicebot.records.erasure import export_caller, forget_caller
from voicebot.records.retention import Retention, acquire, purge, release
from voicebot.records.transcript import CallTranscript, PromptRecord, TurnRecord

ROOT = Path(__file__).resolve().parents[2]
ALICE, BOB = "+15550100", "+15550199"
DAY = 86400


def said(sid: str) -> str:
    return f"words only {sid} said"


def save_call(store, sid: str, number: str, *, days_ago: float = 0) -> None:
    store.save(CallTranscript(
        call_sid=sid, flow_name="support", flow_version="1.0", outcome="transfer",
        reason="keyword", queue="support", summary=f"summary of {sid}",
        context={"slots": {"issue": said(sid)}}, path=["main_menu"],
        prompts=[PromptRecord("How can I help?", "main_menu", "prompt", 0.5)],
        turns=[TurnRecord("main_menu", "speech", said(sid), 0.9, t_start=1.0)]),
        from_number=number, ended=True)
    store.record_handoff(f"AG{sid}", sid)
    if days_ago:
        with store.database.transaction("age the call") as conn:
            conn.execute(sa.text("UPDATE calls SET started = :t WHERE call_sid = :sid"),
                         {"t": now_iso(time.time() - days_ago * DAY), "sid": sid})


@pytest.fixture
def records(store_backend, tmp_path):
    where = store_backend.new_location(tmp_path)
    store = store_backend.store(where, HASH_KEY)
    yield where, store
    store.close()


def test_expired_data_is_purged_per_kind(records, store_backend):
    where, store = records
    save_call(store, "CAnew", ALICE)
    save_call(store, "CAmonth", ALICE, days_ago=40)  # turns expired, summary kept
    save_call(store, "CAquarter", BOB, days_ago=100)  # summary expired too
    save_call(store, "CAyear", BOB, days_ago=400)  # the whole call expired
    audit = AccessStore(store.database)
    audit.append_audit(AuditEntry(now_iso(time.time() - 800 * DAY), "old", "admin", "x", "y"))
    audit.append_audit(AuditEntry(now_iso(), "new", "admin", "x", "y"))
    retention = Retention(calls_days=365, turns_days=30, summaries_days=90, audit_days=730)

    dry = purge(store.database, retention, dry_run=True)
    assert (dry.calls, dry.turns, dry.prompts, dry.summaries, dry.audit) == (1, 2, 2, 1, 1)
    assert "would remove 1 calls" in dry.lines()[0]
    assert store.get("CAyear") is not None  # a dry run changes nothing

    done = purge(store.database, retention)
    assert (done.calls, done.turns, done.prompts, done.summaries, done.audit) == (1, 2, 2, 1, 1)
    assert store.get("CAyear") is None and store.caller_for_agent("AGCAyear") is None
    month, quarter, new = store.get("CAmonth"), store.get("CAquarter"), store.get("CAnew")
    assert month.turns == [] and month.prompts == [] and month.summary == "summary of CAmonth"
    assert quarter.turns == [] and quarter.summary == "" and quarter.context == {}
    assert quarter.outcome == "transfer"  # the call's metadata stays a year
    assert new.turns[0].heard == said("CAnew") and new.summary == "summary of CAnew"
    assert [e.actor for e in audit.audit_entries()] == ["new"]
    # what a running service must drop from memory: the calls changed, not every old call
    assert done.affected == {"CAyear", "CAmonth", "CAquarter"}
    again = purge(store.database, retention)
    assert again.total == 0 and again.affected == set()  # nothing left to do
    if store_backend.name == "sqlite":  # removed rows are overwritten (secure_delete)
        assert store.caller_hash(BOB).encode() in store_backend.raw_bytes(where)  # CAquarter
        assert b"CAyear" not in store_backend.raw_bytes(where)


def test_one_host_at_a_time_purges(records):
    _, store = records
    db = store.database
    assert acquire(db, "purge", "host-a:1", ttl_s=60)
    assert not acquire(db, "purge", "host-b:2", ttl_s=60)
    assert acquire(db, "purge", "host-a:1", ttl_s=60)  # renewing is fine
    release(db, "purge", "host-a:1")
    assert acquire(db, "purge", "host-b:2", ttl_s=0.001)
    time.sleep(0.05)
    assert acquire(db, "purge", "host-a:1", ttl_s=60)  # an expired lock is taken over


def test_export_has_all_of_one_callers_calls_and_nothing_of_anothers(records):
    _, store = records
    for sid, number in (("CAa1", ALICE), ("CAb1", BOB), ("CAa2", ALICE)):
        save_call(store, sid, number)
    document = export_caller(store, ALICE)
    assert [c["call_sid"] for c in document["calls"]] == ["CAa1", "CAa2"]
    assert document["calls"][0]["turns"][0]["heard"] == said("CAa1")  # opened, readable
    assert document["calls"][1]["taken_by_agent_calls"][0]["agent_call_sid"] == "AGCAa2"
    text = json.dumps(document)
    assert "CAb1" not in text and said("CAb1") not in text and BOB not in text
    assert store.caller_hash(ALICE) not in text
    assert export_caller(store, "+15550000")["calls"] == []


def test_forget_leaves_no_trace_in_the_database_files(records, store_backend):
    where, store = records
    for sid, number in (("CAa1", ALICE), ("CAb1", BOB), ("CAa2", ALICE)):
        save_call(store, sid, number)
    AccessStore(store.database).append_audit(
        AuditEntry(now_iso(), "desk-1", "supervisor", "read_call", "GET /calls/<call_sid>",
                   call_sid="CAa1"))
    traces = [store.caller_hash(ALICE), "CAa1", "CAa2", "AGCAa1"]
    with store.database.transaction("read what is sealed", write=False) as conn:
        traces += list(conn.execute(sa.text(
            "SELECT heard FROM turns WHERE call_sid IN ('CAa1', 'CAa2')")).scalars())
        traces += list(conn.execute(sa.text(
            "SELECT summary FROM calls WHERE call_sid IN ('CAa1', 'CAa2')")).scalars())
    raw = store_backend.raw_bytes(where)
    assert all(t.encode() in raw for t in traces)  # there before

    erased = forget_caller(store, ALICE)
    assert (erased.calls, erased.turns, erased.prompts, erased.handoffs) == (2, 2, 2, 2)
    assert erased.audit_entries == 1 and erased.request not in ("", None)
    assert store.get("CAa1") is None and store.get("CAb1").turns[0].heard == said("CAb1")
    entry = AccessStore(store.database).audit_entries()[0]
    assert entry.call_sid == f"erased:{erased.request}" and entry.actor == "desk-1"
    raw = store_backend.raw_bytes(where)
    if store_backend.name == "postgresql":  # its WAL keeps old rows until recycled
        raw = b"".join(p.read_bytes() for p in store_backend.cluster.files_of(where)
                       if "pg_wal" not in p.parts)
    left = [t for t in traces if t.encode() in raw]
    assert left == [], left
    assert store.caller_hash(BOB).encode() in raw and b"CAb1" in raw  # the other caller stays
    again = forget_caller(store, ALICE)  # asked again: nothing left, the traces seen to again
    assert (again.calls, again.turns) == (0, 0) and again.traces == erased.traces


def test_the_commands_purge_export_and_forget(store_backend, tmp_path):
    where = store_backend.new_location(tmp_path)
    store = store_backend.store(where, HASH_KEY)
    save_call(store, "CAcli1", ALICE)
    save_call(store, "CAold", BOB, days_ago=400)
    store.close()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VOICEBOT_", "TWILIO_"))}
    env = {**clean, **store_backend.env(where), "VOICEBOT_HASH_KEY": HASH_KEY,
           "PYTHONPATH": str(ROOT)}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "voicebot", "records", *args], env=env,
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)

    dry = run("purge", "--dry-run")
    assert dry.returncode == 0 and "would remove 1 calls" in dry.stdout
    assert "removed 1 calls" in run("purge").stdout
    out = tmp_path / "alice.json"
    exported = run("export", "--caller", ALICE, "-o", str(out))
    assert exported.returncode == 0, exported.stderr
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert [c["call_sid"] for c in json.loads(out.read_text())["calls"]] == ["CAcli1"]
    nowhere = run("export", "--caller", ALICE, "-o", str(tmp_path / "no-dir" / "a.json"))
    assert nowhere.returncode == 2 and "cannot write the export" in nowhere.stderr
    assert "Traceback" not in nowhere.stderr
    forgot = run("forget", "--caller", ALICE)
    assert forgot.returncode == 0 and "erased 1 call(s)" in forgot.stdout
    bad = run("forget", "--caller", "alice")
    assert bad.returncode == 2 and "not a phone number" in bad.stderr
    assert "Traceback" not in bad.stderr
    audit = run("audit")
    for action in ("purge_dry_run", "purge", "export", "forget"):
        assert f"(admin)  {action}  voicebot records" in audit.stdout
    assert ALICE not in audit.stdout and "CAcli1" not in audit.stdout


def test_the_service_purges_on_its_schedule_and_serves_no_purged_record(records, tmp_path):
    from voicebot.records.resilient import ResilientRecords
    from voicebot.service.housekeeping import Housekeeper

    _, store = records
    resilient = ResilientRecords(store, hash_key=HASH_KEY.encode(), spool_dir=None)
    resilient.save(CallTranscript(call_sid="CAkept", flow_name="support"),
                   from_number=ALICE, ended=True)
    assert resilient.flush(10) and resilient.get("CAkept") is not None  # in memory too
    save_call(store, "CAkept", ALICE, days_ago=400)
    keeper = Housekeeper(resilient, Retention(), every_s=0.2, first_after_s=0.1)
    keeper.start()
    try:
        entries = wait_until(lambda: AccessStore(store.database).audit_entries(), 30,
                             "the scheduled purge", every_s=0.1)
        assert entries[0].endpoint == "scheduled purge" and "calls=1" in entries[0].detail
        assert store.get("CAkept") is None
        assert resilient.get("CAkept") is None  # not served again from what it wrote
    finally:
        keeper.stop()
        resilient.close()
    assert not keeper.running  # stopped before the records close
