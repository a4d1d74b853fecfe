"""A throwaway PostgreSQL cluster for the tests and benchmarks, started by them.

initdb and pg_ctl from Debian's `postgresql` package (/usr/lib/postgresql/<version>/bin,
installed by scripts/setup.sh) make a cluster in a temporary directory and start it on a
free loopback port with durability off (fsync, full-page writes: a test cluster is thrown
away). PostgreSQL refuses to run as root, so as root (CI, these machines) its commands run as
the `postgres` user that the package creates, in a directory that user owns.

    cluster = PostgresCluster.start()
    url = cluster.new_database()           # a fresh database at the newest schema
    cluster.stop(); cluster.start_again()  # the same cluster and port (a restart)
    cluster.remove()
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from itertools import count
from pathlib import Path

import psycopg

PG_ROOTS = (Path("/usr/lib/postgresql"),)
TEMPLATE = "voicebot_template"
USER = "postgres"


def find_bin() -> Path | None:
    """The newest PostgreSQL bin directory with initdb and pg_ctl, or None."""
    candidates = []
    if os.environ.get("VOICEBOT_TEST_PG_BIN"):
        candidates.append(Path(os.environ["VOICEBOT_TEST_PG_BIN"]))
    for root in PG_ROOTS:
        candidates += sorted(root.glob("*/bin"), key=lambda p: _version(p.parent.name),
                             reverse=True)
    if shutil.which("pg_ctl"):
        candidates.append(Path(shutil.which("pg_ctl")).parent)
    for path in candidates:
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
    return None


def missing_reason() -> str:
    return ("PostgreSQL is not installed (no initdb/pg_ctl under /usr/lib/postgresql/*/bin "
            "or on PATH): `apt-get install postgresql`, as scripts/setup.sh does")


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in name.split(".") if p.isdigit())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresCluster:
    """One cluster in a temporary directory (see the module doc)."""

    def __init__(self, bin_dir: Path, root: Path) -> None:
        self.bin = bin_dir
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = free_port()
        self._names = count(1)
        self._as_user = USER if os.geteuid() == 0 else None

    @classmethod
    def start(cls, bin_dir: Path | None = None) -> PostgresCluster:
        bin_dir = bin_dir or find_bin()
        if bin_dir is None:
            raise RuntimeError(missing_reason())
        root = Path(tempfile.mkdtemp(prefix="voicebot-pg-"))
        cluster = cls(bin_dir, root)
        if cluster._as_user:
            account = pwd.getpwnam(USER)
            os.chown(root, account.pw_uid, account.pw_gid)
        cluster._run("initdb", "-D", str(cluster.data), "-A", "trust", "-U", "postgres",
                     "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        cluster.start_again()
        cluster._create_template()
        return cluster

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([str(self.bin / tool), *args], user=self._as_user, cwd=self.root,
                              capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr[-2000:]}\n"
                               + (self.log.read_text()[-2000:] if self.log.exists() else ""))

    def start_again(self) -> None:
        """Start (or restart after stop()) the server on its port; waits until it answers."""
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
                   "-c fsync=off -c full_page_writes=off -c synchronous_commit=off "
                   "-c max_connections=300")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: 'fast' (clients disconnected) or 'immediate' (like a crash)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    # ------------------------------------------------------------------ databases

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)

    def _create_template(self) -> None:
        from voicebot.records import migrate
        from voicebot.records.database import Database, location_for

        self.admin(f"CREATE DATABASE {TEMPLATE}")
        db = Database(location_for(self.url(TEMPLATE)))
        try:
            migrate.upgrade(db)
        finally:
            db.close()

    def new_database(self, *, upgraded: bool = True) -> str:
        """A new database's URL: at the newest schema (a copy of the template) or empty."""
        name = f"t{os.getpid()}_{next(self._names)}_{int(time.time() * 1000) % 100000}"
        self.admin(f"CREATE DATABASE {name}" + (f" TEMPLATE {TEMPLATE}" if upgraded else ""))
        return self.url(name)

    def files_of(self, url: str) -> list[Path]:
        """Every file that holds the database's rows: its own directory and the WAL."""
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute("CHECKPOINT")
            oid = conn.execute("SELECT oid FROM pg_database WHERE datname = %s",
                               (name,)).fetchone()[0]
        return [p for folder in (self.data / "base" / str(oid), self.data / "pg_wal")
                for p in folder.iterdir() if p.is_file()]
