"""Alembic migrations of the call records (SQLite and PostgreSQL), run by records.migrate."""
