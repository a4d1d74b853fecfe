"""The call store's two backends, as the tests use them: where a test's records go, the
settings that point a service there, and the bytes that hold them (for privacy checks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

import sqlalchemy as sa

from tests.pg import PostgresCluster
from voicebot.records.store import CallStore

HASH_KEY = "test-hash-key"


@dataclass
class StoreBackend:
    name: str  # "sqlite" | "postgresql"
    cluster: PostgresCluster | None = None
    _n: count = field(default_factory=lambda: count(1))

    def new_location(self, tmp: Path, *, upgraded: bool = True) -> str:
        """A new, empty place for records: a SQLite file in `tmp`, or a new database."""
        if self.cluster is None:
            return str(tmp / f"calls-{next(self._n)}.sqlite3")
        return self.cluster.new_database(upgraded=upgraded)

    def env(self, location: str) -> dict[str, str]:
        """The service's settings for records at `location`."""
        if self.cluster is None:
            return {"VOICEBOT_DB": location}
        return {"VOICEBOT_DATABASE_URL": location, "VOICEBOT_HASH_KEY": HASH_KEY}

    def store(self, location: str, key: bytes | str = b"k") -> CallStore:
        return CallStore(location, key)

    def raw_bytes(self, location: str) -> bytes:
        """Every byte of the files the records are in (SQLite: the file and its WAL)."""
        if self.cluster is None:
            paths = [Path(location), Path(location + "-wal")]
        else:
            paths = self.cluster.files_of(location)
        return b"".join(p.read_bytes() for p in paths if p.exists())

    def scalar(self, location: str, sql: str) -> object:
        """One value by plain SQL, outside the store (what an operator would see)."""
        url = location if self.cluster else f"sqlite:///{location}"
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        try:
            with engine.connect() as conn:
                return conn.execute(sa.text(sql)).scalar()
        finally:
            engine.dispose()
