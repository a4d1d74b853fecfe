"""`voicebot tokens add | list | revoke`: API tokens per person and role, kept hashed in the
shared call-records database (VOICEBOT_DATABASE_URL, else the SQLite file VOICEBOT_DB), so
every host accepts the same tokens and sees a revocation within seconds.

Roles: agent (the context of the caller they took, the queue head), supervisor (call
records and reports), admin (export, forget, purge, the audit log). `add` prints the token
once: it cannot be shown again, only revoked and replaced.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

from voicebot.commands.records import records_database
from voicebot.records.access import ROLES, AccessStore


def register(sub: argparse._SubParsersAction) -> None:
    """Add `voicebot tokens` to the `voicebot` parser."""
    tokens = sub.add_parser(
        "tokens", help="API tokens per role: add, list, revoke",
        description="API tokens for the records API, kept hashed in the call-records "
                    "database. Roles: agent (the context of the caller they took, the "
                    "queue head), supervisor (call records and reports), admin (export, "
                    "forget, purge, audit).")
    actions = tokens.add_subparsers(dest="tokens_command", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="make a token and print it (once)")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--name", required=True,
                     help="who or what holds it (a person, a desk): names the audit entries")
    add.set_defaults(func=cmd_add)
    actions.add_parser("list", help="every token: name, role, made, revoked").set_defaults(
        func=cmd_list)
    revoke = actions.add_parser("revoke", help="stop a token working (on every host "
                                                "within seconds)")
    revoke.add_argument("name")
    revoke.set_defaults(func=cmd_revoke)


@contextlib.contextmanager
def access_store() -> Iterator[AccessStore]:
    with records_database() as (_, db):
        yield AccessStore(db)


def cmd_add(args: argparse.Namespace) -> int:
    with access_store() as access:
        token = access.add_token(args.name, args.role)
    print(token)
    print(f"(the {args.role} token for {args.name!r}: shown this once; keep it in a secret "
          "store, revoke it with `voicebot tokens revoke`)", flush=True)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with access_store() as access:
        tokens = access.list_tokens()
    if not tokens:
        print("no tokens (VOICEBOT_API_TOKEN, if set, is the bootstrap admin token)")
        return 0
    width = max(len(t.name) for t in tokens)
    for t in tokens:
        state = "active" if t.active else f"revoked {t.revoked}"
        print(f"{t.name:<{width}}  {t.role:<10}  made {t.created}  {state}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    with access_store() as access:
        info = access.revoke_token(args.name)
    print(f"revoked the {info.role} token {info.name!r} at {info.revoked}")
    return 0
