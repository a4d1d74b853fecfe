"""export-scenario: a finished call in the SQLite call records becomes a scenario skeleton
that, once its recordings are supplied, replays to the same outcome (a regression test)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.replay.conftest import SUITE
from voicebot.cli import main
from voicebot.records.store import CallStore
from voicebot.records.transcript import CallTranscript, PromptRecord, TurnRecord
from voicebot.replay.offline import ReplayEnv
from voicebot.replay.scenario import ScenarioError, load_scenario
from voicebot.settings import DEFAULT_FLOW, Settings


def test_a_replayed_call_exported_from_sqlite_replays_the_same(
        tmp_path: Path, replay_engine, tts_cache: Path, suite_audio: Path):
    """barge_in_menu recorded into SQLite, exported, its recording supplied, replayed."""
    db = tmp_path / "calls.sqlite3"
    store = CallStore(db, "test-hash-key")
    original = load_scenario(SUITE / "barge_in_menu.yaml", audio_dirs=[suite_audio])
    with ReplayEnv(engine=replay_engine, tts_cache=tts_cache, settings=Settings(),
                   recorder=store) as env:
        first = env.run(original)
    store.close()
    assert first.passed, [c.line() for c in first.checks]
    sid = first.transcript.call_sid

    out = tmp_path / "exported" / "regression.yaml"
    code = main(["export-scenario", sid, "--db", str(db), "-o", str(out),
                 "--flow", str(DEFAULT_FLOW)])
    assert code == 0
    text = out.read_text()
    data = yaml.safe_load(text)
    assert data["turns"] == [{"say": f"recordings/{sid}-turn-1.wav", "barge_in": True}]
    assert "supply this recording (audio not kept)" in text
    assert f"the bot heard \"{first.transcript.turns[0].heard}\"" in text
    assert data["expect"] == {
        "outcome": first.transcript.outcome, "reason": first.transcript.reason,
        "queue": first.transcript.queue, "path": first.transcript.path, "path_exact": True,
    }

    # until the recording is supplied, the skeleton says which one is missing, and where
    with pytest.raises(ScenarioError) as err:
        load_scenario(out)
    assert "regression.yaml:9:10: turn 1: recording recordings/" in str(err.value)
    assert f"{sid}-turn-1.wav" in str(err.value)

    # supply it (the audio the caller spoke) and the regression scenario passes
    (out.parent / "recordings").mkdir()
    shutil.copy(suite_audio / "en-gb+f2-140" / "billing.wav",
                out.parent / "recordings" / f"{sid}-turn-1.wav")
    with ReplayEnv(engine=replay_engine, tts_cache=tts_cache, settings=Settings()) as env:
        again = env.run(load_scenario(out))
    assert again.passed, [c.line() for c in again.checks]
    assert again.transcript.path == first.transcript.path


def test_export_of_a_hand_written_record_and_errors(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]):
    db = tmp_path / "calls.sqlite3"
    store = CallStore(db, "k")
    store.save(CallTranscript(
        call_sid="CA42", flow_name="support", flow_version="1.0", engine="vosk",
        prompts=[PromptRecord("Hello", "main_menu", "disclosure", 0.0, 3.0)],
        turns=[TurnRecord("main_menu", "dtmf", "1", None, None, "order_status", 3.0, 3.0),
               TurnRecord("main_menu", "speech", "agent", 0.42, True, None, 4.0, 4.8,
                          5.0, during_prompt=True),
               TurnRecord("main_menu", "no_input", "", None, None, None, 10.0, 16.0)],
        path=["main_menu"], outcome="transfer", reason="keyword", queue="support",
    ), ended=True)
    store.close()
    assert main(["export-scenario", "CA42", "--db", str(db)]) == 0
    text = capsys.readouterr().out
    data = yaml.safe_load(text)
    assert data["turns"] == [{"dtmf": "1"},
                             {"say": "recordings/CA42-turn-2.wav", "barge_in": True},
                             {"silence": 6.0}]
    assert "confidence 0.42" in text
    assert data["expect"]["reason"] == "keyword"

    assert main(["export-scenario", "CA404", "--db", str(db)]) == 2
    assert f"no call CA404 in {db}" in capsys.readouterr().err
    assert main(["export-scenario", "CA42", "--db", str(tmp_path / "none.sqlite3")]) == 2
    assert "no call records at" in capsys.readouterr().err


def test_export_reads_the_records_a_postgresql_database_shares(postgres, monkeypatch,
                                                              capsys: pytest.CaptureFixture[str]):
    url = postgres.new_database()
    store = CallStore(url, "k")
    store.save(CallTranscript(call_sid="CApg", flow_name="support", outcome="transfer",
                              reason="dtmf", queue="support",
                              turns=[TurnRecord("main_menu", "dtmf", "0")]), ended=True)
    store.close()
    monkeypatch.setenv("VOICEBOT_DATABASE_URL", url)
    assert main(["export-scenario", "CApg"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["turns"] == [{"dtmf": "0"}]
    assert main(["export-scenario", "CAnone"]) == 2
    assert f"no call CAnone in {url}" in capsys.readouterr().err
