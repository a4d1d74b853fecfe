"""Verdicts and reports: a failing expectation shows what was expected and what happened,
in the timeline, in JSON and in the JUnit XML a CI system reads."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from voicebot.records.transcript import CallTranscript, PromptRecord, TurnRecord
from voicebot.replay.caller import CallerSimulator, CallerTurn
from voicebot.replay.report import junit_xml, summary_line, timeline
from voicebot.replay.result import evaluate
from voicebot.replay.scenario import Expect, Scenario
from voicebot.replay.verdict import check
from voicebot.telephony import media_stream as ms


def transcript() -> CallTranscript:
    return CallTranscript(
        call_sid="CA1", flow_name="support", flow_version="abc123", engine="pocketsphinx",
        prompts=[
            PromptRecord("You are talking to an automated assistant.", "start", "disclosure",
                         0.0, 3.0),
            PromptRecord("Say order status, billing, or agent.", "main_menu", "prompt",
                         0.0, None, barged_in=True),
            PromptRecord("Connecting you to a person.", "handover", "handover", 4.9, 7.0),
        ],
        turns=[TurnRecord("main_menu", "speech", "Agent!", 0.91, True, "agent", 3.6, 4.4,
                          4.9, during_prompt=True)],
        path=["start", "main_menu", "handover"],
        outcome="transfer", reason="keyword", queue="support",
    )


def caller_that_spoke() -> CallerSimulator:
    """A simulator that really performed one say turn (voiced) and heard the bot answer."""
    sim = CallerSimulator([CallerTurn("say", audio=b"\x40\x1f" * 4000, label="agent.wav")],
                          stream_sid="MZ1")
    sim.opening()
    sim.on_message(ms.media_message("MZ1", b"\x7f" * 800), 0.0)
    sim.on_message(ms.mark_message("MZ1", "p1"), 0.0)
    t = 0.0
    while not sim.turn_log or sim.turn_log[0].t_end is None:
        t = round(t + 0.02, 2)
        sim.poll(t)
    sim.on_message(ms.media_message("MZ1", b"\x7f" * 800), t + 0.7)
    return sim


def scenario(expect: Expect) -> Scenario:
    return Scenario(path=Path("tests/scenarios/x.yaml"), name="transfer by keyword",
                    turns=(CallerTurn("say", audio=b"\0\0", label="agent.wav"),), expect=expect)


def test_all_expectations_hold():
    expect = Expect(outcome="transfer", reason="keyword", queue="support",
                    path=("start", "main_menu"), heard=("agent",), max_turn_gap_ms=800)
    checks = check(expect, transcript(), caller_that_spoke())
    assert [c.name for c in checks] == ["outcome", "reason", "queue", "path",
                                        "heard (spoken turn 1)", "max turn gap"]
    assert all(c.ok for c in checks), checks


def test_heard_is_compared_after_the_shared_normaliser():
    # Digits written either way, punctuation and curly apostrophes do not make a difference.
    tr = transcript()
    tr.turns = [TurnRecord("ask_order_number", "speech", "one two three four five six", 0.8),
                TurnRecord("confirm", "speech", "thats right", 0.9)]
    checks = check(Expect(heard=("123456", "That’s right.")), tr)
    assert [c.ok for c in checks if c.name.startswith("heard")] == [True, True], checks
    checks = check(Expect(heard=("123457", "that's wrong")), tr)
    assert [c.ok for c in checks if c.name.startswith("heard")] == [False, False], checks


def test_failures_say_expected_and_actual():
    expect = Expect(outcome="hangup", reason="completed", queue="billing",
                    path=("start", "main_menu", "handover"), path_exact=False,
                    heard=("order status", "yes"), max_turn_gap_ms=300)
    checks = {c.name: c for c in check(expect, transcript(), caller_that_spoke())}
    assert (checks["outcome"].expected, checks["outcome"].actual) == ("hangup", "transfer")
    assert checks["reason"].actual == "keyword"
    assert checks["queue"].actual == "support"
    assert checks["path"].ok  # a prefix (here the whole path) matches
    heard = checks["heard (spoken turn 1)"]
    assert not heard.ok and heard.expected == "'order status'"
    assert heard.actual.startswith("'agent'") and "0.91" in heard.actual
    assert checks["heard (spoken turn 2)"].actual == "no speech turn recorded"
    gap = checks["max turn gap"]
    assert not gap.ok and gap.expected == "≤ 300 ms" and gap.actual.startswith("700 ms")
    assert checks["outcome"].line() == "✗ outcome: expected hangup, got transfer"


def test_exact_path_and_prefix():
    exact = check(Expect(path=("start", "main_menu"), path_exact=True), transcript())
    assert not exact[0].ok
    assert exact[0].expected == "exactly [start, main_menu]"
    assert exact[0].actual == "[start, main_menu, handover]"
    wrong = check(Expect(path=("start", "billing")), transcript())[0]
    assert not wrong.ok and wrong.expected == "starts with [start, billing]"


def test_a_call_that_never_ended_and_turns_never_performed_fail():
    sim = CallerSimulator([CallerTurn("dtmf", digits="1"), CallerTurn("silence", seconds=5)],
                          max_call_s=1.0)
    sim.opening()
    sim.poll(1.0)
    unfinished = CallTranscript(call_sid="CA2", path=["start"])
    checks = {c.name: c for c in check(Expect(), unfinished, sim)}
    assert not checks["call ended"].ok
    assert checks["call ended"].actual == "still going when the caller gave up"
    assert checks["caller turns"].actual == "the call ended before turn(s) [1]"


def test_timeline_json_and_junit_show_the_failure():
    sim = caller_that_spoke()
    expect = Expect(outcome="hangup", path=("start", "main_menu"))
    result = evaluate(scenario(expect), transcript(), sim, mode="offline", call_s=7.0,
                      wall_s=0.2)
    assert not result.passed
    text = timeline(result)
    assert text.startswith("FAIL  transfer by keyword")
    assert '[prompt] main_menu: "Say order status, billing, or agent." (barged in)' in text
    assert 'heard   main_menu: speech "Agent!" confidence 0.91 -> agent over a prompt' in text
    assert "caller  agent.wav" in text
    assert "node    -> main_menu" in text
    assert "outcome transfer (reason keyword, queue support)" in text
    assert "✗ outcome: expected hangup, got transfer" in text
    assert "✓ path: expected starts with [start, main_menu], got [start, main_menu, handover]" \
        in text
    assert "35× real time" in text

    data = result.to_dict()
    assert data["passed"] is False and data["outcome"] == "transfer"
    assert {"name": "outcome", "ok": False, "expected": "hangup", "actual": "transfer"} \
        in data["checks"]

    passing = evaluate(scenario(Expect(outcome="transfer")), transcript(), sim,
                       mode="offline", call_s=7.0, wall_s=0.1)
    root = ET.fromstring(junit_xml([result, passing]))
    suite = root.find("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = suite.findall("testcase")
    failure = cases[0].find("failure")
    assert failure.get("message") == "outcome: expected hangup, got transfer"
    assert "✗ outcome" in failure.text
    assert cases[1].find("failure") is None
    assert summary_line([result, passing]).startswith("1/2 scenarios passed")
