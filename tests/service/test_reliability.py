"""Parts that hang, stay broken or disappear, with the real service and the stand-in: the
caller hears why they are handed over (or gets their planned goodbye), the next call works,
/readyz says what is broken while it is, and the records are not lost.

Short deadlines come from the settings (and engines/renderers made with them), so a test
costs seconds; time is asserted only against generous bounds (the 30 s defaults before).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests import waiting
from tests.backends import StoreBackend
from tests.faults import db_files
from tests.orders_server import OrdersServer, flow_with_http_lookup
from tests.service.conftest import SPEED, dtmf
from voicebot.settings import DEFAULT_FLOW

pytestmark = pytest.mark.slow  # calls in real time against a live service

DEADLINE_S = 2.0
OLD_DEADLINE_S = 30.0  # the decode and render deadlines before this work
ERROR_HANDOVER = "something went wrong on our side"
ONE = ["1_jackson_0"]  # "one" at the main menu: order status
COMPLETE = [dtmf("1"), dtmf("4512"), dtmf("1"), dtmf("9")]  # order status, then goodbye


@pytest.fixture(scope="module")
def store_backend() -> StoreBackend:
    """These faults are of the parts and of SQLite's files: one backend is enough (the
    store's own failure modes are tested on both in tests/records)."""
    return StoreBackend("sqlite")


@pytest.fixture(scope="module")
def fragile_engine():
    """Decoder workers of their own (the tests stop and kill them), with a short deadline."""
    from voicebot.speech.engines import load_engine

    engine = load_engine("pocketsphinx", workers=2, decode_deadline_s=DEADLINE_S)
    yield engine
    engine.close()


@pytest.fixture
def fragile_renderer(tmp_path: Path, flow):
    from voicebot.speech.tts import PromptRenderer

    with PromptRenderer(tmp_path / "tts", voice=flow.voice, rate=flow.rate,
                        render_timeout=DEADLINE_S) as renderer:
        yield renderer


def readyz(service) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(service.base_url + "/readyz", timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_until(condition, limit_s: float = 120.0) -> None:
    waiting.wait_until(condition, limit_s)


def new_number() -> str:
    """An order number no call has used, so its confirmation must be rendered."""
    return str(random.randint(5000, 9999))


def wall_gap_s(result, turn: int) -> float:
    """Seconds (wall clock) from the end of the caller's turn to the bot's next audio."""
    log = result.sim.turn_log[turn]
    end = log.t_last_voiced if log.t_last_voiced is not None else log.t_end
    return (min(t for t in result.sim.prompt_times if t >= end) - end) / SPEED


def assert_error_handover(result) -> None:
    t = result.transcript
    assert (t.outcome, t.reason, t.queue) == ("transfer", "error", "support")
    assert t.prompts[-1].kind == "handover" and ERROR_HANDOVER in t.prompts[-1].text
    assert "<Enqueue" in result.twiml_after


def test_hung_decoders_hand_over_at_the_deadline_and_are_replaced(
        start_service, fragile_engine, say):
    service = start_service(engine_override=fragile_engine)
    hung = fragile_engine.worker_pids
    for pid in hung:
        os.kill(pid, signal.SIGSTOP)
    wait_until(lambda: readyz(service)[0] == 503)
    assert "stopped" in readyz(service)[1]["parts"]["engine"]["detail"]

    result = service.standin().run([say(fsdd=ONE)])
    assert_error_handover(result)
    assert wall_gap_s(result, 0) < OLD_DEADLINE_S
    assert not set(hung) & set(fragile_engine.worker_pids)  # killed and replaced

    wait_until(lambda: readyz(service)[0] == 200)
    after = service.standin().run([say(fsdd=ONE), dtmf("0")])
    assert after.transcript.turns[0].heard == "one"
    assert (after.transcript.outcome, after.transcript.reason) == ("transfer", "dtmf")


def test_decoders_killed_again_and_again_come_back_and_serve(
        start_service, fragile_engine, say):
    service = start_service(engine_override=fragile_engine)
    end = time.monotonic() + 6.0
    saw_not_ready = False
    while time.monotonic() < end:
        for pid in fragile_engine.worker_pids:
            with contextlib.suppress(ProcessLookupError):  # already dead: the pool reaps it
                os.kill(pid, signal.SIGKILL)
        saw_not_ready = saw_not_ready or readyz(service)[0] == 503
        time.sleep(0.2)
    assert saw_not_ready
    wait_until(lambda: readyz(service)[0] == 200)  # one worker back is enough to serve
    wait_until(lambda: fragile_engine.health().alive == 2)  # and the pool fills up again
    after = service.standin().run([say(fsdd=ONE), dtmf("0")])
    assert after.transcript.turns[0].heard == "one"
    assert (after.transcript.outcome, after.transcript.reason) == ("transfer", "dtmf")


def test_a_hung_speech_worker_costs_one_prompt_and_the_caller_hears_why(
        start_service, fragile_renderer):
    service = start_service(renderer_override=fragile_renderer)
    (hung,) = fragile_renderer.worker_pids
    os.kill(hung, signal.SIGSTOP)
    wait_until(lambda: readyz(service)[0] == 503)
    assert not readyz(service)[1]["parts"]["tts"]["ok"]

    # the confirmation of a number never said before must be rendered: it cannot be
    result = service.standin().run([dtmf("1"), dtmf(new_number())])
    assert_error_handover(result)
    assert wall_gap_s(result, 1) < OLD_DEADLINE_S
    assert hung not in fragile_renderer.worker_pids

    wait_until(lambda: readyz(service)[0] == 200)
    after = service.standin().run(COMPLETE)
    assert (after.transcript.outcome, after.transcript.reason) == ("hangup", "completed")


def test_a_removed_prompt_cache_is_made_again_and_every_prompt_plays(
        start_service, fragile_renderer):
    service = start_service(renderer_override=fragile_renderer)
    shutil.rmtree(fragile_renderer.cache_dir)
    result = service.standin().run([dtmf("1"), dtmf(new_number()), dtmf("1"), dtmf("2")])
    t = result.transcript
    assert t.outcome == "transfer" and t.reason != "error"
    assert "order_not_found" in t.path  # the number's own prompts were rendered and played
    assert [p.kind for p in t.prompts][:3] == ["disclosure", "prompt", "prompt"]
    assert result.sim.summary()["bot_audio_s"] > 20
    assert fragile_renderer.cache_dir.is_dir()
    assert readyz(service)[0] == 200


def test_an_unwritable_database_still_ends_the_call_as_planned(
        start_service, tmp_path, immutable):
    db = tmp_path / "calls.sqlite3"
    service = start_service(db)
    immutable(*db_files(db)[:2])  # .db and -wal (with -shm too: the store's pragmas)
    result = service.standin().run(COMPLETE)
    t = result.transcript  # from the service's memory: the database took nothing
    assert (t.outcome, t.reason) == ("hangup", "completed")
    assert t.prompts[-1].kind == "goodbye"
    assert "<Hangup" in result.twiml_after  # not the support queue
    standin = service.standin()
    params = standin.call_params(result.call_sid, "in-progress")
    status, body = standin.post(service.base_url + "/agent/whisper",
                                {**params, "DequeingCallSid": "CA" + "a" * 32})
    assert status == 200 and "<Say" in body
    assert standin.post(service.base_url + "/status",
                        standin.call_params(result.call_sid, "completed"))[0] == 204
    status, body = readyz(service)
    assert status == 503 and not body["parts"]["database"]["ok"]

    immutable.release()
    wait_until(lambda: readyz(service)[0] == 200)
    assert service.store.flush(30)
    row = service.store.call_row(result.call_sid)
    assert (row["outcome"], row["status"]) == ("hangup", "completed")
    assert service.store.caller_for_agent("CA" + "a" * 32) == result.call_sid


def test_records_refused_until_the_stop_are_written_at_the_next_start(
        start_service, tmp_path, immutable):
    db = tmp_path / "calls.sqlite3"
    first = start_service(db)
    immutable(*db_files(db)[:2])
    result = first.standin().run([dtmf("0")])
    first.stop()
    immutable.release()
    second = start_service(db)
    assert second.store.flush(30)
    again = second.standin().fetch_transcript(result.call_sid)
    assert (again.outcome, again.reason) == ("transfer", "dtmf")


def test_database_files_deleted_mid_run_lose_no_record(start_service, tmp_path):
    db = tmp_path / "calls.sqlite3"
    first = start_service(db)
    sids = [first.standin().run([dtmf("0")]).call_sid]
    for path in db_files(db):
        path.unlink(missing_ok=True)
    sids += [first.standin().run([dtmf("0")]).call_sid for _ in range(2)]
    first.stop()
    second = start_service(db)
    kept = [second.standin().fetch_transcript(sid) for sid in sids]
    assert [(t.outcome, t.reason) for t in kept] == [("transfer", "dtmf")] * 3


def test_a_trickling_lookup_fails_at_its_timeout_and_the_caller_is_told(
        start_service, tmp_path):
    orders = OrdersServer()
    orders.trickle_s = 1.0  # the record would take minutes to arrive
    try:
        flow = flow_with_http_lookup(DEFAULT_FLOW, tmp_path / "flow.yaml", orders.url, 1.5)
        service = start_service(env={"VOICEBOT_FLOW": str(flow)})
        result = service.standin().run([dtmf("1"), dtmf("4512"), dtmf("1")])
    finally:
        orders.close()
    t = result.transcript
    assert t.outcome == "transfer" and "lookup_failed" in t.path
    assert "order_not_found" not in t.path  # never a late answer read as "not found"
    assert "can't reach our order system" in t.prompts[-1].text
    assert wall_gap_s(result, 2) < 30
