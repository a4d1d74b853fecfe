"""Which data key opens the records: checked when a store opens, so a wrong key is one
clear error at start-up rather than records written under two keys.

The first store opened with a key seals a known text into the `meta` table; every later
store must open it with one of its keys. `voicebot records rotate-key` seals it again with
the new first key. A store opened without a key (tools and tests that keep nothing
secret) may not open records that have a key.
"""

from __future__ import annotations

import sqlalchemy as sa

from voicebot.records.crypto import DataCipher, DataKeyError, Unreadable, sealed_key_id
from voicebot.records.database import Database
from voicebot.records.schema import meta
from voicebot.records.upsert import upsert

CHECK = "data_key_check"
CHECK_TEXT = "voicebot call records"
LABEL = "meta.data_key_check"


def read_check(db: Database) -> str | None:
    with db.transaction("read the data key check", write=False) as conn:
        return conn.execute(sa.select(meta.c.value).where(meta.c.name == CHECK)).scalar()


def write_check(db: Database, cipher: DataCipher, *, replace: bool = False) -> None:
    row = {"name": CHECK, "value": cipher.seal(CHECK_TEXT, LABEL)}
    with db.transaction("write the data key check") as conn:
        conn.execute(upsert(conn, meta, row, replace=("value",) if replace else ()))


def check_key(db: Database, cipher: DataCipher | None) -> None:
    """DataKeyError unless `cipher` opens these records (see the module doc)."""
    sealed = read_check(db)
    where = db.location.describe()
    if cipher is None:
        if sealed is not None:
            raise DataKeyError(f"the call records at {where} are encrypted (data key "
                               f"{sealed_key_id(sealed)}): set VOICEBOT_DATA_KEY")
        return
    if sealed is None:
        write_check(db, cipher)
        sealed = read_check(db)  # another host may have written first
    try:
        if cipher.open(sealed, LABEL) == CHECK_TEXT:
            return
    except Unreadable:
        pass
    raise DataKeyError(
        f"VOICEBOT_DATA_KEY does not open the call records at {where}: they were sealed "
        f"with the data key {sealed_key_id(sealed)}, and the key(s) given are "
        f"{', '.join(cipher.key_ids)}. Set the key they were written with (first, or "
        "after a new one while rotating)")
