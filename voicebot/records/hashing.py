"""Caller numbers are kept only as a keyed hash (HMAC-SHA256), never in clear.

A keyed hash (not a plain SHA-256) because phone numbers are few enough to brute-force: without
the key nobody can turn a stored hash back into a number, yet the same caller still gets the
same hash, so repeat calls can be counted. The key comes from VOICEBOT_HASH_KEY, or is
generated once into a 0600 file beside the database so that it survives restarts.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from voicebot.errors import SettingsError

KEY_FILE_NAME = "hash.key"


def key_file_for(db_path: Path) -> Path:
    return Path(db_path).parent / KEY_FILE_NAME


def load_hash_key(configured: str | None, db_path: Path) -> bytes:
    """The configured key, else the one stored beside the DB (created on first use, mode 0600)."""
    if configured:
        return configured.encode("utf-8")
    path = key_file_for(db_path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        key = path.read_text().strip()
    except FileExistsError:  # another instance created it between exists() and open()
        key = path.read_text().strip()
    except OSError as exc:
        raise SettingsError(f"cannot read or create the hash key file {path}: {exc.strerror}. "
                            "Set VOICEBOT_HASH_KEY or make the directory writable.") from exc
    if not key:
        raise SettingsError(f"the hash key file {path} is empty; delete it or set "
                            "VOICEBOT_HASH_KEY")
    return key.encode("utf-8")


def restore_key_file(key: bytes, db_path: Path) -> None:
    """Write the key in use back beside the database if its file is gone (the directory was
    removed under the running service), so hashes stay comparable after a restart."""
    path = key_file_for(db_path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:  # it is there (or cannot be): nothing to restore
        return
    with os.fdopen(fd, "w") as f:
        f.write(key.decode("utf-8"))


def hash_number(key: bytes, number: str) -> str:
    """HMAC-SHA256 of the number with spaces and dashes removed (same caller, same hash)."""
    canonical = "".join(ch for ch in number if ch not in " -().")
    return hmac.new(key, canonical.encode("utf-8"), hashlib.sha256).hexdigest()
