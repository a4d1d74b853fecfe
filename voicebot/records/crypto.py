"""Encryption at rest of what the records keep about what callers said.

Turn texts, prompts, summaries, the saved context (slot values among it) and the spool's
lines are sealed with AES-256-GCM (the `cryptography` package, a well-kept binding to
OpenSSL) before they reach the database or the disk. Why AES-GCM rather than Fernet: a
256-bit key, a smaller token, and associated data: each value is bound to its column and
call ("turns.heard|CA..."), so a sealed value copied into another row or column does not
open there.

A sealed value is text: `enc1:<key id>:<base64url(nonce + ciphertext + tag)>`. The key id
(8 hex digits of a hash of the key, which says nothing about the key) tells which key
sealed it, so VOICEBOT_DATA_KEY may list several keys, newest first: the first seals, all
open, and `voicebot records rotate-key` seals everything again with the first. A value
without the prefix was written before encryption existed and reads as it is (rotate-key
seals it).

A wrong key, a missing key and a tampered value are errors that say so (DataKeyError,
Unreadable), never a traceback; a value that cannot be opened is reported as such and
the rest of the records still read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from voicebot.errors import SettingsError, VoicebotError

PREFIX = "enc1:"
NONCE_BYTES = 12
KEY_BYTES = 32
UNREADABLE = "[unreadable]"  # what a value that cannot be opened reads as


class DataKeyError(SettingsError):
    """A data key is missing, malformed, or does not open the records."""


class Unreadable(VoicebotError):
    """A sealed value that none of the keys opens: another key sealed it, or it was
    changed (its tag does not match)."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"voicebot-data-key:" + key).hexdigest()[:8]


def new_key() -> str:
    """A fresh key as VOICEBOT_DATA_KEY takes it (32 random bytes, base64url)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def parse_keys(raw: str, source: str = "VOICEBOT_DATA_KEY") -> list[bytes]:
    """The keys of a comma-separated list (base64url or 64 hex digits each, newest first);
    DataKeyError naming which one is wrong, never showing it."""
    keys = []
    for n, text in enumerate((t.strip() for t in raw.split(",")), start=1):
        if not text:
            continue
        try:
            key = bytes.fromhex(text) if len(text) == 2 * KEY_BYTES else \
                base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (ValueError, binascii.Error):
            key = b""
        if len(key) != KEY_BYTES:
            raise DataKeyError(f"{source}: key {n} is not a data key (32 bytes as base64url "
                               "or 64 hex digits); make one with `voicebot records new-key`")
        keys.append(key)
    if not keys:
        raise DataKeyError(f"{source} holds no key")
    return keys


class DataCipher:
    """Seals and opens values with a list of keys: the first seals, every one opens."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise DataKeyError("no data key given")
        self._keys = {key_id(k): AESGCM(k) for k in keys}
        self.key_ids = [key_id(k) for k in keys]
        self.primary = self.key_ids[0]

    def seal(self, text: str | None, label: str) -> str | None:
        """`text` sealed for the place `label` names (None stays None)."""
        if text is None:
            return None
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self.primary].encrypt(nonce, text.encode("utf-8"),
                                                  label.encode("utf-8"))
        body = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")
        return f"{PREFIX}{self.primary}:{body}"

    def open(self, value: str | None, label: str) -> str | None:
        """The text of a sealed value (a value that is not sealed is returned as it is);
        Unreadable when no key opens it."""
        if value is None or not value.startswith(PREFIX):
            return value
        kid, _, body = value[len(PREFIX):].partition(":")
        aead = self._keys.get(kid)
        if aead is None:
            raise Unreadable(f"sealed with the data key {kid}, which is not among the keys "
                             f"given ({', '.join(self.key_ids)})")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:],
                                label.encode("utf-8")).decode("utf-8")
        except (InvalidTag, ValueError, binascii.Error, UnicodeDecodeError):
            raise Unreadable(f"a value sealed with key {kid} does not open: it was changed "
                             "or damaged") from None

    def is_current(self, value: str | None) -> bool:
        """Sealed with the first key (nothing for rotate-key to do)."""
        return value is None or value.startswith(f"{PREFIX}{self.primary}:")


def sealed_key_id(value: str | None) -> str | None:
    """Which key sealed a value (None: not sealed)."""
    if value is None or not value.startswith(PREFIX):
        return None
    return value[len(PREFIX):].partition(":")[0]
