"""A person using the console over HTTP (requests, a cookie jar): what the console tests and
the browser tests share to set up tokens and calls in the running service's records."""

from __future__ import annotations

import re
from typing import Any

import requests

from voicebot.records.access import AccessStore
from voicebot.records.transcript import CallTranscript, TurnRecord

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class ConsoleUser:
    """A session with the console of `base_url`."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.http = requests.Session()

    def csrf(self, path: str = "/console/login") -> str:
        match = CSRF.search(self.http.get(self.base + path).text)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def log_in(self, token: str) -> requests.Response:
        return self.http.post(self.base + "/console/login", allow_redirects=False,
                              data={"csrf_token": self.csrf(), "token": token})

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(self.base + path, allow_redirects=False, **kwargs)

    def post(self, path: str, data: dict[str, str], **kwargs: Any) -> requests.Response:
        return self.http.post(self.base + path, data=data, allow_redirects=False, **kwargs)


def make_token(service: Any, role: str, name: str) -> str:
    """A token of `role`, made in the service's own database (as `voicebot tokens add`)."""
    token = AccessStore(service.store.store.database).add_token(name, role)
    service.service.auth.refresh()
    return token


def write_call(service: Any, call_sid: str, *, heard: str = "agent",
               summary: str = "Asked for a person at 'main_menu'.", queue: str = "support",
               slots: dict[str, Any] | None = None, waiting: bool = True) -> CallTranscript:
    """A handed-over call as the driver writes it; in the queue unless `waiting` is off."""
    transcript = CallTranscript(
        call_sid=call_sid, flow_name="support", flow_version="1.0", engine="pocketsphinx",
        outcome="transfer", reason="keyword", queue=queue, summary=summary,
        path=["main_menu"],
        context={"intent": "order_status", "slots": slots or {},
                 "turns": [{"kind": "speech", "heard": heard}]},
        turns=[TurnRecord(node="main_menu", kind="speech", heard=heard, confidence=0.41,
                          t_start=1.0, t_end=2.0, t_reply=2.3, result="escape")])
    service.store.save(transcript, from_number="+15550100", ended=True)
    service.store.mark_enqueued(call_sid, queue, summary_if_undecided="")
    if not waiting:
        service.store.close_call(call_sid, "completed")
    assert service.store.flush(5)
    return transcript
