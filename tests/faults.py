"""Breaking a real disk the ways an operator's does: immutable files (chattr +i, which stops
root too, unlike file modes) and the files of a SQLite database."""

from __future__ import annotations

import subprocess
from pathlib import Path


def db_files(db: Path) -> list[Path]:
    """The database and its WAL companions: .db, -wal, -shm."""
    return [db, Path(f"{db}-wal"), Path(f"{db}-shm")]


def chattr(flag: str, path: Path) -> None:
    done = subprocess.run(["chattr", flag, str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"chattr {flag} {path} failed ({done.stderr.strip()}): these tests "
                           "need a filesystem with the immutable attribute (ext4, xfs) and root")


class Immutable:
    """immutable(*paths) makes the existing ones immutable; release() undoes it all."""

    def __init__(self) -> None:
        self.locked: list[Path] = []

    def __call__(self, *paths: Path) -> list[Path]:
        for path in paths:
            if path.exists():
                chattr("+i", path)
                self.locked.append(path)
        return list(self.locked)

    def release(self) -> None:
        while self.locked:
            chattr("-i", self.locked.pop())
