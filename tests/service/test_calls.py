"""Whole calls through the real service: webhook, real WebSocket, pocketsphinx, the call
records (each test on SQLite and on PostgreSQL).

The stand-in plays Twilio; caller speech is real recordings (FSDD digits) or espeak-ng
phrases for words no recording has ("agent", "yes").
"""

from __future__ import annotations

import base64
import json
import logging

import pytest

from tests.engines import FaultInjectionEngine
from tests.service.conftest import API_TOKEN, AUTH_TOKEN, dtmf
from voicebot.flow.matching import normalize
from voicebot.records.hashing import hash_number

pytestmark = pytest.mark.slow  # calls in real time against a live service


def _first_prompt_is_disclosure(result, flow) -> None:
    prompts = result.transcript.prompts
    assert prompts, "the bot said nothing"
    assert prompts[0].kind == "disclosure"
    assert normalize(prompts[0].text) == normalize(flow.disclosure)


@pytest.mark.parametrize("phrase", ["agent", "operator"])
def test_escape_phrase_in_first_menu_transfers_with_keyword(shared_service, say, flow, phrase):
    result = shared_service.standin().run([say(phrase)])
    _first_prompt_is_disclosure(result, flow)
    t = result.transcript
    assert (t.outcome, t.reason, t.queue) == ("transfer", "keyword", "support")
    assert t.turns[0].node == "main_menu"
    assert t.prompts[-1].kind == "handover"
    assert "<Enqueue" in result.twiml_after and ">support</Enqueue>" in result.twiml_after
    assert "/queue/wait" in result.twiml_after


def test_zero_key_transfers_with_dtmf(shared_service, flow):
    result = shared_service.standin().run([dtmf("0")])
    _first_prompt_is_disclosure(result, flow)
    t = result.transcript
    assert (t.outcome, t.reason) == ("transfer", "dtmf")
    assert t.turns[0].kind == "dtmf" and t.turns[0].heard == "0"


def test_two_unintelligible_answers_transfer(shared_service, say):
    # real recordings of words the main menu does not offer ("seven", "eight")
    mumble = [say(fsdd=["7_theo_1"]), say(fsdd=["8_nicolas_1"])]
    result = shared_service.standin().run(mumble)
    t = result.transcript
    assert t.outcome == "transfer"
    assert t.reason in ("low_confidence", "no_match")
    assert len([r for r in t.turns if r.kind == "speech"]) == 2


def test_silence_transfers_after_no_input_retries(shared_service, flow):
    result = shared_service.standin(speed=4.0).run([])
    t = result.transcript
    assert (t.outcome, t.reason) == ("transfer", "no_input")
    no_inputs = [r for r in t.turns if r.kind == "no_input"]
    assert len(no_inputs) >= flow.policy.max_no_input
    assert result.sim.summary()["turns_performed"] == 0


def test_order_status_completes_and_hangs_up(shared_service, say):
    turns = [
        say("order status"),
        dtmf("4512"),  # the order number, keyed
        dtmf("1"),  # "yes, that's right"
        dtmf("9"),  # "nothing else" on the anything-else menu
    ]
    result = shared_service.standin().run(turns)
    t = result.transcript
    assert (t.outcome, t.reason) == ("hangup", "completed"), t.path
    assert "order_status" in t.path
    assert any("4512" in p.text or "shipped" in p.text for p in t.prompts)
    assert t.prompts[-1].kind == "goodbye"
    assert "<Hangup" in result.twiml_after


def test_engine_exception_still_ends_in_a_transfer(start_service, engine, say):
    service = start_service(engine_override=FaultInjectionEngine(engine))
    result = service.standin().run([say("order status")])
    t = result.transcript
    assert (t.outcome, t.reason) == ("transfer", "error")
    assert t.queue == "support"
    assert "<Enqueue" in result.twiml_after


def test_operator_fallback_queue_takes_every_fault_and_is_named_to_the_caller(
        start_service, engine, say):
    service = start_service(engine_override=FaultInjectionEngine(engine),
                            env={"VOICEBOT_FALLBACK_QUEUE": "billing"})
    result = service.standin().run([say("order status")])
    t = result.transcript
    assert (t.outcome, t.reason, t.queue) == ("transfer", "error", "billing")
    handover = [p for p in t.prompts if p.kind == "handover"]
    assert handover and "billing specialist" in handover[-1].text
    assert ">billing</Enqueue>" in result.twiml_after


def test_malformed_stream_messages_are_skipped(shared_service, say, caplog):
    sid = "MZ" + "0" * 32
    odd = base64.b64encode(b"\xff" * 159).decode()
    garbage = [
        (-1.0, json.dumps({"event": "media", "streamSid": sid,
                           "media": {"payload": base64.b64encode(b"\xff" * 160).decode()}})),
        (0.1, "{not json"),
        (0.2, json.dumps({"event": "teleport", "streamSid": sid})),
        (0.3, json.dumps({"event": "media", "media": {"payload": "%%%not-base64%%%"}})),
        (0.4, json.dumps({"event": "media", "media": {"payload": odd, "timestamp": "400"}})),
        (0.5, "[1, 2, 3]"),
    ]
    with caplog.at_level(logging.WARNING, logger="voicebot"):
        result = shared_service.standin().run([say("operator")], inject=garbage)
    t = result.transcript
    assert (t.outcome, t.reason) == ("transfer", "keyword")
    skipped = [r for r in caplog.records if r.getMessage() == "stream.bad_message"
               and getattr(r, "call_sid", None) in (result.call_sid, "")]
    assert len(skipped) >= 5


def test_records_survive_a_restart(start_service, store_backend, tmp_path, say):
    where = store_backend.new_location(tmp_path)
    first = start_service(where)
    result = first.standin(from_number="+15550100777").run([dtmf("0")])
    key = first.store.store._key
    first.stop()

    second = start_service(where)
    again = second.standin().fetch_transcript(result.call_sid)
    assert (again.outcome, again.reason) == ("transfer", "dtmf")
    assert again.prompts[0].kind == "disclosure"
    row = second.store.call_row(result.call_sid)
    assert row["caller_hash"] == hash_number(key, "+15550100777")
    assert row["status"] == "completed" and row["ended"]
    assert b"5550100777" not in store_backend.raw_bytes(where)
    # the agent desktop's view of the same call
    import urllib.request

    req = urllib.request.Request(f"{second.base_url}/calls/{result.call_sid}/context",
                                 headers={"Authorization": f"Bearer {API_TOKEN}"})
    with urllib.request.urlopen(req) as resp:
        context = json.loads(resp.read())
    assert context["reason"] == "dtmf" and context["queue"] == "support"


def test_barge_in_on_the_menu_clears_the_prompt(shared_service, say):
    result = shared_service.standin().run([say("operator", barge_in=True)])
    t = result.transcript
    assert (t.outcome, t.reason) == ("transfer", "keyword")
    assert t.turns[0].during_prompt
    assert result.sim.clears >= 1
    assert any(p.barged_in for p in t.prompts)


def test_voicebot_call_cli_runs_turns_in_command_line_order(shared_service, capsys):
    from voicebot.cli import main

    code = main(["call", shared_service.webhook_url, "--auth-token", AUTH_TOKEN,
                 "--token", API_TOKEN, "--speed", "4", "--dtmf", "1", "--dtmf", "0", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (out["outcome"], out["reason"], out["queue"]) == ("transfer", "dtmf", "support")
    assert [(t["node"], t["heard"]) for t in out["turns"]] == [("main_menu", "1"),
                                                               ("ask_order_number", "0")]
    assert "<Enqueue" in out["twiml_after"]


def test_voicebot_call_runs_a_scenario_with_the_replay_report(shared_service, speech,
                                                              tmp_path, capsys):
    from voicebot.cli import main

    wav = speech("operator", voice="en-us", speed=150, pad_s=0.3)
    scenario = tmp_path / "operator.yaml"
    # The recording lives outside the scenario's folder, found through --audio-dir.
    scenario.write_text(f"name: operator live\nturns:\n  - say: {wav.name}\nexpect:\n"
                        "  outcome: transfer\n  reason: keyword\n  queue: support\n")
    code = main(["call", shared_service.webhook_url, "--auth-token", AUTH_TOKEN,
                 "--token", API_TOKEN, "--speed", "4", "--scenario", str(scenario),
                 "--audio-dir", str(wav.parent), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out["checks"]
    assert out["mode"] == "live" and out["passed"]
    assert (out["outcome"], out["reason"]) == ("transfer", "keyword")
