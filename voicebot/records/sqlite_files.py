"""The SQLite file and its WAL companions: created private, watched before each use.

WAL mode keeps its index in `<db>-shm`, a file every process maps into memory and writes
to. If that file is made immutable (`chattr +i`), or its file system turns read-only, the
next write to the mapping is answered by the kernel with SIGBUS, which kills the process
outright. SQLite cannot guard against it, so the store looks first: before each transaction
`problem()` says whether the database, its -wal or its -shm have become unwritable, or have
been deleted or replaced by other files (whose index a connection opened earlier no longer
shares). The check costs three stat() calls; a file that changes between the check and the
transaction is a window this cannot close.
"""

from __future__ import annotations

import os
from pathlib import Path

FileId = tuple[int, int]  # (st_dev, st_ino)


class SqliteFiles:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.wal = path.with_name(path.name + "-wal")
        self.shm = path.with_name(path.name + "-shm")
        self._seen: dict[Path, FileId] = {}
        self.replaced = False  # the last problem() found files deleted or replaced

    def create_private(self) -> None:
        """Create the database file readable by its owner only (0600) if it is missing.

        SQLite gives the -wal and -shm files the database file's permissions.
        """
        if str(self.path) == ":memory:":
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        os.close(fd)

    def problem(self) -> str | None:
        """Why the files must not be touched now, or None when they are fine."""
        self.replaced = False
        if str(self.path) == ":memory:":
            return None
        if not self.path.exists():
            self.replaced = bool(self._seen)
            return (f"the database file {self.path} is gone; records are not written until "
                    "it is restored (or the service restarted, which starts a new one)")
        for f in (self.path, self.wal, self.shm):
            try:
                st = os.stat(f)
            except FileNotFoundError:
                if f in self._seen:  # deleted under an open connection
                    self.replaced = True
                    return f"{f} was deleted while open; reconnecting"
                continue
            if not os.access(f, os.W_OK):
                return (f"{f} is read-only (made immutable, its permissions changed, or "
                        "its file system is read-only); records are not written until it "
                        "is writable again")
            seen = self._seen.setdefault(f, (st.st_dev, st.st_ino))
            if seen != (st.st_dev, st.st_ino):
                self.replaced = True
                return f"{f} was replaced by another file while open; reconnecting"
        return None

    def forget(self) -> None:
        """The connection was closed: the next one may see new files."""
        self._seen.clear()
