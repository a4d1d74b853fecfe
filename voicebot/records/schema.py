"""The call records' tables as the store's code sees them (SQLAlchemy Core).

The migrations in records/migrations/ create and change the tables in a database; these
definitions are what the store's queries are written against. A test checks that the two
agree on both backends, so a new column goes into a new migration *and* here.

Times are ISO-8601 UTC text with milliseconds ("2025-01-31T12:00:00.123Z"): they sort as
text, read the same from SQLite and PostgreSQL, and come out of the API unchanged.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

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
