"""`voicebot records rotate-key`: every sealed value sealed again with the first data key.

Run it after putting a new key first in VOICEBOT_DATA_KEY (`new,old` on every host, so
they all open both): each value not sealed with the new key (sealed with an older one, or
written in clear before encryption existed) is opened and sealed again, in batches, and
the key check is sealed with the new key. Then the old key can be removed from the list
(once the spool directories are empty: spooled writes are sealed with the key of the day).

A running service may rewrite a call while this runs: each value is replaced only if it is
still the one read (compare and set), so nothing newer is overwritten. A value no key
opens is counted and left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from voicebot.records.crypto import PREFIX, DataCipher, Unreadable
from voicebot.records.database import Database
from voicebot.records.keycheck import write_check
from voicebot.records.schema import calls, prompts, turns

BATCH = 500
# (table, column): every column that holds what callers said, sealed with its label
SEALED = ((calls, "summary"), (calls, "context"), (turns, "prompt"), (turns, "heard"),
          (prompts, "text"))


@dataclass
class Rotation:
    resealed: dict[str, int] = field(default_factory=dict)  # "table.column" -> values
    unreadable: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.resealed.values())


def _stale(table: sa.Table, column: str, cipher: DataCipher) -> sa.ColumnElement[bool]:
    col = table.c[column]
    return sa.and_(col.is_not(None), col != "",
                   sa.not_(col.like(f"{PREFIX}{cipher.primary}:%")))


def rotate(db: Database, cipher: DataCipher) -> Rotation:
    """Seal every value again with `cipher`'s first key (see the module doc)."""
    done = Rotation()
    for table, column in SEALED:
        name = f"{table.name}.{column}"
        keys = [c for c in table.primary_key.columns]
        skip: set[tuple] = set()  # unreadable rows, not tried again
        while True:
            query = sa.select(*keys, table.c[column]).where(_stale(table, column, cipher))
            with db.transaction(f"read {name} to seal again", write=False) as conn:
                rows = [r for r in conn.execute(query.limit(BATCH + len(skip)))
                        if tuple(r[:-1]) not in skip][:BATCH]
            if not rows:
                break
            with db.transaction(f"seal {name} again") as conn:
                for row in rows:
                    pk, value = tuple(row[:-1]), row[-1]
                    label = f"{name}|{row._mapping['call_sid']}"
                    try:
                        text = cipher.open(value, label)
                    except Unreadable:
                        skip.add(pk)
                        done.unreadable[name] = done.unreadable.get(name, 0) + 1
                        continue
                    where = [k == v for k, v in zip(keys, pk, strict=True)]
                    conn.execute(table.update().where(*where, table.c[column] == value)
                                 .values({column: cipher.seal(text, label)}))
                    done.resealed[name] = done.resealed.get(name, 0) + 1
    write_check(db, cipher, replace=True)
    return done
