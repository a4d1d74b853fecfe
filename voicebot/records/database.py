"""Where the call records live and how to talk to it: a SQLite file or a PostgreSQL server.

One SQLAlchemy Core engine per store. Why SQLAlchemy Core rather than psycopg alone: the
same queries (upserts included) run on both backends, its pool checks a connection before
handing it out (pool_pre_ping), so a restarted PostgreSQL is reconnected to on the next use
without code of ours, and Alembic migrations build on it. psycopg 3 is its PostgreSQL driver.

SQLite, the embedded default, keeps one connection per process behind a lock (writes are
tiny, and SQLite takes one writer at a time anyway), in WAL mode so that several processes on
one host can share the file. Every transaction on it starts with BEGIN IMMEDIATE for writes
(so two processes never deadlock upgrading a read lock) and a plain BEGIN for reads.
PostgreSQL gets a pool of VOICEBOT_DB_POOL_SIZE connections with connect and statement
timeouts, so a lost server fails one request quickly instead of holding call threads.

Every driver error comes out as StoreUnavailable (connection refused or lost, timeouts, a
read-only or vanished SQLite file) or StoreError (anything else), never as a driver type.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import math
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import StaticPool

from voicebot.records.errors import StoreError, StoreUnavailable
from voicebot.records.sqlite_files import SqliteFiles

POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")
SQLITE_BUSY_MS = 10000


@dataclass(frozen=True)
class Location:
    """A SQLite file (`sqlite_path`) or a PostgreSQL URL (`url`), and how to name it."""

    url: sa.URL
    sqlite_path: Path | None = None

    @property
    def backend(self) -> str:
        return "sqlite" if self.sqlite_path is not None else "postgresql"

    def describe(self) -> str:
        """For messages and logs: the file, or the URL with its password hidden."""
        if self.sqlite_path is not None:
            return str(self.sqlite_path)
        return self.url.set(drivername="postgresql").render_as_string(hide_password=True)


def location_for(target: Path | str) -> Location:
    """A PostgreSQL URL (postgresql://...) or a SQLite file path (anything else)."""
    text = str(target)
    if text.startswith(POSTGRES_SCHEMES):
        try:
            url = sa.make_url(text)
        except sa.exc.ArgumentError as exc:
            raise StoreError(f"not a database URL: {exc}") from exc
        return Location(url=url.set(drivername="postgresql+psycopg"))
    path = Path(text).expanduser()
    return Location(url=sa.URL.create("sqlite", database=str(path)), sqlite_path=path)


def now_iso(at: float | None = None) -> str:
    """A time as the records write it: ISO-8601 UTC with milliseconds
    ("2025-01-31T12:00:00.123Z"), which sorts as text on both backends."""
    now = time.time() if at is None else at
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


def from_iso(text: str) -> float:
    """Seconds since the epoch of a time the records wrote (now_iso's form, or any ISO-8601;
    a time without a zone is UTC)."""
    when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when.timestamp()


class Database:
    """The engine for one Location, and the one way to get a transaction from it."""

    def __init__(self, location: Location, *, pool_size: int = 10,
                 timeout_s: float = 5.0) -> None:
        self.location = location
        self.files: SqliteFiles | None = None
        self._pid = os.getpid()
        # SQLite: one connection, so one transaction at a time; PostgreSQL: the pool's.
        self._lock: threading.RLock | contextlib.nullcontext = contextlib.nullcontext()
        if location.sqlite_path is not None:
            self.files = SqliteFiles(location.sqlite_path)
            self.files.create_private()
            self.engine = _sqlite_engine(location)
            self._lock = threading.RLock()
        else:
            self.engine = _postgres_engine(location, pool_size, timeout_s)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def transaction(self, doing: str, *, write: bool = True) -> Iterator[sa.Connection]:
        """A connection in a transaction, committed on success; errors become StoreErrors."""
        self._forked()
        with self._lock, self.translated(doing):
            self._check_files()
            options = {"sqlite_immediate": write}
            with self.engine.connect().execution_options(**options) as conn, conn.begin():
                yield conn

    @contextlib.contextmanager
    def translated(self, doing: str) -> Iterator[None]:
        """Driver errors as StoreUnavailable (transient) or StoreError (anything else)."""
        where = self.location.describe()
        try:
            yield
        except StoreError:
            raise
        except sa.exc.DBAPIError as exc:
            detail = _first_line(exc.orig) if exc.orig is not None else _first_line(exc)
            message = f"call records at {where}: cannot {doing}: {detail}"
            if _transient(exc):
                raise StoreUnavailable(message, detail) from exc
            raise StoreError(message, detail) from exc
        except sa.exc.TimeoutError as exc:  # no pooled connection came free in time
            detail = "every database connection is busy (VOICEBOT_DB_POOL_SIZE)"
            raise StoreUnavailable(f"call records at {where}: cannot {doing}: {detail}",
                                   detail) from exc
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"call records at {where}: cannot {doing}: "
                             f"{_first_line(exc)}") from exc

    def outside_transaction(self, doing: str, sql: str) -> list[tuple]:
        """One statement that must not run in a transaction (a WAL checkpoint, VACUUM),
        and the rows it returns."""
        self._forked()
        with self._lock, self.translated(doing):
            self._check_files()
            if self.location.backend == "sqlite":  # the raw connection is in autocommit
                raw = self.engine.raw_connection()
                try:
                    return [tuple(r) for r in raw.cursor().execute(sql).fetchall()]
                finally:
                    raw.close()
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") \
                    as conn:
                # no statement timeout: a table rewrite takes as long as the table needs
                conn.exec_driver_sql("SET statement_timeout = 0")
                try:
                    result = conn.exec_driver_sql(sql)
                    return [tuple(r) for r in result] if result.returns_rows else []
                finally:
                    conn.exec_driver_sql("RESET statement_timeout")

    def _forked(self) -> None:
        """In a process forked after the store opened (a pre-loading server's workers): drop
        the parent's connections without closing them (they are the parent's to use) and
        its lock, and open our own."""
        if os.getpid() == self._pid:
            return
        self._pid = os.getpid()
        if isinstance(self._lock, type(threading.RLock())):
            self._lock = threading.RLock()
        self.engine.dispose(close=False)

    def _check_files(self) -> None:
        """SQLite only: refuse to touch a file that became read-only or was replaced.

        The WAL index (-shm) is shared memory mapped from a file; writing to that mapping
        after the file was made immutable, or after its file system went read-only, kills
        the process with SIGBUS. So before each transaction the files are checked, and a
        connection whose files were replaced is closed (safe: its old files are still
        writable) and opened again on the next use.
        """
        if self.files is None:
            return
        problem = self.files.problem()
        if problem is None:
            return
        if self.files.replaced:
            self.engine.dispose()
            self.files.forget()
        raise StoreUnavailable(f"call records at {self.location.describe()}: {problem}",
                               problem)

    def close(self) -> None:
        """Close the connections; a SQLite connection on a read-only WAL index is left
        open (closing it would write to the index and kill the process)."""
        if self.files is not None and self.files.problem() is not None \
                and not self.files.replaced:
            _never_close(self.engine)
            return
        # SQLite's one connection may be in a statement on another thread (a read on the old
        # store while the writer reopens the records): closing it then crashes the process.
        with self._lock:
            self.engine.dispose()


def _never_close(engine: sa.Engine) -> None:
    """Keep `engine` (and its SQLite connection) alive until the process ends, even through
    the interpreter's final clean-up: closing the connection would checkpoint the WAL, i.e.
    write to a read-only shared-memory mapping (SIGBUS). A reference nobody releases does
    it; the process leaves the file as a crash would, and SQLite recovers it on next open."""
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(engine))


def _sqlite_engine(location: Location) -> sa.Engine:
    engine = sa.create_engine(location.url, poolclass=StaticPool,
                              connect_args={"check_same_thread": False,
                                            "timeout": SQLITE_BUSY_MS / 1000})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record) -> None:  # noqa: ANN001 - sqlite3.Connection
        dbapi_conn.isolation_level = None  # transactions are begun below, not by sqlite3
        cur = dbapi_conn.cursor()
        # secure_delete: removed rows (an erased caller, expired records) are overwritten
        # with zeros, not left in free pages
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL",
                       f"busy_timeout={SQLITE_BUSY_MS}", "mmap_size=0", "foreign_keys=ON",
                       "secure_delete=ON"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", True)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _postgres_engine(location: Location, pool_size: int, timeout_s: float) -> sa.Engine:
    return sa.create_engine(
        location.url, pool_size=pool_size, max_overflow=pool_size, pool_timeout=timeout_s,
        pool_pre_ping=True, pool_recycle=1800,
        connect_args={
            "connect_timeout": max(2, math.ceil(timeout_s)),
            "options": f"-c statement_timeout={int(timeout_s * 1000)}",
            "application_name": f"voicebot-{os.getpid()}",
        })


def _transient(exc: sa.exc.DBAPIError) -> bool:
    """Worth trying again later: the connection, the server or the file, not the query."""
    if exc.connection_invalidated or isinstance(exc, sa.exc.InterfaceError):
        return True
    if not isinstance(exc, sa.exc.OperationalError):
        return False
    text = str(exc.orig).lower()
    return not any(word in text for word in ("no such table", "no such column", "syntax"))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
