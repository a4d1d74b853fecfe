"""Scenario files as pytest items (voicebot.replay.pytest_plugin), run by pytest in a fresh
process as a tester's project would: passing and failing scenarios in one report, a failure
shown as the call's timeline, a bad scenario as its file:line:col problems, recordings found
through --audio-dir or the ini setting."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from voicebot.settings import DEFAULT_FLOW

pytest_plugins = ["pytester"]

KEY_0 = f"""\
flow: {DEFAULT_FLOW}
turns:
  - dtmf: "0"
expect:
  outcome: transfer
  reason: {{reason}}
  said: ["{{said}}"]
"""


@pytest.mark.slow
def test_scenario_files_are_test_items(pytester: pytest.Pytester, shared_data: Path):
    pytester.makefile(".yaml", key=KEY_0.format(reason="dtmf", said="connecting you"),
                      key_wrong=KEY_0.format(reason="keyword", said="connecting you"),
                      spoken=f"flow: {DEFAULT_FLOW}\nturns:\n  - say: digits/seven.wav\n"
                             "expect:\n  path: [main_menu]\n",
                      not_a_scenario="nodes:\n  turns: {}\n")
    audio = pytester.path / "audio" / "digits"
    audio.mkdir(parents=True)
    shutil.copy(shared_data / "fsdd" / "7_theo_1.wav", audio / "seven.wav")

    result = pytester.runpytest_subprocess("-p", "voicebot.replay.pytest_plugin",
                                           "--voicebot-engine", "pocketsphinx", "-v")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "key.yaml::key PASSED*",
        "key_wrong.yaml::key_wrong FAILED*",
        "spoken.yaml::spoken FAILED*",
        "*FAIL  key_wrong*",
        "*✗ reason: expected keyword, got dtmf*",
        "*spoken.yaml:3:10: turn 1: recording digits/seven.wav not found; looked in*"
        "--audio-dir DIR*",
    ])
    assert "Traceback" not in result.stdout.str()

    # the recordings' directory on the command line, or in the ini file
    result = pytester.runpytest_subprocess("-p", "voicebot.replay.pytest_plugin",
                                           "--voicebot-engine", "pocketsphinx",
                                           "--audio-dir", "audio", "spoken.yaml")
    result.assert_outcomes(passed=1)
    pytester.makeini("[pytest]\nvoicebot_audio_dirs = audio\nvoicebot_engine = pocketsphinx\n")
    result = pytester.runpytest_subprocess("-p", "voicebot.replay.pytest_plugin", "spoken.yaml")
    result.assert_outcomes(passed=1)
