"""What a later request of a call needs when another host serves it.

The flow variant the call runs (chosen at the webhook), when the record was last written,
and when the <Connect> action put the caller in a queue (the order agents are briefed in).
Indexes for the agent's "who is next in this queue" and "which agent took this caller".

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("flow_variant", sa.Text))
        batch.add_column(sa.Column("updated", sa.Text))
        batch.add_column(sa.Column("enqueued", sa.Text))
    op.create_index("calls_waiting", "calls", ["queue", "outcome"])
    op.create_index("handoffs_call", "handoffs", ["call_sid"])


def downgrade() -> None:
    op.drop_index("handoffs_call", table_name="handoffs")
    op.drop_index("calls_waiting", table_name="calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("enqueued")
        batch.drop_column("updated")
        batch.drop_column("flow_variant")
