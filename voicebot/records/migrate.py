"""The call records' schema: which revision a database is at, and upgrading it (Alembic).

`voicebot db upgrade` and `voicebot db current` use this; so does the store when it opens:
a database at another revision than the code's newest refuses to serve (SchemaMismatch,
naming what to run). The embedded SQLite default upgrades itself on open (it has no
operator to run a command), PostgreSQL never does: several hosts share it, so the upgrade is
one deliberate step before the new version starts.

An upgrade runs in one transaction (PostgreSQL and SQLite both roll DDL back), under a lock
(PostgreSQL: an advisory lock; SQLite: BEGIN IMMEDIATE), so hosts or processes that start
together upgrade once. A SQLite file from before migrations existed (tables, no
alembic_version) is taken to be at revision 0001, which created exactly those tables.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from voicebot.records.database import Database
from voicebot.records.errors import SchemaMismatch

SCRIPTS = Path(__file__).with_name("migrations")
BEFORE_MIGRATIONS = "0001"  # the revision whose tables a pre-migration SQLite file has
_PG_LOCK_KEY = 0x766F696365626F74  # "voicebot": one advisory lock for every upgrade


@dataclass(frozen=True)
class SchemaState:
    current: str | None  # the database's revision (None: no alembic_version)
    head: str  # the newest revision this code knows
    known: tuple[str, ...]  # every revision this code knows, oldest first
    legacy: bool = False  # voicebot tables from before migrations, no revision

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    @property
    def upgradable(self) -> bool:
        """Empty, made before migrations, or at an older revision this code knows."""
        return self.current is None or self.current in self.known

    def describe(self) -> str:
        if self.up_to_date:
            return f"at revision {self.current} (the newest): up to date"
        if self.legacy:
            return (f"made before migrations (revision {BEFORE_MIGRATIONS}); needs revision "
                    f"{self.head}")
        if self.current is None:
            return f"empty (no voicebot tables); needs revision {self.head}"
        if self.current in self.known:
            return f"at revision {self.current}; needs revision {self.head}"
        return (f"at revision {self.current}, which this voicebot does not know (its newest "
                f"is {self.head})")


def _config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    return config


def known_revisions() -> tuple[str, ...]:
    scripts = ScriptDirectory.from_config(_config())
    return tuple(reversed([s.revision for s in scripts.walk_revisions()]))


def _state(conn: sa.Connection) -> SchemaState:
    known = known_revisions()
    current = MigrationContext.configure(conn).get_current_revision()
    legacy = current is None and sa.inspect(conn).has_table("calls")
    return SchemaState(current=current, head=known[-1], known=known, legacy=legacy)


def schema_state(db: Database) -> SchemaState:
    with db.transaction("read the schema revision", write=False) as conn:
        return _state(conn)


def check(db: Database) -> SchemaState:
    """The state, if it is the newest; SchemaMismatch saying what to do otherwise."""
    state = schema_state(db)
    if state.up_to_date:
        return state
    where = db.location.describe()
    if state.upgradable:
        raise SchemaMismatch(f"the call records database {where} is {state.describe()}: run "
                             "`voicebot db upgrade` (with the same VOICEBOT_DATABASE_URL or "
                             "VOICEBOT_DB) before starting this version")
    raise SchemaMismatch(f"the call records database {where} is {state.describe()}: a newer "
                         "voicebot has migrated it. Run that version, or restore a backup "
                         "made for this one")


def upgrade(db: Database, target: str = "head") -> tuple[SchemaState, SchemaState]:
    """Upgrade to `target` (default: the newest); returns the states before and after."""
    logging.getLogger("alembic").setLevel(logging.WARNING)  # our own line says what ran
    with db.transaction("upgrade the schema") as conn:
        if db.dialect == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        before = _state(conn)
        if not before.upgradable:
            raise SchemaMismatch(f"cannot upgrade the call records database "
                                 f"{db.location.describe()}: it is {before.describe()}")
        config = _config(conn)
        if before.legacy:
            command.stamp(config, BEFORE_MIGRATIONS)
        command.upgrade(config, target)
        after = _state(conn)
    return before, after
