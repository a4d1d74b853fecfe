"""`voicebot synth`: what a flow's callers may say, skeletons that reach every intent, and a
small new flow rendered, replayed green from its own skeletons, and measured by `evaluate`
with the very confidence its replayed calls got."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import soundfile

from tests.flow.conftest import SUPPORT
from voicebot import cli
from voicebot.flow.events import Digits, Recognized
from voicebot.flow.loader import load_flow
from voicebot.replay.report import timeline
from voicebot.replay.scenario import load_scenario
from voicebot.replay.skeletons import play, skeletons
from voicebot.replay.synth import MUMBLES, YES_NO, phrases, recording, slug, synthesize
from voicebot.speech.audio import load_phone_audio
from voicebot.speech.caller_audio import CallerAudio
from voicebot.speech.evaluate import line_audio as call_line
from voicebot.speech.evaluate import load_manifest, recognize_call_turn, turns_for

PARKING = """\
name: parking
start: menu
disclosure: I'm an automated assistant for city parking. Say agent or press 0 for a person.
queues:
  permits: our permits team
nodes:
  menu:
    kind: menu
    prompt: Say permit or press 1. Say fine or press 2.
    intents:
      permit:
        phrases: [parking permit, permit]
        dtmf: 1
        next: ask_plate
      fine:
        phrases: [parking fine, fine]
        dtmf: 2
        next: to_permits
  ask_plate:
    kind: collect
    slot: permit_number
    type: digits
    length: 4
    prompt: Say your four digit permit number.
    next: thanks
  thanks:
    kind: hangup
    prompt: Thanks. Permit {permit_number} is noted. Goodbye.
  to_permits:
    kind: transfer
    queue: permits
    prompt: Connecting you to our permits team.
"""


def test_phrases_are_what_callers_of_the_flow_may_say():
    said = {(p.text, p.expected, p.node) for p in phrases(load_flow(SUPPORT))}
    assert ("order status", "order status", "main_menu") in said
    assert ("another order", "another order", "anything_else") in said
    assert ("four five one two", "4512", "ask_order_number") in said  # found by the lookup
    assert ("one two three four", "1234", "ask_order_number") not in said  # 1234 exists
    assert ("two three four five", "2345", "ask_order_number") in said  # and one not found
    assert {(t, t, "ask_order_number:confirm") for t in YES_NO} <= said
    assert ("speak to someone", "speak to someone", "main_menu") in said
    assert {(m, "", None) for m in MUMBLES} <= said


def test_yes_no_samples_mean_yes_or_no():
    from voicebot.flow.matching import NO_SPOKEN, YES_SPOKEN

    assert set(YES_NO) <= set(YES_SPOKEN) | set(NO_SPOKEN)


def test_skeletons_reach_every_intent_and_expect_what_the_flow_does():
    flow = load_flow(SUPPORT)
    found = {sk.name: sk for sk in skeletons(flow)}
    intents = {f"{n.id}-{i.name}" for n in flow.nodes.values() for i in n.intents}
    assert set(found) == intents | {"ask_order_number-spoken", "escape"}
    for sk in found.values():
        session, _ = play(flow, tuple(sk.events))
        assert session.path[:len(sk.expect["path"])] == sk.expect["path"], sk.name
        # keys bring the call there; the one spoken turn is what the skeleton is about
        spoken = [e for e in sk.events if isinstance(e, Recognized)]
        assert len(spoken) == 1, sk.name
        assert all(isinstance(e, Digits | Recognized) for e in sk.events)
    assert found["escape"].expect == {"path": ["main_menu"], "outcome": "transfer",
                                      "reason": "keyword", "queue": "support"}
    assert found["order_not_found-give_up"].expect["path"][-1] == "not_found_transfer"
    assert found["ask_order_number-spoken"].expect["slots"] == {"order_number": "4512"}


def test_recordings_are_named_after_what_is_said():
    assert slug("That's all, thanks!") == "thats-all-thanks"
    assert recording("order status", "en-us+m3", 175) == "en-us+m3-175/order-status.wav"


def test_an_unknown_voice_is_a_clear_error(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("VOICEBOT_TTS_CACHE", str(tmp_path / "tts"))
    code = cli.main(["synth", str(SUPPORT), "-o", str(tmp_path / "out"), "--voices", "xx-yy"])
    err = capsys.readouterr().err
    assert code != 0 and "unknown voice 'xx-yy'" in err and "Traceback" not in err


@pytest.mark.slow
def test_a_new_flow_synthesized_replays_green_and_evaluates_as_its_calls(
        tmp_path: Path, replay_env, tts_cache: Path):
    flow_path = tmp_path / "flows" / "parking.yaml"
    flow_path.parent.mkdir()
    flow_path.write_text(PARKING, encoding="utf-8")
    flow = load_flow(flow_path)
    out = tmp_path / "parking-audio"
    with CallerAudio(tts_cache) as audio:
        result = synthesize(flow, out, audio, voices=["en-us"], speeds=[150])

    names = sorted(p.stem for p in result.scenarios)
    assert names == ["ask_plate-spoken", "escape", "menu-fine", "menu-permit"]
    wav = out / "en-us-150" / "parking-permit.wav"
    info = soundfile.info(wav)
    assert (info.samplerate, info.channels, info.subtype) == (8000, 1, "PCM_16")
    assert (out / "en-us-150" / "mumble-1.wav").is_file()

    # replay the skeletons: every one passes, with what each call heard and how sure it was
    heard: dict[tuple[str, str], tuple[str, float]] = {}
    for path in result.scenarios:
        scenario = load_scenario(path, audio_dirs=[out])
        run = replay_env.run(scenario)
        assert run.passed, timeline(run)
        for turn in run.transcript.turns:
            if turn.kind == "speech":
                clip = next(t.label for t in scenario.turns if t.kind == "say")
                heard[(clip, turn.node)] = (turn.heard, turn.confidence)

    # evaluate hears the same clips at the same nodes exactly as those calls did
    items = [i for i in load_manifest(result.manifest)
             if (i.written, i.node) in heard]
    assert len(items) == len(heard) == 4
    turn_of = turns_for(items)
    for item in items:
        hyp, _ = recognize_call_turn(replay_env.engine, turn_of(item),
                                     call_line(load_phone_audio(item.audio), noise_rms=0.0))
        text, confidence = heard[(item.written, item.node)]
        assert (hyp.text, round(hyp.confidence, 6)) == (text, round(confidence, 6)), item

    with open(result.manifest, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["node"] for r in rows} == {"menu", "ask_plate"}
    assert all(Path(r["flow"]) == Path("../flows/parking.yaml") for r in rows)


@pytest.mark.slow
def test_the_example_suite_runs_on_synth_audio_made_from_any_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        restore_logging: None):
    from tests.replay.conftest import suite_files

    monkeypatch.chdir(tmp_path)  # not the checkout: nothing may depend on it
    monkeypatch.setenv("VOICEBOT_TTS_CACHE", str(tmp_path / "tts"))
    assert cli.main(["synth", str(SUPPORT), "-o", "audio"]) == 0
    assert capsys.readouterr().out.startswith("392 recordings in audio")
    code = cli.main(["replay", "--engine", "pocketsphinx", "--audio-dir", "audio",
                     *map(str, suite_files())])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"{len(suite_files())}/{len(suite_files())} scenarios passed" in out
