"""`voicebot records ...`: the operator's and the data-protection officer's tools for the
call records (VOICEBOT_DATABASE_URL, else the SQLite file VOICEBOT_DB).

    voicebot records audit [--since ISO] [--call CA...] [--limit N] [--json]
"""

from __future__ import annotations

import argparse
import json

from voicebot.commands.tokens import access_store


def register(sub: argparse._SubParsersAction) -> None:
    """Add `voicebot records` to the `voicebot` parser."""
    records = sub.add_parser(
        "records", help="the call records: audit log",
        description="The call records' audit log and data requests.")
    actions = records.add_subparsers(dest="records_command", metavar="ACTION", required=True)
    audit = actions.add_parser(
        "audit", help="who read which call, when and why; every export, erasure and purge")
    audit.add_argument("--since", help="only entries from this time on (ISO, e.g. 2025-01-31)")
    audit.add_argument("--call", dest="call_sid", help="only entries about this CallSid")
    audit.add_argument("--limit", type=int, default=200, help="newest entries (default 200)")
    audit.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    audit.set_defaults(func=cmd_audit)


def cmd_audit(args: argparse.Namespace) -> int:
    with access_store() as access:
        entries = access.audit_entries(since=args.since, call_sid=args.call_sid,
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
