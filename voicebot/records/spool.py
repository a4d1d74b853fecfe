"""The spool: call-record writes the database could not take, kept on disk as JSON lines.

While the database refuses writes, each write that failed is appended here (flushed and
fsynced), so a crash or a restart loses nothing; once the database takes them, the file is
emptied. Lines hold what the database would hold (caller numbers only as their keyed hash).

Each process appends to a file of its own (`records-<pid>.jsonl` in the spool directory) and
holds an exclusive lock on it while it lives, so several service processes on one database
never empty each other's files; a file nobody holds (its process ended) is adopted by the
next process that looks (at start-up and whenever its database is back).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from pathlib import Path
from typing import Any

from voicebot.logs import log_event

log = logging.getLogger(__name__)

PATTERN = "records-*.jsonl"


class Spool:
    """This process's spool file in `directory`; see the module docstring."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / f"records-{os.getpid()}.jsonl"
        self._fd: int | None = None
        self.lines = 0  # lines written to this process's file since it was last emptied

    def append(self, entries: list[dict[str, Any]]) -> bool:
        """Add entries; False (and a log line) when the disk refuses them too."""
        if not entries:
            return True
        data = "".join(json.dumps(e, separators=(",", ":"), default=str) + "\n"
                       for e in entries).encode("utf-8")
        try:
            fd = self._open()
            os.write(fd, data)
            os.fsync(fd)
        except OSError as exc:
            self._close()
            log_event(log, "records.spool_failed", logging.ERROR, spool=str(self.path),
                      error=exc.strerror or type(exc).__name__, entries=len(entries))
            return False
        self.lines += len(entries)
        return True

    def clear(self) -> None:
        """Empty this process's file: everything in it is in the database now."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        self.lines = 0

    def adopt(self) -> list[dict[str, Any]]:
        """Move the entries of spool files no living process holds into this process's file
        and return them, in order (the other files are removed once the entries are safe
        here). Unreadable lines are logged and skipped."""
        entries: list[dict[str, Any]] = []
        try:
            candidates = sorted(self.directory.glob(PATTERN), key=_mtime)
        except OSError:
            return entries
        for path in candidates:
            if path == self.path and self._fd is not None:
                continue
            entries += _take_file(path, self)
        return entries

    def close(self) -> None:
        """Stop holding the file (an empty one is removed)."""
        if self._fd is not None and self.lines == 0:
            with contextlib.suppress(OSError):
                self.path.unlink()
        self._close()

    def _open(self) -> int:
        if self._fd is not None and not self.path.exists():  # the directory was removed
            self._close()
        if self._fd is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise
            self._fd = fd
        return self._fd

    def _close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # also releases the lock
            self._fd = None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _take_file(path: Path, spool: Spool) -> list[dict[str, Any]]:
    """Move a spool file nobody holds into `spool`; [] when another process holds it (or
    its entries could not be kept: then the file stays for the next try)."""
    try:
        with open(path, "rb") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return []  # a living process's file
            entries = _parse(fh.read(), path)
        if path == spool.path:  # this process's own file from an earlier life (same pid)
            spool._open()
            spool.lines = len(entries)
            return entries
        if not spool.append(entries):
            return []
        path.unlink(missing_ok=True)
        return entries
    except OSError:
        return []


def _parse(raw: bytes, path: Path) -> list[dict[str, Any]]:
    entries, bad = [], 0
    for line in raw.splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            bad += 1  # a line cut short by a crash
            continue
        if isinstance(entry, dict) and "op" in entry:
            entries.append(entry)
        else:
            bad += 1
    if bad:
        log_event(log, "records.spool_bad_lines", logging.WARNING, spool=str(path), lines=bad)
    return entries
