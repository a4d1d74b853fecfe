"""What callers said is sealed at rest (AES-GCM) on both backends, in the spool too; a wrong
key, a missing key and a changed value are clear errors that lose nothing else; the keys
rotate."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.backends import DATA_KEY, TEST_CIPHER
from tests.pg import free_port
from voicebot.records.crypto import (
    UNREADABLE,
    DataCipher,
    DataKeyError,
    Unreadable,
    new_key,
    parse_keys,
)
from voicebot.records.database import Database, location_for
from voicebot.records.opening import data_cipher
from voicebot.records.rotation import rotate
from voicebot.records.spool import Spool
from voicebot.records.store import CallStore
from voicebot.records.transcript import CallTranscript, PromptRecord, TurnRecord
from voicebot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
WORDS = "my parcel never came and the driver was rude"
SUMMARY = "Caller upset about a missing parcel"


def transcript(sid: str, words: str = WORDS) -> CallTranscript:
    return CallTranscript(
        call_sid=sid, flow_name="support", flow_version="1.0", outcome="transfer",
        reason="keyword", queue="support", summary=f"{SUMMARY} ({sid})",
        context={"slots": {"issue": words}},
        prompts=[PromptRecord(f"You said {words}. Is that right?", "ask", "confirm", 1.0)],
        turns=[TurnRecord("ask", "speech", words, 0.9), TurnRecord("ask", "speech", "yes", 0.8)])


def other_key() -> DataCipher:
    return DataCipher(parse_keys(new_key()))


def test_the_database_holds_no_word_in_clear_and_reads_it_all_back(store_backend, tmp_path):
    where = store_backend.new_location(tmp_path)
    store = store_backend.store(where)
    try:
        store.save(transcript("CAsealed"), from_number="+15550100", ended=True)
        got = store.get("CAsealed")
        assert got.turns[0].heard == WORDS and got.summary.startswith(SUMMARY)
        assert got.context["slots"]["issue"] == WORDS and got.unreadable == []
        assert store.call_row("CAsealed")["summary"].startswith(SUMMARY)
    finally:
        store.close()
    raw = store_backend.raw_bytes(where)
    for secret in (WORDS, "parcel never came", SUMMARY, "missing parcel", "+15550100",
                   "5550100"):
        assert secret.encode() not in raw, secret
    heard = store_backend.scalar(where, "SELECT heard FROM turns WHERE seq = 0")
    assert str(heard).startswith(f"enc1:{TEST_CIPHER.primary}:")


def test_a_wrong_key_and_a_missing_key_are_clear_errors(store_backend, tmp_path):
    where = store_backend.new_location(tmp_path)
    store_backend.store(where).close()
    with pytest.raises(DataKeyError) as wrong:
        store_backend.store(where, cipher=other_key())
    assert f"sealed with the data key {TEST_CIPHER.primary}" in str(wrong.value)
    with pytest.raises(DataKeyError, match="are encrypted .*: set VOICEBOT_DATA_KEY"):
        store_backend.store(where, cipher=None)
    with pytest.raises(DataKeyError, match="VOICEBOT_INSECURE_DEV_DATA=1"):
        data_cipher(Settings.from_env({"VOICEBOT_DB": str(tmp_path / "x.sqlite3")}))
    with pytest.raises(DataKeyError, match="key 2 is not a data key"):
        parse_keys(f"{DATA_KEY},not-a-key")


def test_serve_refuses_to_start_without_a_key_or_with_a_wrong_one(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VOICEBOT_", "TWILIO_"))}
    db = tmp_path / "calls.sqlite3"
    base = {**clean, "PYTHONPATH": str(ROOT), "TWILIO_AUTH_TOKEN": "x",
            "VOICEBOT_DB": str(db), "VOICEBOT_WARM_RECOGNIZERS": "0"}
    CallStore(db, "k", cipher=TEST_CIPHER).close()

    def serve(**env: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "voicebot", "serve", "--port", str(free_port())]
        return subprocess.run(command, env={**base, **env}, capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)

    missing = serve()
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "VOICEBOT_DATA_KEY is not set" in missing.stderr
    wrong = serve(VOICEBOT_DATA_KEY=new_key())
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert "VOICEBOT_DATA_KEY does not open the call records" in wrong.stderr
    bad = serve(VOICEBOT_DATA_KEY="tooshort")
    assert bad.returncode == 2 and "key 1 is not a data key" in bad.stderr
    assert "tooshort" not in bad.stderr  # a key is never shown


def test_a_changed_value_is_reported_and_everything_else_still_reads(store_backend,
                                                                      tmp_path):
    where = store_backend.new_location(tmp_path)
    store = store_backend.store(where)
    try:
        store.save(transcript("CAone"), ended=True)
        store.save(transcript("CAtwo", "the other caller's words"), ended=True)
        with store.database.transaction("tamper") as conn:
            sealed = conn.execute(sa.text("SELECT heard FROM turns WHERE call_sid = 'CAone' "
                                          "AND seq = 0")).scalar()
            flipped = sealed[:-5] + ("A" if sealed[-5] != "A" else "B") + sealed[-4:]
            conn.execute(sa.text("UPDATE turns SET heard = :v WHERE call_sid = 'CAone' AND "
                                 "seq = 0"), {"v": flipped})
            # a value copied into another call's row does not open there either
            other = conn.execute(sa.text("SELECT summary FROM calls WHERE call_sid = "
                                         "'CAtwo'")).scalar()
            conn.execute(sa.text("UPDATE calls SET summary = :v WHERE call_sid = 'CAone'"),
                         {"v": other})
        got = store.get("CAone")
        assert got.turns[0].heard == UNREADABLE and got.summary == UNREADABLE
        assert got.unreadable == ["turns.heard", "calls.summary"]
        assert got.turns[1].heard == "yes" and got.context["slots"]["issue"] == WORDS
        assert store.get("CAtwo").turns[0].heard == "the other caller's words"
    finally:
        store.close()


def test_keys_rotate_and_records_from_before_encryption_get_sealed(store_backend, tmp_path):
    where = store_backend.new_location(tmp_path)
    clear = store_backend.store(where, cipher=None)  # a database from before encryption
    clear.save(transcript("CAold"), ended=True)
    clear.close()
    first = store_backend.store(where)  # the first key
    first.save(transcript("CAnew"), ended=True)
    first.close()
    newer_key = new_key()
    newer = DataCipher(parse_keys(f"{newer_key},{DATA_KEY}"))  # new first, old after it
    db = Database(location_for(where))
    try:
        done = rotate(db, newer)
    finally:
        db.close()
    assert done.resealed["turns.heard"] == 4 and done.unreadable == {}
    store = store_backend.store(where, cipher=DataCipher(parse_keys(newer_key)))
    try:
        assert store.get("CAold").turns[0].heard == WORDS
        assert store.get("CAnew").context["slots"]["issue"] == WORDS
    finally:
        store.close()
    with pytest.raises(DataKeyError):
        store_backend.store(where)  # the old key alone no longer opens them
    heard = store_backend.scalar(where, "SELECT heard FROM turns WHERE call_sid = 'CAold' "
                                        "AND seq = 0")
    assert str(heard).startswith(f"enc1:{newer.primary}:")


def test_the_spool_is_sealed_and_a_wrong_key_loses_no_line(tmp_path):
    spool_dir = tmp_path / "spool"
    spool = Spool(spool_dir, TEST_CIPHER)
    assert spool.append([{"op": "save", "call_sid": "CAspool",
                          "transcript": transcript("CAspool").to_dict()}])
    spool.close()
    files = list(spool_dir.glob("records-*.jsonl"))
    raw = files[0].read_bytes()
    assert WORDS.encode() not in raw and raw.startswith(b"enc1:")
    assert stat.S_IMODE(spool_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600

    stranger = Spool(spool_dir, other_key())
    assert stranger.adopt() == []
    stranger.close()
    aside = list(spool_dir.glob("*.unreadable"))
    assert len(aside) == 1 and aside[0].read_bytes() == raw
    assert stat.S_IMODE(aside[0].stat().st_mode) == 0o600

    right = Spool(spool_dir, TEST_CIPHER)
    aside[0].rename(spool_dir / "records-1.jsonl")  # the operator puts it back
    entries = right.adopt()
    assert [e["call_sid"] for e in entries] == ["CAspool"]
    right.close()


def test_a_development_run_keeps_its_key_beside_the_database_owner_only(tmp_path):
    settings = Settings.from_env({"VOICEBOT_DB": str(tmp_path / "var" / "calls.sqlite3"),
                                  "VOICEBOT_INSECURE_DEV_DATA": "1"})
    cipher = data_cipher(settings)
    key_file = tmp_path / "var" / "data.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert data_cipher(settings).primary == cipher.primary  # the same key next time
    store = CallStore(settings.db_path, "k", cipher=cipher)
    store.close()
    assert stat.S_IMODE(settings.db_path.stat().st_mode) == 0o600


def test_a_value_does_not_open_under_another_label():
    sealed = TEST_CIPHER.seal("words", "turns.heard|CA1")
    assert TEST_CIPHER.open(sealed, "turns.heard|CA1") == "words"
    with pytest.raises(Unreadable, match="changed or damaged"):
        TEST_CIPHER.open(sealed, "turns.heard|CA2")
    with pytest.raises(Unreadable, match="not among the keys given"):
        other_key().open(sealed, "turns.heard|CA1")
