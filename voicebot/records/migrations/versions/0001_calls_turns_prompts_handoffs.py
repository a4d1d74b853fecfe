"""The call records as they were before migrations: calls, turns, prompts, handoffs.

A SQLite file made before migrations existed has exactly these tables; migrate.py marks
such a file as being at this revision and upgrades it from here.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("call_sid", sa.Text, primary_key=True),
        sa.Column("started", sa.Text, nullable=False),
        sa.Column("ended", sa.Text),
        sa.Column("status", sa.Text),
        sa.Column("flow_name", sa.Text),
        sa.Column("flow_version", sa.Text),
        sa.Column("engine", sa.Text),
        sa.Column("outcome", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("queue", sa.Text),
        sa.Column("caller_hash", sa.Text),
        sa.Column("summary", sa.Text),
        sa.Column("context", sa.Text),
        sa.Column("path", sa.Text),
    )
    op.create_index("calls_started", "calls", ["started"])
    op.create_table(
        "turns",
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
    op.create_table(
        "prompts",
        sa.Column("call_sid", sa.Text, sa.ForeignKey("calls.call_sid"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("node", sa.Text),
        sa.Column("kind", sa.Text),
        sa.Column("text", sa.Text),
        sa.Column("t_sent", sa.Float),
        sa.Column("t_played", sa.Float),
        sa.Column("barged_in", sa.Integer),
    )
    op.create_table(
        "handoffs",
        sa.Column("agent_call_sid", sa.Text, primary_key=True),
        sa.Column("call_sid", sa.Text, nullable=False),
        sa.Column("queue_sid", sa.Text),
        sa.Column("queue_time", sa.Integer),
        sa.Column("at", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("handoffs", "prompts", "turns"):
        op.drop_table(table)
    op.drop_index("calls_started", table_name="calls")
    op.drop_table("calls")
