"""Schema migrations on both backends: they build what the code queries, `voicebot db`
applies them, and a store (or a service) refuses a schema it does not know."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tests.backends import HASH_KEY
from voicebot.cli import main
from voicebot.records import migrate
from voicebot.records.database import Database, location_for
from voicebot.records.errors import SchemaMismatch
from voicebot.records.schema import metadata
from voicebot.records.store import CallStore

# The tables as the store created them before migrations existed (revision 0001).
BEFORE_MIGRATIONS = """
CREATE TABLE calls (call_sid TEXT PRIMARY KEY, started TEXT NOT NULL, ended TEXT, status TEXT,
    flow_name TEXT, flow_version TEXT, engine TEXT, outcome TEXT, reason TEXT, queue TEXT,
    caller_hash TEXT, summary TEXT, context TEXT, path TEXT);
CREATE TABLE turns (call_sid TEXT NOT NULL REFERENCES calls(call_sid), seq INTEGER NOT NULL,
    node TEXT, kind TEXT, prompt TEXT, heard TEXT, confidence REAL, in_grammar INTEGER,
    intent TEXT, t_start REAL, t_end REAL, t_reply REAL, during_prompt INTEGER,
    PRIMARY KEY (call_sid, seq));
CREATE TABLE prompts (call_sid TEXT NOT NULL REFERENCES calls(call_sid), seq INTEGER NOT NULL,
    node TEXT, kind TEXT, text TEXT, t_sent REAL, t_played REAL, barged_in INTEGER,
    PRIMARY KEY (call_sid, seq));
CREATE TABLE handoffs (agent_call_sid TEXT PRIMARY KEY, call_sid TEXT NOT NULL,
    queue_sid TEXT, queue_time INTEGER, at TEXT NOT NULL);
CREATE INDEX calls_started ON calls(started);
INSERT INTO calls (call_sid, started, outcome, reason, queue, summary)
    VALUES ('CAold', '2024-01-01T00:00:00Z', 'transfer', 'dtmf', 'support', 'kept');
"""


def _env(store_backend, where: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VOICEBOT_", "TWILIO_"))}
    return {**clean, **store_backend.env(where), "VOICEBOT_DB_WAIT_S": "2"}


def test_the_migrations_build_exactly_the_tables_the_code_queries(store_backend, tmp_path):
    db = Database(location_for(store_backend.new_location(tmp_path, upgraded=False)))
    before, after = migrate.upgrade(db)
    assert before.current is None and after.up_to_date
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    db.close()


@pytest.fixture
def own_logging() -> Iterator[None]:
    """The command sets up logging on the root logger, as the command line does: put the
    test run's back afterwards (its handler would write to this test's closed stderr)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_voicebot_db_upgrades_and_reports(store_backend, tmp_path, monkeypatch, capsys,
                                          own_logging):
    where = store_backend.new_location(tmp_path, upgraded=False)
    where = where.replace("postgres@", "postgres:s3cret@")  # trust: any password will do
    for name, value in _env(store_backend, where).items():
        monkeypatch.setenv(name, value)
    assert main(["db", "current"]) == 1
    assert "empty (no voicebot tables)" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    head = migrate.known_revisions()[-1]
    assert f"upgraded from empty to revision {head}" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert "already at revision" in capsys.readouterr().out
    assert main(["db", "current"]) == 0
    out = capsys.readouterr().out
    assert f"at revision {head} (the newest): up to date" in out
    assert "s3cret" not in out and f"({store_backend.name})" in out


def test_postgresql_is_never_upgraded_behind_the_operators_back(postgres):
    where = postgres.new_database(upgraded=False)
    with pytest.raises(SchemaMismatch) as err:
        CallStore(where, HASH_KEY)
    message = str(err.value)
    assert "empty (no voicebot tables)" in message and "run `voicebot db upgrade`" in message


def test_a_schema_newer_than_the_code_is_refused_on_both_backends(store_backend, tmp_path):
    where = store_backend.new_location(tmp_path)
    CallStore(where, HASH_KEY).close()
    engine = sa.create_engine(location_for(where).url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(SchemaMismatch, match="revision 9999, which this voicebot does not "
                                             "know .* a newer voicebot has migrated it"):
        CallStore(where, HASH_KEY)


def test_a_sqlite_file_from_before_migrations_is_upgraded_and_keeps_its_calls(tmp_path):
    db = tmp_path / "old.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.executescript(BEFORE_MIGRATIONS)
    store = CallStore(db, b"k")
    assert store.get("CAold").summary == "kept"
    store.mark_enqueued("CAold", "support", summary_if_undecided="unused")
    assert store.call_row("CAold")["enqueued"] is not None  # a column of revision 0002
    store.close()
    assert migrate.schema_state(Database(location_for(db))).up_to_date


@pytest.mark.slow
def test_serve_refuses_a_database_that_needs_an_upgrade_and_says_what_to_run(postgres):
    where = postgres.new_database(upgraded=False)
    env = {**_env_for_serve(), "VOICEBOT_DATABASE_URL": where, "VOICEBOT_HASH_KEY": "k"}
    done = subprocess.run([sys.executable, "-m", "voicebot", "serve", "--port", "0"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "run `voicebot db upgrade`" in done.stderr
    assert "Traceback" not in done.stderr


def _env_for_serve() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VOICEBOT_", "TWILIO_"))}
    return {**clean, "TWILIO_AUTH_TOKEN": "x", "VOICEBOT_WARM_RECOGNIZERS": "0"}
