"""Roles, tokens and the audit log, through the running service on both backends.

Tokens are made with `voicebot tokens add` against the service's own database (as an
operator would, from another process); calls are written into the records as a call's
driver writes them, so the tests here are about who may read what, not about a call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.service.conftest import API_TOKEN
from voicebot.records.access import AccessStore, ActiveToken
from voicebot.records.transcript import CallTranscript, TurnRecord
from voicebot.service.auth import Authenticator, Principal

ROOT = Path(__file__).resolve().parents[2]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VOICEBOT_", "TWILIO_"))}
    return subprocess.run([sys.executable, "-m", "voicebot", *args],
                          env={**clean, **env, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def db_env(service) -> dict[str, str]:
    """The settings that point a command at the service's records."""
    env = {"VOICEBOT_DB": str(service.settings.db_path)}
    if service.settings.database_url:
        env["VOICEBOT_DATABASE_URL"] = service.settings.database_url
    return env


def get(url: str, token: str | None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        assert err.headers.get_content_type() == "application/json", err.read()[:200]
        return err.code, json.loads(err.read())


def write_call(service, call_sid: str, *, queue: str = "support") -> CallTranscript:
    """A handed-over call, as the driver writes it."""
    transcript = CallTranscript(call_sid=call_sid, flow_name="support", flow_version="1.0",
                                engine="pocketsphinx", outcome="transfer", reason="keyword",
                                queue=queue, summary="Asked for a person at 'main_menu'.",
                                turns=[TurnRecord(node="main_menu", kind="speech",
                                                  heard="agent", confidence=0.9)])
    service.store.save(transcript, from_number="+15550100", ended=True)
    service.store.mark_enqueued(call_sid, queue, summary_if_undecided="")
    assert service.store.flush(5)
    return transcript


@pytest.fixture(scope="module")
def tokens(shared_service) -> dict[str, str]:
    """One token per role, made with the command line on the service's database."""
    env = db_env(shared_service)
    made = {}
    for role in ("agent", "supervisor", "admin"):
        done = cli(env, "tokens", "add", "--role", role, "--name", f"{role}-1")
        assert done.returncode == 0, done.stderr
        made[role] = done.stdout.splitlines()[0]
        assert made[role].startswith("vb_") and "shown this once" in done.stdout
    listed = cli(env, "tokens", "list")
    assert listed.returncode == 0 and "agent-1" in listed.stdout
    assert all(t not in listed.stdout for t in made.values())  # never shown again
    return made


def test_each_role_reads_what_it_may(shared_service, tokens):
    base = shared_service.base_url
    write_call(shared_service, "CAroles1")
    shared_service.store.record_handoff("CAagentleg1", "CAroles1")
    assert shared_service.store.flush(5)

    for role in ("supervisor", "admin"):
        status, body = get(f"{base}/calls/CAroles1", tokens[role])
        assert status == 200 and body["turns"][0]["heard"] == "agent"
        assert get(f"{base}/calls/CAroles1/context", tokens[role])[0] == 200
    assert get(f"{base}/calls/CAroles1", API_TOKEN)[0] == 200  # the bootstrap admin token

    # an agent reads the caller its own call took, and nothing else
    status, body = get(f"{base}/agents/CAagentleg1/context", tokens["agent"])
    assert status == 200 and body["call_sid"] == "CAroles1" and body["reason"] == "keyword"
    for url in (f"{base}/calls/CAroles1", f"{base}/calls/CAroles1/context",
                f"{base}/admin/audit"):
        status, body = get(url, tokens["agent"])
        assert (status, body["status"]) == (403, 403)
        assert "agent" in body["error"]
    assert get(f"{base}/admin/audit", tokens["supervisor"])[0] == 403


def test_no_or_unknown_token_is_401_and_errors_are_json(shared_service, tokens):
    base = shared_service.base_url
    for token in (None, "wrong", tokens["admin"] + "x"):
        status, body = get(f"{base}/calls/CAanything", token)
        assert (status, body["status"]) == (401, 401) and "token" in body["error"]
    status, body = get(f"{base}/calls/CAnosuchcall", tokens["supervisor"])
    assert (status, body["status"]) == (404, 404) and "CAnosuchcall" in body["error"]
    status, body = get(f"{base}/calls/CAx/nosuchpart", tokens["supervisor"])
    assert (status, body["status"]) == (404, 404)
    status, _ = get(f"{base}/agents/CAnobody/context", tokens["agent"])
    assert status == 404


def test_the_queue_head_for_agents(shared_service, tokens):
    base = shared_service.base_url
    write_call(shared_service, "CAqueuehead", queue="billing")
    status, body = get(f"{base}/queues/billing/next", tokens["agent"])
    assert status == 200 and body["call_sid"] == "CAqueuehead" and body["queue"] == "billing"
    assert get(f"{base}/queues/nosuchqueue/next", tokens["agent"])[0] == 404


def test_every_read_is_in_the_audit_log_for_admins(shared_service, tokens):
    base = shared_service.base_url
    write_call(shared_service, "CAaudited")
    assert get(f"{base}/calls/CAaudited", tokens["supervisor"])[0] == 200
    assert get(f"{base}/calls/CAaudited/context", tokens["admin"])[0] == 200
    shared_service.store.flush(5)
    status, body = get(f"{base}/admin/audit?call_sid=CAaudited", tokens["admin"])
    assert status == 200
    seen = [(e["actor"], e["role"], e["action"], e["endpoint"]) for e in body["entries"]]
    assert ("supervisor-1", "supervisor", "read_call", "GET /calls/<call_sid>") in seen
    assert ("admin-1", "admin", "read_context", "GET /calls/<call_sid>/context") in seen
    assert all(e["at"] and e["call_sid"] == "CAaudited" for e in body["entries"])
    assert get(f"{base}/admin/audit?limit=nope", tokens["admin"])[0] == 400


def test_a_revoked_token_stops_working(shared_service, tokens):
    env = db_env(shared_service)
    made = cli(env, "tokens", "add", "--role", "supervisor", "--name", "leaver")
    token = made.stdout.splitlines()[0]
    url = f"{shared_service.base_url}/calls/CAroles1"
    write_call(shared_service, "CAroles1")
    assert get(url, token)[0] == 200
    done = cli(env, "tokens", "revoke", "leaver")
    assert done.returncode == 0 and "revoked the supervisor token 'leaver'" in done.stdout
    shared_service.service.auth.refresh()  # else within TOKEN_CACHE_S
    assert get(url, token)[0] == 401
    again = cli(env, "tokens", "add", "--role", "admin", "--name", "leaver")
    assert again.returncode == 2 and "names are not reused" in again.stderr
    assert "Traceback" not in again.stderr


def test_records_audit_command_prints_the_log(shared_service, tokens):
    write_call(shared_service, "CAcli")
    assert get(f"{shared_service.base_url}/calls/CAcli", tokens["supervisor"])[0] == 200
    shared_service.store.flush(5)
    env = db_env(shared_service)
    done = cli(env, "records", "audit", "--call", "CAcli")
    assert done.returncode == 0, done.stderr
    assert "supervisor-1 (supervisor)  read_call  GET /calls/<call_sid>  call CAcli" in done.stdout


# ------------------------------------------------------------------ the authenticator alone


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_tokens_are_compared_by_hash_and_revocations_reach_every_host(store_backend, tmp_path):
    where = store_backend.new_location(tmp_path)
    one, two = store_backend.store(where), store_backend.store(where)  # two hosts
    try:
        token = AccessStore(one.database).add_token("desk-1", "agent")
        clock = Clock()
        host_two = Authenticator(None, AccessStore(two.database).active_tokens, clock=clock)
        assert host_two.principal_for(token) == Principal("desk-1", "agent")
        assert host_two.principal_for(token[:-1]) is None
        assert host_two.principal_for("") is None
        stored = store_backend.scalar(where, "SELECT token_hash FROM api_tokens")
        assert token not in str(stored) and len(str(stored)) == 64
        AccessStore(one.database).revoke_token("desk-1")
        assert host_two.principal_for(token) is not None  # cached for a few seconds
        clock.now += 6
        assert host_two.principal_for(token) is None
        assert not host_two.still_valid(Principal("desk-1", "agent"))
    finally:
        one.close()
        two.close()


def test_the_bootstrap_token_is_admin_and_an_outage_keeps_the_last_tokens():
    calls = {"n": 0}

    def tokens() -> list[ActiveToken]:
        calls["n"] += 1
        if calls["n"] > 1:
            raise OSError("database down")
        return [ActiveToken("desk-2", "supervisor", __import__("hashlib").sha256(
            b"vb_secret").hexdigest())]

    clock = Clock()
    auth = Authenticator("boot", tokens, clock=clock)
    assert auth.principal_for("boot") == Principal("bootstrap", "admin")
    assert auth.principal_for("vb_secret") == Principal("desk-2", "supervisor")
    clock.now += 60
    assert auth.principal_for("vb_secret") == Principal("desk-2", "supervisor")
    assert auth.still_valid(Principal("bootstrap", "admin"))
