"""Alembic's entry point, run only through voicebot.records.migrate (never `alembic` itself).

migrate.py hands over an open connection inside its transaction (and lock), so every
migration of one upgrade commits or rolls back together. SQLite cannot alter most of a
table in place, so migrations run in batch mode there (copy, alter, swap), which also works
on PostgreSQL: write `with op.batch_alter_table(...)` in new migrations.
"""

from __future__ import annotations

from alembic import context

from voicebot.records.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `voicebot db upgrade`, not the alembic command")

context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
