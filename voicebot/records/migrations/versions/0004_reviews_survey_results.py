"""What people in the loop need: reviews of calls, survey answers, and what the flow made
of each caller turn.

A supervisor's review of a call (handled well, should have handed over sooner, misheard,
wrong answer, other; with a note), the caller's answer to the flow's survey (1-5, for
CSAT), and each turn's result as the flow judged it (matched, no_match, low_confidence,
no_input, escape, ...), so no-match rates per node are counted without opening what the
caller said.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("csat", sa.Integer))
    with op.batch_alter_table("turns") as batch:
        batch.add_column(sa.Column("result", sa.Text))
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("call_sid", sa.Text, sa.ForeignKey("calls.call_sid"), nullable=False),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("reviewer", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("verdict", sa.Text, nullable=False),
        sa.Column("note", sa.Text),
    )
    op.create_index("reviews_call", "reviews", ["call_sid"])


def downgrade() -> None:
    op.drop_index("reviews_call", table_name="reviews")
    op.drop_table("reviews")
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("result")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("csat")
