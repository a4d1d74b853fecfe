"""Opening the call records from the settings, at start-up: which backend, which key, and
waiting for a database that is not up yet.

Hosts and their database often start together (a compose file, a reboot), so an unreachable
database is waited for, retrying with backoff for VOICEBOT_DB_WAIT_S, each try logged; then
start-up stops with one line that says where and why. A schema that is not this code's is
not waited for: it needs `voicebot db upgrade` (SchemaMismatch).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from voicebot.errors import SettingsError
from voicebot.logs import log_event
from voicebot.records.database import location_for
from voicebot.records.errors import StoreUnavailable
from voicebot.records.hashing import load_hash_key
from voicebot.records.store import CallStore
from voicebot.settings import Settings

log = logging.getLogger("voicebot.records")
FIRST_RETRY_S = 0.5
LONGEST_RETRY_S = 5.0
T = TypeVar("T")


def store_location(settings: Settings) -> str:
    """VOICEBOT_DATABASE_URL if set, else the SQLite file VOICEBOT_DB."""
    return settings.database_url or str(settings.db_path)


def hash_key(settings: Settings) -> bytes:
    """The key callers' numbers are hashed with. With a shared database every host must use
    the same one, so it must be set: a key generated beside one host's files would not be."""
    if settings.database_url and not settings.hash_key:
        raise SettingsError("VOICEBOT_HASH_KEY must be set when VOICEBOT_DATABASE_URL is: "
                            "every host must hash callers' numbers with the same key")
    return load_hash_key(settings.hash_key, settings.db_path)


def retry(what: Callable[[], T], settings: Settings, describe: str, *,
          sleep: Callable[[float], None] = time.sleep,
          clock: Callable[[], float] = time.monotonic) -> T:
    """`what()`, tried again while it raises StoreUnavailable, for VOICEBOT_DB_WAIT_S."""
    deadline = clock() + settings.db_wait_s
    delay, tries = FIRST_RETRY_S, 0
    while True:
        tries += 1
        try:
            return what()
        except StoreUnavailable as exc:
            remaining = deadline - clock()
            if remaining <= 0:
                raise StoreUnavailable(
                    f"gave up waiting for the call records database {describe} after "
                    f"{settings.db_wait_s:g} s ({tries} tries): {exc.detail}. Is it running, "
                    "and is VOICEBOT_DATABASE_URL right? (VOICEBOT_DB_WAIT_S sets the wait)"
                ) from exc
            log_event(log, "records.database_unreachable", logging.WARNING, db=describe,
                      tries=tries, retry_in_s=delay, error=exc.detail)
            sleep(min(delay, remaining))  # the last try comes when the wait is up
            delay = min(delay * 2, LONGEST_RETRY_S)


def open_store(settings: Settings, **retry_args: Callable) -> CallStore:
    """The settings' call store, once its database answers (see the module doc)."""
    key = hash_key(settings)
    location = store_location(settings)

    def attempt() -> CallStore:
        return CallStore(location, key, pool_size=settings.db_pool_size,
                         timeout_s=settings.db_timeout_s)

    store = retry(attempt, settings, location_for(location).describe(), **retry_args)
    log_event(log, "records.opened", db=store.describe(), backend=store.backend)
    return store

