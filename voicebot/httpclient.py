"""The one way this project makes an HTTP client: a requests Session with urllib3's Retry.

Lookups, model downloads and the Twilio stand-in each say how much to retry (connection
failures; 502/503/504 answers to idempotent requests) and the backoff between tries; the
library does the retrying. Below telephony and flow in the layers, so flow can use it.
"""

from __future__ import annotations

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

RETRY_STATUSES = (502, 503, 504)  # a proxy or server that may answer on the next try


def retrying_session(*, connect: int, status: int = 0, read: int = 0, backoff_s: float = 0.2,
                     user_agent: str | None = None,
                     session: requests.Session | None = None) -> requests.Session:
    """`session` (a new one by default) retrying `connect` times when no connection could be
    made, `read` times when an idempotent request's answer did not come (0: never, a slow
    server already cost its timeout) and `status` times on 502/503/504 to idempotent
    requests, `backoff_s` doubling between tries (none before the first retry). A
    Retry-After header is not obeyed: a caller may be waiting."""
    retry = Retry(total=None, connect=connect, read=read or False, status=status, other=0,
                  status_forcelist=RETRY_STATUSES, backoff_factor=backoff_s,
                  raise_on_status=False, respect_retry_after_header=False)
    session = session or requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if user_agent:
        session.headers["User-Agent"] = user_agent
    return session


def _cause(exc: BaseException) -> BaseException:
    """The urllib3 error under requests' wrappers (MaxRetryError and the like)."""
    inner: BaseException = exc
    for _ in range(4):
        arg = inner.args[0] if inner.args and isinstance(inner.args[0], BaseException) else None
        nested = getattr(arg or inner, "reason", None)
        if isinstance(nested, BaseException):
            inner = nested
        elif arg is not None:
            inner = arg
        else:
            break
    return inner


def is_timeout(exc: BaseException) -> bool:
    """Did the request fail because the server was too slow (connect or read timeout)?"""
    cause = _cause(exc)
    if isinstance(cause, urllib3.exceptions.NewConnectionError):  # a ConnectTimeoutError
        return False  # subclass in urllib3 2, but a refused or unresolvable connection
    return isinstance(exc, requests.Timeout | TimeoutError) or isinstance(
        cause, urllib3.exceptions.TimeoutError | TimeoutError)


def reason(exc: BaseException) -> str:
    """What went wrong, in one short line without the URL (it may hold a looked-up value)."""
    text = str(_cause(exc)) or type(exc).__name__
    if "Failed to establish a new connection: " in text:
        text = text.split("Failed to establish a new connection: ", 1)[1]
    return text.splitlines()[0][:200]
