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
from voicebot.records import migrate
from voicebot.records.crypto import DataCipher, DataKeyError, new_key, parse_keys
from voicebot.records.database import Database, location_for
from voicebot.records.errors import StoreUnavailable
from voicebot.records.hashing import key_file, load_hash_key
from voicebot.records.store import CallStore
from voicebot.settings import Settings

log = logging.getLogger("voicebot.records")
FIRST_RETRY_S = 0.5
LONGEST_RETRY_S = 5.0
DATA_KEY_FILE = "data.key"
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


def data_cipher(settings: Settings) -> DataCipher:
    """The keys that seal what callers said (VOICEBOT_DATA_KEY). Without one, only a
    development run (VOICEBOT_INSECURE_DEV_DATA=1) goes on, with a key generated into
    data.key beside the SQLite file: the key then lies beside the data it protects."""
    if settings.data_key:
        return DataCipher(parse_keys(settings.data_key))
    if not settings.insecure_dev_data:
        raise DataKeyError(
            "VOICEBOT_DATA_KEY is not set: what callers say is kept encrypted with it. Make "
            "one with `voicebot records new-key`, keep it in your secret store and give "
            "every host the same one; for a local development run set "
            "VOICEBOT_INSECURE_DEV_DATA=1 (a key is then kept beside the database)")
    path = settings.db_path.parent / DATA_KEY_FILE
    key = key_file(path, new_key, "VOICEBOT_DATA_KEY", "development data key")
    log_event(log, "records.insecure_dev_data", logging.WARNING, key_file=str(path),
              detail="the data key is kept beside the records: development only")
    return DataCipher(parse_keys(key, str(path)))


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


def open_database(settings: Settings, **retry_args: Callable) -> Database:
    """The settings' database at this code's schema (a SQLite file is upgraded), once it
    answers: for commands that need tokens or the audit log but not the calls' contents."""
    location = location_for(store_location(settings))

    def attempt() -> Database:
        db = Database(location, pool_size=1, timeout_s=settings.db_timeout_s)
        try:
            migrate.ready(db, upgrade_it=location.backend == "sqlite")
        except BaseException:
            db.close()
            raise
        return db

    return retry(attempt, settings, location.describe(), **retry_args)


def open_store(settings: Settings, cipher: DataCipher | None = None,
               **retry_args: Callable) -> CallStore:
    """The settings' call store, once its database answers (see the module doc), with the
    settings' data keys (or `cipher`)."""
    key = hash_key(settings)
    cipher = cipher or data_cipher(settings)
    location = store_location(settings)

    def attempt() -> CallStore:
        return CallStore(location, key, cipher=cipher, pool_size=settings.db_pool_size,
                         timeout_s=settings.db_timeout_s)

    store = retry(attempt, settings, location_for(location).describe(), **retry_args)
    log_event(log, "records.opened", db=store.describe(), backend=store.backend)
    return store

