"""Roles, the audit log and what keeps callers' data private.

API tokens per role (kept as hashes), the audit log of every read of a call's contents and
of every data-subject request, a lock so that one host at a time purges expired records,
facts about the records (which data key opens them), and an index to find one caller's
calls by their keyed hash (export and erasure).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("token_hash", sa.Text, nullable=False),
        sa.Column("created", sa.Text, nullable=False),
        sa.Column("revoked", sa.Text),
    )
    op.create_index("api_tokens_hash", "api_tokens", ["token_hash"], unique=True)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("endpoint", sa.Text, nullable=False),
        sa.Column("call_sid", sa.Text),
        sa.Column("detail", sa.Text),
    )
    op.create_index("audit_log_at", "audit_log", ["at"])
    op.create_index("audit_log_call", "audit_log", ["call_sid"])
    op.create_table(
        "locks",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("until", sa.Text, nullable=False),
    )
    op.create_table(
        "meta",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_index("calls_caller", "calls", ["caller_hash"])


def downgrade() -> None:
    op.drop_index("calls_caller", table_name="calls")
    op.drop_table("meta")
    op.drop_table("locks")
    op.drop_index("audit_log_call", table_name="audit_log")
    op.drop_index("audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("api_tokens_hash", table_name="api_tokens")
    op.drop_table("api_tokens")
