"""Data-subject requests: everything the records keep about one caller, found through the
keyed hash of their number, written out (access, GDPR art. 15) or erased (art. 17).

`export_caller` returns the caller's calls (times, flow, outcome, reason, queue, what was
said and the prompts as kept, summary, context, which agent call took them) as one JSON
document; nothing of another caller is in it. `forget_caller` removes the caller's call
rows, turns, prompts and hand-offs in one transaction, and in the audit log replaces the
CallSids of those calls by a reference to the request (`erased:<id>`), so the log still
shows who read what without pointing at the person. Its own audit entry holds counts and
that reference only.

Then the bytes go too (`erase_traces`): SQLite overwrites removed rows with zeros
(secure_delete, always on) and the WAL is checkpointed and truncated, so nothing of the
caller is left in the files; PostgreSQL rewrites the tables (VACUUM FULL), so nothing is
left in the database's files, while its write-ahead log keeps the old rows (sealed, and
the hash) until PostgreSQL recycles those segments, and backups until they expire. The
rewrite has no statement timeout and holds each table's lock while it runs (calls' writes
wait, or go to the spool); if it fails, the same request made again finishes it.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from voicebot.records.database import Database, now_iso
from voicebot.records.schema import audit_log, calls, handoffs, prompts, turns

NUMBER_RE = re.compile(r"\+?[0-9][0-9 ().-]{2,24}")  # what a request may give as a number
ERASED_TABLES = ("handoffs", "turns", "prompts", "calls", "audit_log")
KEPT_AS = {
    "number": "only as a keyed hash (HMAC-SHA256); it is not in this export's records",
    "what was said": "as kept: card, phone, e-mail, ID and long numbers replaced by "
                     "[card], [phone], ...; some values masked (****1234) or hashed as the "
                     "flow says; audio is never kept",
}


@dataclass(frozen=True)
class Erased:
    request: str  # the reference the audit log keeps
    calls: int
    turns: int
    prompts: int
    handoffs: int
    audit_entries: int  # entries whose CallSid now reads erased:<request>
    traces: str  # what was done about the bytes
    call_sids: tuple[str, ...] = field(default=(), repr=False)  # for memory, never shown

    def detail(self) -> str:
        return (f"request {self.request}: calls={self.calls} turns={self.turns} "
                f"prompts={self.prompts} handoffs={self.handoffs} "
                f"audit_entries_unlinked={self.audit_entries}")


def calls_of(db: Database, caller_hash: str) -> list[str]:
    """The caller's calls, oldest first."""
    query = sa.select(calls.c.call_sid).where(calls.c.caller_hash == caller_hash) \
        .order_by(calls.c.started)
    with db.transaction("find a caller's calls", write=False) as conn:
        return list(conn.execute(query).scalars())


def export_caller(store: Any, number: str) -> dict[str, Any]:
    """Everything kept about the caller with `number` (see the module doc); `store` is a
    CallStore (its data keys open the records)."""
    sids = calls_of(store.database, store.caller_hash(number))
    exported = []
    for sid in sids:
        transcript = store.get(sid)
        row = store.call_row(sid) or {}
        if transcript is None:
            continue
        with store.database.transaction("read a caller's hand-offs", write=False) as conn:
            taken = [dict(r._mapping) for r in conn.execute(
                sa.select(handoffs.c.agent_call_sid, handoffs.c.at)
                .where(handoffs.c.call_sid == sid))]
        call = transcript.to_dict()
        call.update({k: row.get(k) for k in ("started", "ended", "status", "flow_variant",
                                             "enqueued")})
        call["taken_by_agent_calls"] = taken
        exported.append(call)
    return {"caller": number, "exported_at": now_iso(), "calls": exported,
            "how_it_is_kept": KEPT_AS}


def export_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"


def forget_caller(store: Any, number: str) -> Erased:
    """Erase everything kept about the caller with `number` (see the module doc)."""
    db: Database = store.database
    request = uuid.uuid4().hex[:12]
    with db.transaction("erase a caller") as conn:
        sids = list(conn.execute(sa.select(calls.c.call_sid).where(
            calls.c.caller_hash == store.caller_hash(number))).scalars())
        counts = {}
        for table in (handoffs, turns, prompts, calls):
            counts[table.name] = conn.execute(
                table.delete().where(table.c.call_sid.in_(sids))).rowcount if sids else 0
        unlinked = conn.execute(audit_log.update().where(audit_log.c.call_sid.in_(sids))
                                .values(call_sid=f"erased:{request}")).rowcount if sids else 0
    # even with no calls left: a request made again finishes an erasure whose rewrite failed
    traces = erase_traces(db, compact=True)
    return Erased(request, counts["calls"], counts["turns"], counts["prompts"],
                  counts["handoffs"], unlinked, traces, tuple(sids))


def erase_traces(db: Database, *, compact: bool) -> str:
    """Leave no removed row readable in the database's files (see the module doc).
    PostgreSQL rewrites its tables only when `compact` (an erasure, not every purge)."""
    if db.location.backend == "sqlite":
        busy, _, _ = db.outside_transaction("empty the WAL", "PRAGMA wal_checkpoint(TRUNCATE)")[0]
        if busy:
            return ("rows overwritten (secure_delete); the WAL could not be emptied now "
                    "(another process was reading): it is at its next checkpoint")
        return "rows overwritten (secure_delete), WAL checkpointed and emptied"
    if not compact:
        return "rows removed; PostgreSQL reuses their space (autovacuum)"
    for table in ERASED_TABLES:
        db.outside_transaction(f"rewrite {table}", f"VACUUM FULL {table}")
    return ("tables rewritten (VACUUM FULL); PostgreSQL's WAL keeps the old rows until its "
            "segments are recycled, backups until they expire")
