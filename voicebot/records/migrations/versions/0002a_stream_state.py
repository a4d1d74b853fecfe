"""Which instance may start a call's stream: the per-call stream state, shared by every host.

Behind a load balancer the stream of a call may reach another instance than its webhook, so
the "waiting for its stream" state moves from one process's memory into the calls row: the
webhook arms it (waiting, until a deadline), exactly one `start` changes it to streaming
(a compare-and-set), and the stream's end makes it ended. Calls recorded before this
revision that streamed, ended or were decided are marked ended, so a replayed handshake or
webhook of one of them is refused as before.

Revision ID: 0002a
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002a"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("stream_state", sa.Text))
        batch.add_column(sa.Column("stream_deadline", sa.Text))
    op.execute("UPDATE calls SET stream_state = 'ended' "
               "WHERE ended IS NOT NULL OR path IS NOT NULL OR outcome IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("stream_deadline")
        batch.drop_column("stream_state")
