"""The example suite replayed offline with the real pocketsphinx engine: every scenario's
expectations hold (real FSDD digits, espeak-ng phrases, the default support flow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.replay.conftest import suite_files
from voicebot.replay.report import timeline
from voicebot.replay.scenario import load_scenario


@pytest.mark.parametrize("path", suite_files(), ids=lambda p: p.stem)
def test_example_scenario_passes_offline(path: Path, replay_env, suite_audio: Path):
    scenario = load_scenario(path, audio_dirs=[suite_audio])
    result = replay_env.run(scenario)
    assert result.passed, timeline(result)
    assert result.transcript.prompts[0].kind == "disclosure"  # every call starts honestly
    assert result.caller["audio_gaps"] == 0, timeline(result)


def test_the_suite_has_each_kind_of_call():
    names = {p.stem for p in suite_files()}
    assert {"transfer_keyword", "transfer_keyword_operator", "transfer_key",
            "transfer_low_confidence", "transfer_no_input", "order_found", "order_not_found",
            "barge_in_menu"} <= names
