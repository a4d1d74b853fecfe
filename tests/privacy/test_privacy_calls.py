"""Callers' data through the real service, on both backends: calls placed with the Twilio
stand-in say a card number, a phone number and an e-mail address in free speech (espeak-ng
speech, heard by the cascade engine: Whisper, which takes free speech) and key them into
slots; then nothing of it is in clear in the database file, its WAL, the spool or the
logs, each slot is kept as the flow says, the agent still hears what they need, an agent
token reads nothing else, export and forget answer for one caller only, and an expired
call is purged by the service's own schedule.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.service.conftest import AUTH_TOKEN, SPEED, RunningService, dtmf
from voicebot.logs import JsonFormatter
from voicebot.records.access import AccessStore
from voicebot.records.database import now_iso
from voicebot.replay.caller import CallerTurn
from voicebot.replay.standin import StandinResult, TwilioStandin
from voicebot.speech.audio import load_phone_audio

FLOW = Path(__file__).with_name("privacy_flow.yaml")
ALICE, BOB = "+15557654321", "+15557654399"  # the callers' own numbers
CARD, BOB_CARD = "4111111111111111", "5555555555554444"  # test cards (Luhn-valid)
PHONE, BOB_PHONE = "5550100123", "5550199888"
# What the callers say, as espeak-ng reads it (Whisper tiny hears these renderings' numbers;
# e-mail addresses it mostly mishears, and what it writes for them must not be kept either).
ALICE_SAYS = "My card number is 4111 1111 1111 1111, call me on 555 010 0123."
ALICE_AGAIN = "My email is john at example dot com."
BOB_SAYS = "My card is 5555 5555 5555 4444 and my email is jane at example dot org."
# (at least 7 characters each: sealed values are random base64, which holds any short
# string now and then)
SECRETS = [CARD, "4111 1111", "4 1 1 1 1", "one one one one", BOB_CARD, "5555 5555",
           "five five five five", PHONE, "555 010 0123", "555-010-0123", "5 5 5 0 1",
           "five five five zero", "zero one two three", BOB_PHONE, "john at", "jane at",
           "example dot com", "example.com", "example com", "example dot org", "example.org",
           ALICE, ALICE[1:], BOB, BOB[1:]]


@dataclass
class Placed:
    service: RunningService
    calls: dict[str, StandinResult]
    logs: list[str]
    spool: bytes = b""
    tokens: dict[str, str] = field(default_factory=dict)


class LogCapture(logging.Handler):
    """Every log record of the service, as the JSON lines it would write."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="session")
def cascade(tmp_path_factory):
    from voicebot.speech.engines import load_engine

    engine = load_engine("cascade", model_dir=tmp_path_factory.mktemp("no-models"),
                         whisper_model="", whisper_threads=1)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def privacy_renderer(tmp_path_factory):
    from voicebot.speech.tts import PromptRenderer

    return PromptRenderer(tmp_path_factory.mktemp("tts-privacy"), voice="en-us")


def speech_turn(speech, text: str) -> CallerTurn:
    """espeak-ng speech (no recording says these sentences)."""
    audio = load_phone_audio(speech(text, voice="en-us", speed=150, pad_s=0.4))
    return CallerTurn("say", audio=audio, label=text[:30])


def the_call(speech, says: str, card: str, phone: str, order: str) -> list[CallerTurn]:
    return [speech_turn(speech, says), dtmf(card + "#"), dtmf("1"), dtmf(phone + "#"),
            dtmf(order), dtmf("1")]


def call(service: RunningService, number: str, turns: list[CallerTurn]) -> StandinResult:
    standin = TwilioStandin(service.webhook_url, auth_token=AUTH_TOKEN,
                            api_token="test-api-token", from_number=number, speed=SPEED,
                            post_status=False)  # the callers wait in the queue
    result = standin.run(turns)
    assert result.transcript is not None and result.transcript.outcome == "transfer", result
    return result


@pytest.fixture(scope="module")
def placed(tmp_path_factory, store_backend, cascade, privacy_renderer, speech,
           ) -> Iterator[Placed]:
    where = store_backend.new_location(tmp_path_factory.mktemp("privacy-db"))
    spool_dir = tmp_path_factory.mktemp("privacy-spool")
    capture = LogCapture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    service = RunningService(store_backend.env(where), engine=cascade,
                             renderer=privacy_renderer,
                             env={"VOICEBOT_FLOW": str(FLOW),
                                  "VOICEBOT_RECORDS_SPOOL": str(spool_dir),
                                  "VOICEBOT_PURGE_EVERY_S": "0"})
    try:
        calls = {"alice": call(service, ALICE, the_call(speech, ALICE_SAYS, CARD, PHONE,
                                                        "4512")),
                 "bob": call(service, BOB, the_call(speech, BOB_SAYS, BOB_CARD, BOB_PHONE,
                                                    "1234"))}
        spool = b""
        if store_backend.name == "sqlite":  # a call while the database refuses writes
            from tests.faults import Immutable, db_files

            files = Immutable()
            files(*db_files(Path(where)))
            try:
                calls["alice_again"] = call(service, ALICE, the_call(
                    speech, ALICE_AGAIN, CARD, PHONE, "4512"))
                deadline = time.monotonic() + 20
                while not spool and time.monotonic() < deadline:
                    spool = b"".join(p.read_bytes() for p in spool_dir.glob("records-*"))
                    time.sleep(0.2)
            finally:
                files.release()
        assert service.store.flush(30)
        yield Placed(service, calls, capture.lines, spool)
    finally:
        root.removeHandler(capture)
        root.setLevel(level)
        service.stop()


def api(service: RunningService, path: str, token: str, body: dict | None = None
        ) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(service.base_url + path, data=data, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def token(placed: Placed, role: str) -> str:
    if role not in placed.tokens:
        access = AccessStore(placed.service.store.store.database)
        placed.tokens[role] = access.add_token(f"{role}-privacy", role)
        placed.service.service.auth.refresh()
    return placed.tokens[role]


def found(data: bytes | str, secrets: list[str]) -> list[str]:
    """The secrets in `data` as said or as recognisers write them (lower case)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return [s for s in secrets if s in text or s.lower() in text]


# ------------------------------------------------------------------ the tests


def test_nothing_said_is_in_clear_in_the_database_the_wal_the_spool_or_the_logs(
        placed, store_backend):
    raw = store_backend.raw_bytes(placed.service.settings.database_url
                                  or str(placed.service.settings.db_path))
    assert found(raw, SECRETS) == []
    assert found("\n".join(placed.logs), SECRETS) == []
    if store_backend.name == "sqlite":
        assert placed.spool.startswith(b"enc1:") and found(placed.spool, SECRETS) == []
    # what the callers said did reach the records, reduced: the redactor saw it
    status, alice = api(placed.service, f"/calls/{placed.calls['alice'].call_sid}",
                        token(placed, "supervisor"))
    assert status == 200
    heard = alice["turns"][0]["heard"]
    assert heard.startswith("my card number is [") and "[phone]" in heard, heard


def test_the_logs_of_the_calls_name_them_and_hold_nothing_they_said(placed):
    logs = "\n".join(placed.logs)
    for result in placed.calls.values():  # the capture saw every call, turn by turn
        assert f'"call_sid": "{result.call_sid}"' in logs
    assert logs.count('"event": "call.turn"') >= 6, logs[:2000]
    status, alice = api(placed.service, f"/calls/{placed.calls['alice'].call_sid}",
                        token(placed, "supervisor"))
    assert status == 200
    # what was recognised, even reduced, and every slot's value (as said and as kept)
    kept = [t["heard"] for t in alice["turns"]] + list(alice["context"]["slots"].values())
    values = [v for v in kept + ["4512", CARD, PHONE, "1234"] if isinstance(v, str)
              and len(v) >= 4]  # (a keyed "1" for yes: any count in a log is "1")
    assert [v for v in values if f'"{v}"' in logs or f" {v} " in logs] == []
    assert found(logs, SECRETS + ["my card number", "my email", "jane at example"]) == []


def test_each_slot_is_kept_as_the_flow_says(placed):
    status, alice = api(placed.service, f"/calls/{placed.calls['alice'].call_sid}",
                        token(placed, "supervisor"))
    assert status == 200
    slots = alice["context"]["slots"]
    assert slots["card"] == "****1111"  # store: masked keeps exactly the last 4 digits
    assert [c for c in slots["card"] if c.isdigit()] == list(CARD[-4:])
    assert slots["phone"].startswith("[hash:")  # store: hashed
    assert slots["order_number"] == "4512"  # store: clear
    card_turns = [t["heard"] for t in alice["turns"] if t["node"] == "ask_card"]
    assert card_turns[0] == "****1111"
    assert "I heard ****1111. Is that right?" in [p["text"] for p in alice["prompts"]]
    assert "Card ****1111" in alice["summary"] and "order 4512" in alice["summary"]


def test_the_agent_still_hears_what_they_need(placed):
    service = placed.service
    standin = TwilioStandin(service.webhook_url, auth_token=AUTH_TOKEN, api_token=None)
    status, body = standin.post(service.base_url + "/agent?queue=support",
                                standin.call_params("CAagentleg", "in-progress"))
    assert status == 200
    assert "order 4512" in body and "ending 1 1 1 1" in body
    assert CARD not in body and PHONE not in body


def test_an_agent_token_reads_only_its_own_caller_and_exports_nothing(placed):
    service = placed.service
    agent = token(placed, "agent")
    alice, bob = placed.calls["alice"].call_sid, placed.calls["bob"].call_sid
    service.store.record_handoff("CAagentleg", alice)
    service.store.flush(5)
    status, body = api(service, "/agents/CAagentleg/context", agent)
    assert status == 200 and body["call_sid"] == alice
    for path in (f"/calls/{bob}", f"/calls/{bob}/context", f"/calls/{alice}"):
        assert api(service, path, agent)[0] == 403
    for path in ("/admin/export", "/admin/forget", "/admin/purge"):
        status, body = api(service, path, agent, {"caller": BOB})
        assert (status, body["status"]) == (403, 403)


def test_export_returns_all_of_one_callers_calls_and_nothing_of_anothers(placed):
    status, document = api(placed.service, "/admin/export", token(placed, "admin"),
                           {"caller": ALICE})
    assert status == 200
    sids = [c["call_sid"] for c in document["calls"]]
    expected = [placed.calls[k].call_sid for k in ("alice", "alice_again") if k in placed.calls]
    assert sids == expected
    text = json.dumps(document)
    assert placed.calls["bob"].call_sid not in text and "jane" not in text.lower()
    assert document["calls"][0]["context"]["slots"]["card"] == "****1111"
    assert api(placed.service, "/admin/export", token(placed, "admin"),
               {"caller": "nobody"})[0] == 400


def test_an_expired_call_is_purged_by_the_service(placed):
    service = placed.service
    bob = placed.calls["bob"].call_sid
    with service.store.store.database.transaction("age a call") as conn:
        conn.execute(sa.text("UPDATE calls SET started = :t WHERE call_sid = :sid"),
                     {"t": now_iso(time.time() - 400 * 86400), "sid": bob})
    status, body = api(service, "/admin/purge", token(placed, "admin"), {"dry_run": "false"})
    assert (status, body["status"]) == (400, 400) and "dry_run" in body["error"], body
    status, dry = api(service, "/admin/purge", token(placed, "admin"), {"dry_run": True})
    assert status == 200 and dry["calls"] == 1 and dry["removed"][0].startswith(
        "would remove 1 calls")
    done = service.app.extensions["voicebot_housekeeper"].run_once()
    assert done is not None and done.calls == 1
    assert api(service, f"/calls/{bob}", token(placed, "supervisor"))[0] == 404
    status, log = api(service, "/admin/audit", token(placed, "admin"))
    purges = [e for e in log["entries"] if e["action"] == "purge"]
    assert purges and purges[0]["endpoint"] == "scheduled purge"
    assert "calls=1" in purges[0]["detail"]


def test_forget_erases_one_caller_and_the_audit_keeps_no_personal_data(placed,
                                                                       store_backend):
    service = placed.service
    alice = placed.calls["alice"].call_sid
    hashed = service.store.store.caller_hash(ALICE)
    status, body = api(service, "/admin/forget", token(placed, "admin"), {"caller": ALICE})
    assert status == 200 and body["calls"] == (2 if "alice_again" in placed.calls else 1)
    assert api(service, f"/calls/{alice}", token(placed, "supervisor"))[0] == 404
    service.store.flush(5)
    status, log = api(service, "/admin/audit", token(placed, "admin"))
    entries = json.dumps(log["entries"])
    assert ALICE not in entries and hashed not in entries and alice not in entries
    forget = next(e for e in log["entries"] if e["action"] == "forget")
    assert forget["actor"] == "admin-privacy" and body["request"] in forget["detail"]
    location = service.settings.database_url or str(service.settings.db_path)
    raw = store_backend.raw_bytes(location)
    if store_backend.name == "postgresql":  # its WAL keeps old rows until recycled
        raw = b"".join(p.read_bytes() for p in store_backend.cluster.files_of(location)
                       if "pg_wal" not in p.parts)
    assert hashed.encode() not in raw and alice.encode() not in raw
