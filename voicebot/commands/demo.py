"""`voicebot demo-data`: a demo database, so a new user sees a populated console in one
command (weeks of calls of every outcome on a flow with a survey and an A/B test, reviews,
and calls going on now).

    voicebot demo-data [--db FILE_OR_URL] [--calls 400] [--days 14] [--seed 7] [--flow FILE]

It writes to its own SQLite file (var/demo.sqlite3) unless told otherwise, and refuses a
database that already holds calls: demo calls must never mix with a line's real records.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import sqlalchemy as sa

from voicebot import logs
from voicebot.errors import VoicebotError
from voicebot.flow.loader import load_flow
from voicebot.records.access import AccessStore, TokenError
from voicebot.records.hashing import load_hash_key
from voicebot.records.schema import calls
from voicebot.records.store import CallStore
from voicebot.replay.demo_data import seed_demo
from voicebot.settings import PROJECT_ROOT, Settings

DEMO_DB = PROJECT_ROOT / "var" / "demo.sqlite3"
DEMO_FLOW = PROJECT_ROOT / "call_flows" / "examples" / "support-ab.yaml"
TOKEN_NAME = "demo"


def register(sub: argparse._SubParsersAction) -> None:
    """Add `voicebot demo-data` to the `voicebot` parser."""
    p = sub.add_parser(
        "demo-data", help="seed a demo database: calls of every outcome, reviews, survey "
                          "answers, two variants, calls going on now",
        description="Write made-up calls into a demo database (the flow's own interpreter "
                    "decides every prompt and hand-over), plus a supervisor token to log in "
                    "to the console with. Refuses a database that already has calls.")
    p.add_argument("--db", default=str(DEMO_DB),
                   help="a SQLite file or postgresql:// URL (default var/demo.sqlite3, "
                        "never the line's VOICEBOT_DB)")
    p.add_argument("--flow", type=Path, default=DEMO_FLOW,
                   help="the flow the calls run (default: call_flows/examples/"
                        "support-ab.yaml, with a survey and variants A and B)")
    p.add_argument("--calls", type=int, default=400, help="finished calls (default 400)")
    p.add_argument("--days", type=int, default=14, help="spread over this many days "
                                                       "(default 14)")
    p.add_argument("--seed", type=int, default=7, help="the same seed, the same calls")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    if args.calls < 1 or args.days < 1:
        raise VoicebotError("--calls and --days must be at least 1")
    settings = Settings.from_env()
    logs.configure("warning", "text")
    flow = load_flow(args.flow)
    postgres = args.db.startswith(("postgres://", "postgresql"))
    if postgres and not settings.hash_key:
        raise VoicebotError("a PostgreSQL demo database needs VOICEBOT_HASH_KEY (the key "
                            "the service will hash callers' numbers with)")
    key = settings.hash_key or load_hash_key(None, Path(args.db)).decode()
    store = CallStore(args.db, key, upgrade=True)
    try:
        _refuse_real_records(store)
        summary = seed_demo(store, flow, calls=args.calls, days=args.days, seed=args.seed)
        token = _token(store)
    finally:
        store.close()
    where = f"VOICEBOT_DATABASE_URL={args.db}" if postgres else f"VOICEBOT_DB={args.db}"
    print(f"seeded {store.describe()}: {summary.calls} calls over {args.days} days on flow "
          f"{flow.name} {flow.version} (variants {', '.join(flow.variants) or 'none'}), "
          f"{summary.reviews} reviews, {summary.live} calls going on and {summary.waiting} "
          "callers waiting now")
    print(f"see it: {where} voicebot serve --insecure-no-signature --flow {args.flow}")
    print("then open http://127.0.0.1:8080/console/ and log in with the supervisor token"
          + (f" (shown once):\n{token}" if token else f" {TOKEN_NAME!r} made before"))
    return 0


def _refuse_real_records(store: CallStore) -> None:
    with store.database.transaction("count the calls", write=False) as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(calls)).scalar() or 0
    if count:
        raise VoicebotError(f"{store.describe()} already holds {count} calls: demo calls go "
                            "into a database of their own (remove it, or give another --db)")


def _token(store: CallStore) -> str | None:
    try:
        return AccessStore(store.database).add_token(TOKEN_NAME, "supervisor")
    except TokenError:  # a demo database seeded before, emptied of calls
        return None
