"""What can go wrong with the call records, as types a caller can act on.

StoreUnavailable is the transient kind (the database is down, unreachable, the connection was
lost, the SQLite file became read-only or vanished): the next use tries again by itself, so a
wrapper may keep the write and retry it later, and a Twilio route falls back to a person.
SchemaMismatch is an operator's job (run `voicebot db upgrade`). Both are VoicebotErrors, so
the command line prints them as one clear line.
"""

from __future__ import annotations

from voicebot.errors import VoicebotError


class StoreError(VoicebotError):
    """The call records could not be read or written. `detail`: the cause alone (the
    driver's first line), for messages that say where themselves."""

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail or message


class StoreUnavailable(StoreError):
    """The database cannot be reached or written now; a later use reconnects by itself."""


class SchemaMismatch(StoreError):
    """The database's schema is not the one this voicebot's code expects."""
