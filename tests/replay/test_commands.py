"""`voicebot replay` as a tester runs it: timeline, exit codes, --json and --junit."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from voicebot.cli import main
from voicebot.settings import DEFAULT_FLOW


@pytest.fixture(autouse=True)
def _logging(restore_logging: None) -> None:
    """The replay command configures the root logger: each test here gets it back."""


def scenario(directory: Path, name: str, reason: str) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(f"""\
flow: {DEFAULT_FLOW}
turns:
  - dtmf: "0"
expect:
  outcome: transfer
  reason: {reason}
  queue: support
""")
    return path


@pytest.mark.slow
def test_replay_reports_failures_and_exits_1(tmp_path: Path, tts_cache: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("VOICEBOT_TTS_CACHE", str(tts_cache))
    good = scenario(tmp_path, "key", "dtmf")
    bad = scenario(tmp_path, "key-wrong", "keyword")
    junit = tmp_path / "out" / "junit.xml"
    code = main(["replay", "--engine", "pocketsphinx", "--junit", str(junit),
                 str(good), str(bad)])
    out = capsys.readouterr().out
    assert code == 1
    assert "PASS  key  (" in out and "FAIL  key-wrong  (" in out
    assert "✗ reason: expected keyword, got dtmf" in out
    assert "1/2 scenarios passed" in out
    suite = ET.parse(junit).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    failed = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["key-wrong"]
    assert failed[0].find("failure").get("message") == "reason: expected keyword, got dtmf"

    assert main(["replay", "--engine", "pocketsphinx", "--json", str(good)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["passed"] is True and data[0]["reason"] == "dtmf"
    assert data[0]["transcript"]["prompts"][0]["kind"] == "disclosure"
