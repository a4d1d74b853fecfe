"""A call runs the variant the webhook gave it (a stream parameter; `variant:` in a
scenario offline), and its record carries the variant, the survey's answer and what the flow
made of each turn; an exported call names its variant, so its replay runs the same one."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from voicebot.cli import main
from voicebot.records.store import CallStore
from voicebot.replay.offline import ReplayEnv
from voicebot.replay.scenario import ScenarioError, load_scenario
from voicebot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
AB = ROOT / "call_flows" / "examples" / "support-ab.yaml"


def scenario(tmp_path: Path, name: str, body: dict) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"flow": str(AB), **body}, sort_keys=False))
    return path


def test_variant_b_is_run_recorded_and_exported(tmp_path, replay_engine, tts_cache):
    db = tmp_path / "calls.sqlite3"
    store = CallStore(db, "k")
    billing_first = scenario(tmp_path, "b", {
        "variant": "B", "turns": [{"dtmf": "2"}],
        "expect": {"outcome": "transfer", "queue": "billing",
                   "said": ["Say billing or press 2. Say order status or press 1."]}})
    rated = scenario(tmp_path, "rated", {
        "variant": "A", "turns": [{"dtmf": d} for d in ("1", "4512", "1", "9", "4")],
        "expect": {"outcome": "hangup", "reason": "completed",
                   "path": ["main_menu", "ask_order_number", "find_order", "order_status",
                            "anything_else", "rate_call", "goodbye"]}})
    with ReplayEnv(engine=replay_engine, tts_cache=tts_cache, settings=Settings(),
                   recorder=store) as env:
        b = env.run(load_scenario(billing_first))
        a = env.run(load_scenario(rated))
    assert b.passed and a.passed, [c.line() for c in b.checks + a.checks]
    kept_b, kept_a = store.get(b.transcript.call_sid), store.get(a.transcript.call_sid)
    store.close()
    assert kept_b.flow_variant == "B" and kept_b.turns[0].result == "matched"
    assert kept_a.flow_variant == "A" and kept_a.csat == 4
    assert [t.result for t in kept_a.turns] == ["matched", "to_confirm", "confirmed",
                                                 "matched", "collected"]

    out = tmp_path / "exported.yaml"
    assert main(["export-scenario", kept_b.call_sid, "--db", str(db), "-o", str(out),
                 "--flow", str(AB)]) == 0
    again = load_scenario(out)
    assert again.variant == "B"
    with ReplayEnv(engine=replay_engine, tts_cache=tts_cache, settings=Settings()) as env:
        replayed = env.run(again)
    assert replayed.passed, [c.line() for c in replayed.checks]
    assert "Say billing or press 2" in replayed.transcript.prompts[1].text


def test_a_variant_the_flow_does_not_have_is_a_bad_scenario(tmp_path, replay_engine,
                                                            tts_cache):
    path = scenario(tmp_path, "z", {"variant": "Z", "turns": [{"dtmf": "2"}]})
    with ReplayEnv(engine=replay_engine, tts_cache=tts_cache, settings=Settings()) as env, \
            pytest.raises(ScenarioError) as err:
        env.flow_for(load_scenario(path))
    assert "variant 'Z' is not a variant of the flow" in str(err.value)
    assert "its variants: A, B" in str(err.value)
