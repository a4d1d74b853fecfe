"""One upsert for both backends: INSERT ... ON CONFLICT (primary key) DO UPDATE.

SQLite and PostgreSQL spell it the same way, and SQLAlchemy has a construct for each
dialect with the same interface; this picks the connection's and says, per column, what a
second write of the same row does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def upsert(conn: sa.Connection, table: sa.Table, row: Mapping[str, Any], *,
           replace: Sequence[str] = (), keep_first: Sequence[str] = (),
           if_null: tuple[str, Sequence[str]] | None = None) -> Any:
    """Insert `row`; if its primary key exists, update only the columns named:

    - `replace`: take the new value;
    - `keep_first`: keep the stored value unless it is NULL (COALESCE(stored, new));
    - `if_null=(column, columns)`: `columns` take the new values only where the stored
      `column` is NULL (e.g. record a hand-over only for a call nothing decided).
    """
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(table).values(**row)
    new = stmt.excluded
    sets: dict[str, Any] = {c: new[c] for c in replace}
    sets.update({c: sa.func.coalesce(table.c[c], new[c]) for c in keep_first})
    if if_null is not None:
        column, columns = if_null
        sets.update({c: sa.case((table.c[column].is_(None), new[c]), else_=table.c[c])
                     for c in columns})
    keys = [c.name for c in table.primary_key.columns]
    if not sets:
        return stmt.on_conflict_do_nothing(index_elements=keys)
    return stmt.on_conflict_do_update(index_elements=keys, set_=sets)
