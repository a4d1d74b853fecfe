"""When the database is not there: waited for at start-up, typed errors and reconnection
when it goes away mid-run, and a SQLite file that turns read-only or vanishes never kills
the process (writing to a read-only WAL index used to end it with SIGBUS)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_postgres
from tests.pg import PostgresCluster, free_port
from voicebot.records.errors import StoreUnavailable
from voicebot.records.opening import open_store
from voicebot.records.store import CallStore
from voicebot.records.transcript import CallTranscript
from voicebot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def own_postgres() -> Iterator[PostgresCluster]:
    """A cluster of this test's own, which it may stop and start."""
    cluster = PostgresCluster.start(require_postgres())
    yield cluster
    cluster.remove()


def _settings(url: str, wait_s: float) -> Settings:
    return Settings.from_env({"VOICEBOT_DATABASE_URL": url, "VOICEBOT_HASH_KEY": "k",
                              "VOICEBOT_DB_WAIT_S": str(wait_s),
                              "VOICEBOT_DB_TIMEOUT_S": "2"})


def test_start_up_gives_up_on_an_unreachable_database_with_one_clear_line(caplog):
    url = f"postgresql://voicebot:hunter2@127.0.0.1:{free_port()}/calls"
    with pytest.raises(StoreUnavailable) as err:
        open_store(_settings(url, wait_s=1.5))
    message = str(err.value)
    waits = [r for r in caplog.records if r.getMessage() == "records.database_unreachable"]
    assert len(waits) >= 2 and f"({len(waits) + 1} tries)" in message  # waited, retried
    assert "gave up waiting for the call records database" in message
    assert "127.0.0.1" in message and "tries)" in message and "Connection refused" in message
    assert "hunter2" not in message and "\n" not in message


def test_start_up_waits_for_a_database_that_comes_up_late(own_postgres):
    url = own_postgres.new_database()
    own_postgres.stop()
    threading.Timer(2.0, own_postgres.start_again).start()
    store = open_store(_settings(url, wait_s=60))
    store.save(CallTranscript(call_sid="CAlate"))
    assert store.get("CAlate") is not None
    store.close()


def test_a_lost_database_gives_typed_errors_then_the_same_store_reconnects(own_postgres):
    store = CallStore(own_postgres.new_database(), b"k", timeout_s=2)
    store.save(CallTranscript(call_sid="CA1", flow_name="support"))
    own_postgres.stop()  # the server goes away under open connections
    for _ in range(2):
        with pytest.raises(StoreUnavailable) as err:
            store.save(CallTranscript(call_sid="CA2"))
        assert "cannot save the call" in str(err.value)
        with pytest.raises(StoreUnavailable):
            store.get("CA1")
    own_postgres.start_again()
    store.save(CallTranscript(call_sid="CA2"))  # the next use reconnects by itself
    assert store.get("CA1").flow_name == "support" and store.get("CA2") is not None
    store.close()


@pytest.mark.slow
def test_serve_waits_for_the_database_then_says_it_gave_up(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VOICEBOT_", "TWILIO_"))}
    env = {**clean, "TWILIO_AUTH_TOKEN": "x", "VOICEBOT_HASH_KEY": "k",
           "VOICEBOT_DB_WAIT_S": "1", "VOICEBOT_LOG_FORMAT": "json",
           "VOICEBOT_DATABASE_URL": f"postgresql://v:pw@127.0.0.1:{free_port()}/calls"}
    done = subprocess.run([sys.executable, "-m", "voicebot", "serve", "--port", "0"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "records.database_unreachable" in done.stderr  # each try is logged
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("voicebot serve: error: gave up waiting for the call records")
    assert "Traceback" not in done.stderr


# The SQLite checks run in a child process: if the store were wrong, SIGBUS would kill it,
# and the test must see that as a failure, not die with it.
SQLITE_SCRIPT = textwrap.dedent("""
    import os, subprocess, sys
    from voicebot.records.errors import StoreUnavailable
    from voicebot.records.store import CallStore
    from voicebot.records.transcript import CallTranscript

    db = sys.argv[1]
    files = [db, db + "-wal", db + "-shm"]
    store = CallStore(db, b"k")
    store.save(CallTranscript(call_sid="CA1", flow_name="support"))
    subprocess.run(["chattr", "+i", *files], check=True)
    try:
        for i in range(3):
            for step in (lambda: store.save(CallTranscript(call_sid=f"CA{i}", engine="x" * 9000)),
                         lambda: store.get("CA1")):
                try:
                    step()
                    print("no error while read-only")
                except StoreUnavailable as exc:
                    print("unavailable:", exc.detail.split(";")[0])
    finally:
        subprocess.run(["chattr", "-i", *files], check=True)
    store.save(CallTranscript(call_sid="CA7"))
    print("writable again:", store.get("CA1").flow_name, store.get("CA7") is not None)
    os.unlink(db + "-shm")
    try:
        store.save(CallTranscript(call_sid="CA8"))
    except StoreUnavailable as exc:
        print("unavailable:", exc.detail)
    store.save(CallTranscript(call_sid="CA8"))
    print("reconnected:", store.get("CA8") is not None)
    subprocess.run(["chattr", "+i", *files], check=True)
    store.close()
    print("closed while read-only")
""")


def test_a_sqlite_file_made_immutable_or_deleted_is_an_error_not_a_crash(tmp_path):
    probe = tmp_path / "probe"
    probe.write_text("x")
    if subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i needs root (CAP_LINUX_IMMUTABLE) on a file system that has it")
    subprocess.run(["chattr", "-i", str(probe)], check=True)
    db = tmp_path / "calls.sqlite3"
    try:
        done = subprocess.run([sys.executable, "-c", SQLITE_SCRIPT, str(db)], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)},
                              capture_output=True, text=True, timeout=60)
    finally:
        subprocess.run(["chattr", "-i", *(str(p) for p in tmp_path.iterdir())])
    assert done.returncode == 0, f"exit {done.returncode}: {done.stdout}{done.stderr}"
    lines = done.stdout.splitlines()
    assert lines[:6] == [f"unavailable: {db} is read-only (made immutable, its permissions "
                         "changed, or its file system is read-only)"] * 6
    assert lines[6:] == ["writable again: support True",
                         f"unavailable: {db}-shm was deleted while open; reconnecting",
                         "reconnected: True", "closed while read-only"]


FORK_SCRIPT = textwrap.dedent("""
    import os, sys
    from voicebot.records.store import CallStore
    from voicebot.records.transcript import CallTranscript

    store = CallStore(sys.argv[1], b"k")
    store.save(CallTranscript(call_sid="CAparent"))
    children = []
    for i in range(3):  # like a server that loads the app, then forks its workers
        pid = os.fork()
        if pid == 0:
            for j in range(10):
                store.save(CallTranscript(call_sid=f"CA{i}-{j}"))
            os._exit(0 if store.get("CAparent") is not None else 1)
        children.append(pid)
    for j in range(10):
        store.save(CallTranscript(call_sid=f"CAparent{j}"))
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    print(codes, all(store.get(f"CA{i}-9") is not None for i in range(3)))
""")


def test_processes_forked_after_opening_use_connections_of_their_own(store_backend,
                                                                      tmp_path):
    done = subprocess.run([sys.executable, "-c", FORK_SCRIPT,
                           store_backend.new_location(tmp_path)], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[0, 0, 0] True", done.stdout + done.stderr
