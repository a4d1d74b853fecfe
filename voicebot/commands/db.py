"""`voicebot db upgrade | current`: the call records' schema, for the operator.

Both use the service's settings (VOICEBOT_DATABASE_URL, else the SQLite file VOICEBOT_DB)
and wait for the database like the service does (VOICEBOT_DB_WAIT_S). A PostgreSQL database
shared by several hosts is upgraded with `voicebot db upgrade` once, before the new version
starts; a service refuses to run on a schema that is not its own.
"""

from __future__ import annotations

import argparse

from voicebot import logs
from voicebot.records import migrate
from voicebot.records.database import Database, location_for
from voicebot.records.opening import retry, store_location
from voicebot.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    """Add `voicebot db` to the `voicebot` parser."""
    db = sub.add_parser(
        "db", help="the call records database: upgrade its schema, show its revision",
        description="The call records database (VOICEBOT_DATABASE_URL, else the SQLite file "
                    "VOICEBOT_DB).")
    actions = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = actions.add_parser(
        "upgrade", help="apply the schema migrations this version has (run once per version, "
                        "before its services start)")
    upgrade.set_defaults(func=cmd_upgrade)
    current = actions.add_parser(
        "current", help="print the database's schema revision; exit 1 unless it is this "
                        "version's newest")
    current.set_defaults(func=cmd_current)


def _database(settings: Settings) -> Database:
    logs.configure(settings.log_level, "text")  # waiting for the database is logged
    return Database(location_for(store_location(settings)), pool_size=1,
                    timeout_s=settings.db_timeout_s)


def cmd_upgrade(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    db = _database(settings)
    try:
        before, after = retry(lambda: migrate.upgrade(db), settings, db.location.describe())
    finally:
        db.close()
    where = db.location.describe()
    if before.current == after.current:
        print(f"{where}: already at revision {after.current} (the newest)")
    else:
        was = f"revision {before.current}" if before.current else "empty"
        print(f"{where}: upgraded from {was} to revision {after.current}")
    return 0


def cmd_current(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    db = _database(settings)
    try:
        state = retry(lambda: migrate.schema_state(db), settings, db.location.describe())
    finally:
        db.close()
    hint = "" if state.up_to_date or not state.upgradable else "; run `voicebot db upgrade`"
    print(f"{db.location.describe()} ({db.location.backend}): {state.describe()}{hint}")
    return 0 if state.up_to_date else 1
