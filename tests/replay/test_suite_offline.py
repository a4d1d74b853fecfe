"""The example suite (tests/scenarios/*.yaml) runs as pytest items through voicebot's pytest
plugin; here, what the suite must cover, and what every call of it must show besides its
expectations (the disclosure first, no gaps in the bot's audio)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.replay.conftest import suite_files
from voicebot.replay.report import timeline
from voicebot.replay.scenario import load_scenario


@pytest.mark.parametrize("name", ["order_found", "barge_in_menu"])
def test_an_example_call_starts_honestly_and_plays_without_gaps(name: str, replay_env,
                                                                suite_audio: Path):
    path = next(p for p in suite_files() if p.stem == name)
    result = replay_env.run(load_scenario(path, audio_dirs=[suite_audio]))
    assert result.passed, timeline(result)
    assert result.transcript.prompts[0].kind == "disclosure"  # every call starts honestly
    assert result.caller["audio_gaps"] == 0, timeline(result)


def test_the_suite_has_each_kind_of_call():
    names = {p.stem for p in suite_files()}
    assert {"transfer_keyword", "transfer_keyword_operator", "transfer_key",
            "transfer_low_confidence", "transfer_no_input", "order_found", "order_not_found",
            "barge_in_menu"} <= names
