"""The call records' tables as the store's code sees them (SQLAlchemy Core).

The migrations in records/migrations/ create and change the tables in a database; these
definitions are what the store's queries are written against. A test checks that the two
agree on both backends, so a new column goes into a new migration *and* here.

Times are ISO-8601 UTC text with milliseconds ("2025-01-31T12:00:00.123Z"): they sort as
text, read the same from SQLite and PostgreSQL, and come out of the API unchanged.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

metadata = sa.MetaData()


def iso_time(t: float) -> str:
    """A time (seconds since the epoch) as the tables keep it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


calls = sa.Table(
    "calls", metadata,
    sa.Column("call_sid", sa.Text, primary_key=True),
    sa.Column("started", sa.Text, nullable=False),
    sa.Column("ended", sa.Text),
    sa.Column("status", sa.Text),  # Twilio's last CallStatus
    sa.Column("flow_name", sa.Text),
    sa.Column("flow_version", sa.Text),
    sa.Column("engine", sa.Text),
    sa.Column("outcome", sa.Text),  # transfer | hangup | NULL while the call goes on
    sa.Column("reason", sa.Text),
    sa.Column("queue", sa.Text),
    sa.Column("caller_hash", sa.Text),  # HMAC of the caller's number, never the number
    sa.Column("summary", sa.Text),
    sa.Column("context", sa.Text),  # JSON: intent, slots, path, last turns (saved every turn)
    sa.Column("path", sa.Text),  # JSON list of the nodes visited
    # revision 0002: what a later request on another host needs
    sa.Column("flow_variant", sa.Text),  # which variant of the flow the call runs
    sa.Column("updated", sa.Text),  # when the record was last written
    sa.Column("enqueued", sa.Text),  # when the <Connect> action put the caller in a queue
    # revision 0002a: which instance may start the call's stream (records/stream_state.py)
    sa.Column("stream_state", sa.Text),  # waiting | streaming | ended | NULL: never armed
    sa.Column("stream_deadline", sa.Text),  # waiting: its stream may start until then
    # revision 0004: the caller's answer to the flow's survey (1-5), for CSAT
    sa.Column("csat", sa.Integer),
    sa.Index("calls_started", "started"),
    sa.Index("calls_waiting", "queue", "outcome"),
)

turns = sa.Table(
    "turns", metadata,
    sa.Column("call_sid", sa.Text, sa.ForeignKey("calls.call_sid"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("node", sa.Text),
    sa.Column("kind", sa.Text),
    sa.Column("prompt", sa.Text),
    sa.Column("heard", sa.Text),
    sa.Column("confidence", sa.Float),
    sa.Column("in_grammar", sa.Integer),
    sa.Column("intent", sa.Text),
    sa.Column("t_start", sa.Float),
    sa.Column("t_end", sa.Float),
    sa.Column("t_reply", sa.Float),
    sa.Column("during_prompt", sa.Integer),
    # revision 0004: what the flow made of the turn (matched, no_match, no_input, ...)
    sa.Column("result", sa.Text),
)

prompts = sa.Table(
    "prompts", metadata,
    sa.Column("call_sid", sa.Text, sa.ForeignKey("calls.call_sid"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("node", sa.Text),
    sa.Column("kind", sa.Text),
    sa.Column("text", sa.Text),
    sa.Column("t_sent", sa.Float),
    sa.Column("t_played", sa.Float),
    sa.Column("barged_in", sa.Integer),
)

handoffs = sa.Table(
    "handoffs", metadata,
    sa.Column("agent_call_sid", sa.Text, primary_key=True),
    sa.Column("call_sid", sa.Text, nullable=False),
    sa.Column("queue_sid", sa.Text),
    sa.Column("queue_time", sa.Integer),
    sa.Column("at", sa.Text, nullable=False),
    sa.Index("handoffs_call", "call_sid"),
)

# revision 0003: who may read the records, who did, and what keeps them private

api_tokens = sa.Table(
    "api_tokens", metadata,
    sa.Column("name", sa.Text, primary_key=True),  # who holds it ("alice", "desk-3")
    sa.Column("role", sa.Text, nullable=False),  # agent | supervisor | admin
    sa.Column("token_hash", sa.Text, nullable=False),  # SHA-256 of the token, never the token
    sa.Column("created", sa.Text, nullable=False),
    sa.Column("revoked", sa.Text),  # when it stopped working (the row stays for the audit)
    sa.Index("api_tokens_hash", "token_hash", unique=True),
)

audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),  # the token's name (or a command's user)
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),  # read_call, export, forget, purge, ...
    sa.Column("endpoint", sa.Text, nullable=False),  # why: "GET /calls/<call_sid>", a command
    sa.Column("call_sid", sa.Text),  # the call read (never a caller's number or hash)
    sa.Column("detail", sa.Text),  # counts and outcomes, no personal data
    sa.Index("audit_log_at", "at"),
    sa.Index("audit_log_call", "call_sid"),
)

locks = sa.Table(
    "locks", metadata,  # one host at a time does a job (the retention purge)
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("holder", sa.Text, nullable=False),
    sa.Column("until", sa.Text, nullable=False),
)

meta = sa.Table(
    "meta", metadata,  # facts about the records themselves (which data key opens them)
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

calls_by_caller = sa.Index("calls_caller", calls.c.caller_hash)  # a caller's export or erasure

# revision 0004: supervisors' reviews of calls

reviews = sa.Table(
    "reviews", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("call_sid", sa.Text, sa.ForeignKey("calls.call_sid"), nullable=False),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("reviewer", sa.Text, nullable=False),  # the token's name
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("verdict", sa.Text, nullable=False),  # voicebot.records.reviews.VERDICTS
    sa.Column("note", sa.Text),
    sa.Index("reviews_call", "call_sid"),
)
