"""`voicebot records ...`: the operator's and the data-protection officer's tools for the
call records (VOICEBOT_DATABASE_URL, else the SQLite file VOICEBOT_DB).

    voicebot records audit [--since ISO] [--call CA...] [--limit N] [--json]
    voicebot records new-key                 # a data key for VOICEBOT_DATA_KEY
    voicebot records rotate-key              # seal everything again with the first key
    voicebot records purge [--dry-run]       # remove what the retention settings expire
    voicebot records export --caller NUMBER [-o FILE]   # everything kept about a caller
    voicebot records forget --caller NUMBER  # erase it

Every command that changes or reads callers' data writes an audit entry naming the
operator (`cli:<user>@<host>`), never a caller's number.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from voicebot import logs
from voicebot.errors import VoicebotError
from voicebot.records.access import AccessStore, AuditEntry
from voicebot.records.crypto import new_key
from voicebot.records.database import Database, now_iso
from voicebot.records.erasure import NUMBER_RE, export_caller, export_json, forget_caller
from voicebot.records.keycheck import check_key
from voicebot.records.opening import data_cipher, open_database, open_store
from voicebot.records.retention import Retention, purge
from voicebot.records.rotation import rotate
from voicebot.records.store import CallStore
from voicebot.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    """Add `voicebot records` to the `voicebot` parser."""
    records = sub.add_parser(
        "records", help="the call records: audit log, data keys, data requests",
        description="The call records' audit log, data keys, retention and data-subject "
                    "requests (VOICEBOT_DATABASE_URL, else the SQLite file VOICEBOT_DB).")
    actions = records.add_subparsers(dest="records_command", metavar="ACTION", required=True)
    audit = actions.add_parser(
        "audit", help="who read which call, when and why; every export, erasure and purge")
    audit.add_argument("--since", help="only entries from this time on (ISO, e.g. 2025-01-31)")
    audit.add_argument("--call", dest="call_sid", help="only entries about this CallSid")
    audit.add_argument("--limit", type=int, default=200, help="newest entries (default 200)")
    audit.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    audit.set_defaults(func=cmd_audit)
    purge_p = actions.add_parser(
        "purge", help="remove what has expired (VOICEBOT_RETAIN_*_DAYS) and print it")
    purge_p.add_argument("--dry-run", action="store_true", help="only print what would go")
    purge_p.set_defaults(func=cmd_purge)
    export = actions.add_parser(
        "export", help="write everything kept about one caller as JSON (a subject access "
                       "request)")
    export.add_argument("--caller", required=True, help="the caller's number, e.g. +15550100")
    export.add_argument("-o", "--output", type=Path,
                        help="write to this file (made 0600) instead of standard output")
    export.set_defaults(func=cmd_export)
    forget = actions.add_parser(
        "forget", help="erase everything kept about one caller (a request for erasure)")
    forget.add_argument("--caller", required=True, help="the caller's number, e.g. +15550100")
    forget.set_defaults(func=cmd_forget)
    actions.add_parser("new-key", help="print a new data key for VOICEBOT_DATA_KEY").set_defaults(
        func=cmd_new_key)
    actions.add_parser(
        "rotate-key", help="seal every record again with the first key of VOICEBOT_DATA_KEY "
                           "(put the new key first, the old one after it)").set_defaults(
        func=cmd_rotate_key)


def operator() -> str:
    """Who runs a command, for the audit log."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}@{socket.gethostname()}"


def audit_command(db: Database, action: str, detail: str, call_sid: str | None = None) -> None:
    AccessStore(db).append_audit(AuditEntry(
        at=now_iso(), actor=operator(), role="admin", action=action,
        endpoint=f"voicebot records {action.replace('_', '-')}", call_sid=call_sid,
        detail=detail))


@contextlib.contextmanager
def records_database() -> Iterator[tuple[Settings, Database]]:
    settings = Settings.from_env()
    logs.configure(settings.log_level, "text")  # waiting for the database is logged
    db = open_database(settings)
    try:
        yield settings, db
    finally:
        db.close()


def cmd_audit(args: argparse.Namespace) -> int:
    with records_database() as (_, db):
        entries = AccessStore(db).audit_entries(since=args.since, call_sid=args.call_sid,
                                                limit=args.limit)
    for e in reversed(entries):  # oldest first, as a log reads
        if args.json:
            print(json.dumps(e.to_dict()))
        else:
            print(f"{e.at}  {e.actor} ({e.role})  {e.action}  {e.endpoint}"
                  + (f"  call {e.call_sid}" if e.call_sid else "")
                  + (f"  {e.detail}" if e.detail else ""))
    if not entries and not args.json:
        print("no audit entries")
    return 0


@contextlib.contextmanager
def call_store() -> Iterator[CallStore]:
    """The records with their data keys (what the commands that read callers' words need)."""
    settings = Settings.from_env()
    logs.configure(settings.log_level, "text")
    store = open_store(settings)
    try:
        yield store
    finally:
        store.close()


def cmd_purge(args: argparse.Namespace) -> int:
    with records_database() as (settings, db):
        done = purge(db, Retention.from_settings(settings), dry_run=args.dry_run)
        audit_command(db, "purge_dry_run" if args.dry_run else "purge", done.detail())
    for line in done.lines():
        print(line)
    return 0


def _check_number(number: str) -> str:
    if not NUMBER_RE.fullmatch(number.strip()):
        raise VoicebotError(f"--caller {number!r} is not a phone number (e.g. +15550100)")
    return number.strip()


def _open_output(path: Path | None) -> TextIO:
    """Standard output, or `path` made 0600 (opened before anything is read, so a path
    that cannot be written is an error before the export is audited)."""
    if path is None:
        return sys.stdout
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise VoicebotError(f"cannot write the export to {path}: "
                            f"{exc.strerror or type(exc).__name__}") from None
    return os.fdopen(fd, "w", encoding="utf-8")


def cmd_export(args: argparse.Namespace) -> int:
    number = _check_number(args.caller)
    out = _open_output(args.output)
    with call_store() as store:
        document = export_caller(store, number)
        out.write(export_json(document))
        if out is not sys.stdout:
            out.close()
        for call in document["calls"]:
            audit_command(store.database, "export", "", call_sid=call["call_sid"])
        audit_command(store.database, "export", f"{len(document['calls'])} calls of one "
                                                "caller")
    if args.output is not None:
        print(f"wrote {len(document['calls'])} call(s) to {args.output}", file=sys.stderr)
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    number = _check_number(args.caller)
    with call_store() as store:
        erased = forget_caller(store, number)
        audit_command(store.database, "forget", erased.detail())
    print(f"erased {erased.calls} call(s): {erased.turns} turns, {erased.prompts} prompts, "
          f"{erased.handoffs} hand-offs; {erased.audit_entries} audit entries now point at "
          f"request {erased.request}")
    print(erased.traces)
    return 0


def cmd_new_key(args: argparse.Namespace) -> int:
    print(new_key())
    return 0


def cmd_rotate_key(args: argparse.Namespace) -> int:
    with records_database() as (settings, db):
        cipher = data_cipher(settings)
        check_key(db, cipher)  # a key list that does not open the records changes nothing
        done = rotate(db, cipher)
        audit_command(db, "rotate_key", f"{done.total} values sealed again with key "
                                        f"{cipher.primary}")
    for name, count in sorted(done.resealed.items()):
        print(f"{name}: {count} sealed again")
    for name, count in sorted(done.unreadable.items()):
        print(f"{name}: {count} no key opens (left as they are)")
    print(f"{done.total} values now sealed with key {cipher.primary}; the check too. Remove "
          "older keys from VOICEBOT_DATA_KEY once the spool directories are empty.")
    return 1 if done.unreadable else 0
