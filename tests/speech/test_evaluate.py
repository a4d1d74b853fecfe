"""`voicebot evaluate` end to end: real recordings, the real phone path and engine, through the
CLI as a tester runs it."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from tests.flow.conftest import SUPPORT
from voicebot.cli import main
from voicebot.speech.evaluate import load_manifest, word_errors

DIGIT_PHRASES = "zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\noh\n"


def write_manifest(directory: Path, rows: list[tuple[Path | str, str, str]],
                   header: str = "audio,expected,segment") -> Path:
    manifest = directory / "manifest.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(header.split(","))
        for audio, expected, segment in rows:
            rel = os.path.relpath(audio, directory) if isinstance(audio, Path) else audio
            out.writerow([rel, expected, segment])
    return manifest


@pytest.fixture
def digits_manifest(tmp_path, fsdd_clips) -> Path:
    """Held-out clip 20 of every digit, for one US and one German speaker (20 recordings)."""
    rows = [(path, word.upper() + ".", accent) for path, word, speaker, accent, index
            in fsdd_clips if index == 20 and speaker in ("jackson", "lucas")]
    return write_manifest(tmp_path, rows)


@pytest.fixture(autouse=True)
def _pocketsphinx(monkeypatch, tmp_path):
    monkeypatch.setenv("VOICEBOT_MODEL_DIR", str(tmp_path / "no-models"))
    monkeypatch.delenv("VOICEBOT_VOSK_MODEL", raising=False)
    monkeypatch.delenv("VOICEBOT_ENGINE", raising=False)


@pytest.mark.slow
def test_json_report_on_real_digits(digits_manifest, tmp_path, capsys):
    phrases = tmp_path / "digits.txt"
    phrases.write_text(DIGIT_PHRASES, encoding="utf-8")
    code = main(["evaluate", str(digits_manifest), "--phrases", str(phrases),
                 "--engine", "pocketsphinx", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    report = json.loads(out)  # exactly one JSON object, nothing else on stdout
    assert set(report) == {"n", "accuracy", "wer", "rtf", "low_confidence_rate", "max_gap",
                           "segments"}
    assert report["n"] == 20
    assert set(report["segments"]) == {"USA/neutral", "DEU/German"}
    assert all(s["n"] == 10 for s in report["segments"].values())
    assert report["accuracy"] >= 0.7  # expected text "SEVEN." is normalised to "seven"
    accs = [s["accuracy"] for s in report["segments"].values()]
    assert report["max_gap"] == pytest.approx(max(accs) - min(accs))
    assert report["wer"] == pytest.approx(1 - report["accuracy"])  # one word per clip
    assert report["rtf"] > 0
    assert 0 <= report["low_confidence_rate"] <= 1


@pytest.mark.slow
def test_text_report_with_digit_loop_on_long_recordings(tmp_path, shared_data, capsys):
    rec = shared_data / "recordings"
    manifest = write_manifest(tmp_path, [
        (rec / "digits_16k.wav",
         "one zero zero zero one nine oh two one oh zero one eight zero three", "16k"),
        (rec / "one_two_three_44k.wav", "One, two, three!", "44k"),
    ])
    assert main(["evaluate", str(manifest), "--engine", "pocketsphinx"]) == 0
    out = capsys.readouterr().out
    assert "engine: pocketsphinx" in out
    assert "overall                      2 " in out and "largest segment gap:" in out
    wer = float(out.split("word error rate:")[1].split("%")[0])
    assert wer <= 15.0  # 18 words; the line noise may cost an insertion


def test_missing_column_names_the_file_and_line(tmp_path, capsys):
    manifest = write_manifest(tmp_path, [("a.wav", "one", "x")], header="audio,text,segment")
    assert main(["evaluate", str(manifest)]) == 2
    err = capsys.readouterr().err
    assert f"{manifest}:1: missing column(s) expected" in err
    assert "Traceback" not in err


def test_unquoted_comma_is_a_clear_error(tmp_path, capsys):
    manifest = tmp_path / "m.csv"
    manifest.write_text("audio,expected,segment\na.wav,one, two,x\n", encoding="utf-8")
    assert main(["evaluate", str(manifest)]) == 2
    assert f"{manifest}:2: more fields than columns" in capsys.readouterr().err


def test_missing_audio_file_names_the_row(tmp_path, capsys, shared_data):
    manifest = write_manifest(tmp_path, [
        (shared_data / "fsdd" / "1_theo_0.wav", "one", "x"),
        ("nowhere/missing.wav", "two", "x"),
    ])
    assert main(["evaluate", str(manifest)]) == 2
    assert f"{manifest}:3: audio file not found: nowhere/missing.wav" in capsys.readouterr().err


def test_unreadable_audio_names_the_row(tmp_path, capsys):
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    manifest = write_manifest(tmp_path, [("broken.wav", "one", "x")])
    assert main(["evaluate", str(manifest), "--engine", "pocketsphinx"]) == 2
    err = capsys.readouterr().err
    assert f"{manifest}:2: broken.wav:" in err
    assert "Traceback" not in err


def test_missing_manifest_and_empty_phrases_are_clear_errors(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "none.csv")]) == 2
    assert "no such manifest" in capsys.readouterr().err
    manifest = write_manifest(tmp_path, [("a.wav", "one", "x")])
    (tmp_path / "a.wav").write_bytes(b"")
    empty = tmp_path / "phrases.txt"
    empty.write_text("# nothing\n\n", encoding="utf-8")
    assert main(["evaluate", str(manifest), "--phrases", str(empty)]) == 2
    assert "no phrases" in capsys.readouterr().err


def test_manifest_paths_are_relative_to_the_manifest(tmp_path, shared_data):
    sub = tmp_path / "sets"
    sub.mkdir()
    manifest = write_manifest(sub, [(shared_data / "fsdd" / "3_lucas_1.wav", "three", "")])
    (item,) = load_manifest(manifest)
    assert item.audio == (shared_data / "fsdd" / "3_lucas_1.wav").resolve()
    assert item.segment == "(none)" and item.row == 2


def test_word_errors_counts_substitutions_insertions_deletions():
    assert word_errors("one two three", "one two three") == 0
    assert word_errors("one two three", "one too three") == 1
    assert word_errors("one two three", "one three") == 1
    assert word_errors("one two", "one two two") == 1
    assert word_errors("One, two!", "one two") == 0


def test_a_turn_ends_where_a_call_would_end_it(ps_engine, shared_data):
    # "one", 300 ms of silence, "two": a call's menu turn ends after "one" (it decides the
    # turn, and 250 ms of silence passed), so evaluate hears just what it hears for "one"
    # alone. With the complete-answer end off, the usual 400 ms is not reached and the
    # decode takes in "two" as well.
    from voicebot.settings import EndpointSettings
    from voicebot.speech.audio import load_phone_audio
    from voicebot.speech.evaluate import line_audio, recognize_turn
    from voicebot.speech.types import Grammar

    one = load_phone_audio(shared_data / "fsdd" / "1_george_12.wav")
    two = load_phone_audio(shared_data / "fsdd" / "2_george_12.wav")
    grammar = Grammar(phrases=("one", "two", "three"), groups=(("one",), ("two",), ("three",)))
    alone, _ = recognize_turn(ps_engine, grammar, line_audio(one))
    assert alone.text == "one" and alone.confidence >= 0.5
    both = line_audio(one + b"\x00" * 4800 + two)
    hyp, _ = recognize_turn(ps_engine, grammar, both)
    assert (hyp.text, hyp.confidence) == (alone.text, alone.confidence)
    hyp, _ = recognize_turn(ps_engine, grammar, both, EndpointSettings(complete_end_ms=0))
    assert hyp.confidence != alone.confidence


# ----------------------------------------------------------------- as calls hear it


@pytest.fixture
def two_speakers(fsdd_clips) -> list[tuple[Path, str, str]]:
    """Clip 21 of every digit by one US and one German speaker: (audio, word, accent)."""
    return [(path, word, accent) for path, word, speaker, accent, index in fsdd_clips
            if index == 21 and speaker in ("jackson", "lucas")]


@pytest.mark.slow
def test_digit_labels_give_the_same_result_as_word_labels(two_speakers, tmp_path, capsys):
    from voicebot.speech.engines.common import DIGIT_WORDS

    figures, words = tmp_path / "figures", tmp_path / "words"
    figures.mkdir()
    words.mkdir()
    as_figures = write_manifest(figures, [(p, str(DIGIT_WORDS.index(w)), a)
                                          for p, w, a in two_speakers])
    as_words = write_manifest(words, [(p, w, a) for p, w, a in two_speakers])
    reports, details = [], []
    for manifest in (as_figures, as_words):
        detail = manifest.parent / "details.csv"
        assert main(["evaluate", str(manifest), "--engine", "pocketsphinx", "--json",
                     "--details", str(detail)]) == 0
        out = capsys.readouterr()
        assert "warning" not in out.err  # "4" is in the digits grammar as much as "four"
        report = json.loads(out.out)
        del report["rtf"]  # a timing
        reports.append(report)
        with open(detail, newline="") as fh:
            details.append([{k: v for k, v in row.items() if k != "expected"}
                            for row in csv.DictReader(fh)])
    assert reports[0] == reports[1]
    assert reports[0]["accuracy"] >= 0.7
    assert details[0] == details[1]


@pytest.mark.slow
def test_details_list_every_recording(two_speakers, tmp_path, capsys):
    manifest = write_manifest(tmp_path, [(p, w, a) for p, w, a in two_speakers])
    details = tmp_path / "out" / "details.csv"
    details.parent.mkdir()
    assert main(["evaluate", str(manifest), "--engine", "pocketsphinx",
                 "--details", str(details)]) == 0
    err = capsys.readouterr().err
    assert "evaluated 20 recordings" in err  # no progress bar off a terminal: one line
    with open(details, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["audio", "expected", "heard", "confidence", "correct", "segment",
                             "node"]
    assert [r["audio"] for r in rows] == [os.path.relpath(p, tmp_path)
                                          for p, _, _ in two_speakers]
    for row, (_, word, accent) in zip(rows, two_speakers, strict=True):
        assert row["expected"] == word and row["segment"] == accent
        assert row["correct"] == str(row["heard"] == word).lower()
        assert 0.0 <= float(row["confidence"]) <= 1.0


def test_expected_texts_outside_the_grammar_are_warned_about(tmp_path, capsys, shared_data):
    clip = shared_data / "fsdd" / "1_theo_0.wav"
    manifest = write_manifest(tmp_path, [(clip, "one", "x"), (clip, "1", "x"),
                                         (clip, "maybe", "x"), (clip, "won", "x")])
    phrases = tmp_path / "digits.txt"
    phrases.write_text(DIGIT_PHRASES, encoding="utf-8")
    assert main(["evaluate", str(manifest), "--phrases", str(phrases), "--engine",
                 "pocketsphinx", "--json"]) == 0
    err = capsys.readouterr().err
    assert "warning: 2 of 4 expected texts are not in what their turn listens for, so they " \
           "can never be heard as written: 'maybe' (row 4), 'won' (row 5)" in err


def test_a_row_naming_a_node_needs_its_flow_and_the_node(tmp_path, capsys, shared_data):
    clip = shared_data / "fsdd" / "1_theo_0.wav"
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"audio,expected,segment,node\n{clip},one,x,main_menu\n")
    assert main(["evaluate", str(manifest)]) == 2
    assert f"{manifest}:2: node 'main_menu' needs its flow: a flow column in the manifest, " \
           "or --flow FLOW" in capsys.readouterr().err
    manifest.write_text(f"audio,expected,segment,node,flow\n{clip},one,x,main_men,{SUPPORT}\n")
    assert main(["evaluate", str(manifest)]) == 2
    assert f"{manifest}:2: no node 'main_men' in {SUPPORT}" in capsys.readouterr().err


def test_a_node_turn_listens_as_the_call_does(tmp_path):
    from voicebot.flow.loader import load_flow
    from voicebot.flow.turns import listen_for
    from voicebot.speech.evaluate import Item, turns_for

    flow = load_flow(SUPPORT)
    rows = [Item(tmp_path / "a.wav", "4512", "x", 2, node="ask_order_number", flow=SUPPORT),
            Item(tmp_path / "a.wav", "yes", "x", 3, node="ask_order_number:confirm",
                 flow=SUPPORT)]
    turn_of = turns_for(rows)
    number, confirm = (turn_of(r) for r in rows)
    assert number.listen == listen_for(flow.nodes["ask_order_number"])
    assert confirm.listen == listen_for(flow.nodes["ask_order_number"], confirming=True)
    assert number.takes("4512") and number.takes("four five one two")
    assert not number.takes("45123") and not number.takes("order")
    assert number.takes("agent")  # an escape phrase is heard at every turn
    assert confirm.takes("That's right.") and not confirm.takes("4512")
