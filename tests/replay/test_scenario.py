"""Scenario files: a good one loads (real recordings, paths relative to the file); every kind
of mistake is reported with the file, line and column, all at once."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from voicebot.replay.scenario import Expect, ScenarioError, load_scenario


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


@pytest.fixture()
def scenario_dir(tmp_path: Path, shared_data: Path) -> Path:
    rec = tmp_path / "recordings"
    rec.mkdir()
    shutil.copy(shared_data / "fsdd" / "4_jackson_3.wav", rec / "four.wav")
    write(tmp_path, "flow.yaml", "name: stub\n")  # only its existence is checked here
    return tmp_path


def test_a_good_scenario_loads_with_its_recordings(scenario_dir: Path):
    path = write(scenario_dir, "good.yaml", """\
name: order status by digits
flow: flow.yaml
from: "+15550100"
turns:
  - say: recordings/four.wav
    barge_in: true
  - dtmf: 012#
  - silence: 2.5
  - say: recordings/four.wav
    barge_in: 1.2
  - say: [recordings/four.wav, recordings/four.wav]
expect:
  outcome: transfer
  reason: keyword
  queue: support
  path: [main_menu, order_number]
  path_exact: true
  heard: ["four", null]
  max_turn_gap_ms: 800
""")
    sc = load_scenario(path)
    assert sc.name == "order status by digits"
    assert sc.flow == (scenario_dir / "flow.yaml").resolve()
    assert sc.from_number == "+15550100"
    kinds = [(t.kind, t.barge_in) for t in sc.turns]
    assert kinds == [("say", True), ("dtmf", False), ("silence", False), ("say", True),
                     ("say", False)]
    say = sc.turns[0]
    assert len(say.audio) > 0 and len(say.audio) % 2 == 0  # 8 kHz 16-bit PCM
    assert sc.turns[1].digits == "012#"  # unquoted keys keep their leading 0
    assert sc.turns[2].seconds == 2.5
    assert sc.turns[3].barge_in_after == 1.2
    # a list is one utterance: both recordings with a short silence between
    assert len(sc.turns[4].audio) == 2 * len(say.audio) + int(8000 * 0.12) * 2
    assert sc.turns[4].label == "recordings/four.wav + recordings/four.wav"
    assert sc.expect == Expect(outcome="transfer", reason="keyword", queue="support",
                               path=("main_menu", "order_number"), path_exact=True,
                               heard=("four", None), max_turn_gap_ms=800.0)
    assert sc.turn_lines == (5, 7, 8, 9, 11)


def problems_of(path: Path, audio_dirs: list[Path] | None = None) -> list[str]:
    with pytest.raises(ScenarioError) as err:
        load_scenario(path, audio_dirs=audio_dirs or [])
    return err.value.problems


def test_every_mistake_is_reported_with_file_line_and_column(scenario_dir: Path):
    (scenario_dir / "recordings" / "junk.wav").write_bytes(b"RIFF....WAVEjunk")
    path = write(scenario_dir, "bad.yaml", """\
flow: missing-flow.yaml
colour: blue
turns:
  - say: recordings/nope.wav
  - say: recordings/junk.wav
  - dtmf: 12x
  - silence: soon
  - say: recordings/four.wav
    dtmf: "1"
  - dtmf: "1"
    barge_in: true
expect:
  outcome: maybe
  path: main_menu
  heard: [a, b, c]
  speed: fast
""")
    problems = problems_of(path)
    text = "\n".join(problems)
    expected = [
        f"{path}:1:7: flow: no flow file at",
        f"{path}:2:1: scenario: unknown key 'colour'",
        f"{path}:4:10: turn 1: recording recordings/nope.wav not found; looked in "
        f"{scenario_dir} (beside the scenario, then in each --audio-dir: give the directory "
        "that holds it with --audio-dir DIR)",
        f"{path}:5:10: turn 2: cannot use recording recordings/junk.wav",
        f"{path}:6:11: turn 3: dtmf must be keys 0-9, * or #",
        f"{path}:7:14: turn 4: silence (seconds) must be a number",
        f"{path}:8:5: turn 5: give exactly one of say, dtmf, silence (found say, dtmf)",
        f"{path}:11:15: turn 6: barge_in only applies to say turns",
        f"{path}:13:12: expect.outcome must be one of transfer, hangup",
        f"{path}:14:9: expect.path must be a list",
        f"{path}:16:3: expect: unknown key 'speed'",
    ]
    for start in expected:
        assert any(p.startswith(start) or start in p for p in problems), (start, text)
    # one message per mistake: the three say turns as written count for expect.heard, even
    # those whose recordings are missing or unusable
    assert len(problems) == len(expected), text


@pytest.mark.parametrize("text, message", [
    ("turns: [\n", "2:1: not valid YAML"),
    ("", "1:1: the scenario is empty"),
    ("- just a list\n", "1:1: scenario must be a mapping"),
    ("expect: {outcome: hangup}\n", "1:1: scenario: 'turns' is missing"),
    ("turns: {say: x.wav}\n", "1:8: turns must be a list"),
    ("turns:\n  - silence: 1\nexpect:\n  path_exact: true\n",
     "4:15: expect.path_exact needs expect.path"),
    ("turns:\n  - say: {a: 1}\n", "2:10: turn 1: say must be text"),
    ("turns:\n  - say: []\n", "2:10: turn 1: say lists no recordings"),
    ("turns:\n  - say: [x.wav]\n", "2:11: turn 1: recording x.wav not found"),
])
def test_structural_mistakes(tmp_path: Path, text: str, message: str):
    path = write(tmp_path, "s.yaml", text)
    problems = problems_of(path)
    assert any(p.startswith(f"{path}:{message}") for p in problems), problems


def test_recordings_are_also_found_in_audio_dirs(tmp_path: Path, shared_data: Path):
    """Caller recordings may live outside the repository, e.g. generated or private."""
    scenarios, audio = tmp_path / "scenarios", tmp_path / "audio"
    (audio / "recordings").mkdir(parents=True)
    scenarios.mkdir()
    shutil.copy(shared_data / "fsdd" / "7_theo_1.wav", audio / "recordings" / "seven.wav")
    path = write(scenarios, "s.yaml", "turns:\n  - say: recordings/seven.wav\n")
    assert "recording recordings/seven.wav not found" in problems_of(path)[0]
    assert load_scenario(path, audio_dirs=[audio]).turns[0].label == "recordings/seven.wav"
    elsewhere = tmp_path / "elsewhere"
    (problem,) = problems_of(path, audio_dirs=[elsewhere])
    assert problem.endswith(f"turn 1: recording recordings/seven.wav not found; looked in "
                            f"{scenarios}, {elsewhere} (beside the scenario, then in each "
                            "--audio-dir: or give another directory with --audio-dir DIR)")


def test_missing_scenario_file(tmp_path: Path):
    assert problems_of(tmp_path / "none.yaml") == [f"{tmp_path / 'none.yaml'}: "
                                                   "no such scenario file"]


def test_the_replay_command_exits_2_with_one_line_per_problem(tmp_path: Path):
    path = write(tmp_path, "bad.yaml", "turns:\n  - sing: loudly\n")
    out = subprocess.run([sys.executable, "-m", "voicebot", "replay", str(path)],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert f"{path}:2:5: turn 1: unknown key 'sing'" in out.stderr
    assert "Traceback" not in out.stderr
