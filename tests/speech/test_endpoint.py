"""The endpointer on real speech (FSDD digits, the 16 kHz digit recording) padded with line
noise or silence: speech start near the real onset, end after the trailing silence, no-input,
maximum length, and clicks that must not count as speech."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tests.speech.io_fixtures import line_noise, run_endpointer, silence
from voicebot.settings import EndpointSettings
from voicebot.speech.audio import frames, load_phone_audio
from voicebot.speech.endpoint import PRE_ROLL_MS, Endpointer
from voicebot.speech.types import FRAME_BYTES, PREFETCH_LEAD_MS

DEFAULTS = EndpointSettings()
# one clip per speaker (six accents), fixed choice
CLIPS = ("3_george_5", "7_jackson_12", "0_lucas_3", "9_nicolas_8", "2_theo_10", "6_yweweler_4")


def kinds(events) -> list[str]:
    return [e.kind for e in events]


@pytest.mark.parametrize("clip", CLIPS)
def test_padded_digit_gives_one_utterance_holding_the_whole_clip(
        shared_data: Path, clip: str) -> None:
    speech = load_phone_audio(shared_data / "fsdd" / f"{clip}.wav")
    pad = 1.0
    audio = line_noise(pad, seed=1) + speech + line_noise(1.5, seed=2)
    ep = Endpointer(DEFAULTS)
    events, utterances = run_endpointer(ep, audio)

    assert kinds(events) == ["speech_start", "speech_end"]
    start, end = events
    speech_end_at = pad + len(speech) / 16000
    # Start: after the padding, within the clip (FSDD clips are trimmed close to the voice).
    assert pad <= start.t < speech_end_at
    # End: once the trailing silence setting has passed after the clip, and not much later.
    assert speech_end_at + DEFAULTS.speech_end_ms / 1000 - 0.2 <= end.t
    assert end.t <= speech_end_at + DEFAULTS.speech_end_ms / 1000 + 0.4
    # The speech_start event carries the pre-roll, and the utterance holds all of the digit.
    assert len(start.audio) == PRE_ROLL_MS // 20 * FRAME_BYTES
    assert utterances[0].startswith(start.audio)
    assert speech in utterances[0]
    assert not ep.in_speech


def test_in_speech_and_feed_audio_follow_the_utterance(shared_data: Path) -> None:
    speech = load_phone_audio(shared_data / "fsdd" / "4_george_0.wav")
    audio = line_noise(0.6) + speech + line_noise(1.0, seed=3)
    ep = Endpointer(DEFAULTS)
    states = []
    for i in range(0, len(audio), FRAME_BYTES):
        result = ep.feed(audio[i:i + FRAME_BYTES], i / 16000)
        states.append((ep.in_speech, bool(result.audio), kinds(result.events)))
    # idle frames give no audio; frames in speech (and the one that ends it) do
    for in_speech, has_audio, evs in states:
        assert has_audio == (in_speech or "speech_end" in evs)
    assert [s for s in states if s[2]][0][0] is True  # the start frame is already in speech


def test_several_utterances_in_a_longer_recording(shared_data: Path) -> None:
    """digits_16k.wav: 15 digits with a few pauses; each utterance ends before the next starts."""
    speech = load_phone_audio(shared_data / "recordings" / "digits_16k.wav")
    events, utterances = run_endpointer(Endpointer(DEFAULTS), line_noise(0.5) + speech
                                        + line_noise(1.0))
    assert len(utterances) >= 2
    assert kinds(events) == ["speech_start", "speech_end"] * len(utterances)
    total = sum(len(u) for u in utterances) / 16000
    assert total <= len(speech) / 16000 + 1.5


def test_no_input_fires_once_after_the_timeout() -> None:
    ep = Endpointer(DEFAULTS)
    events, _ = run_endpointer(ep, line_noise(6.0), t0=10.0, listen=(11.0, 3.0))
    assert kinds(events) == ["no_input"]
    assert events[0].t == pytest.approx(14.0, abs=0.021)
    assert not ep.listening


def test_speech_before_the_timeout_cancels_no_input(shared_data: Path) -> None:
    speech = load_phone_audio(shared_data / "fsdd" / "5_jackson_2.wav")
    audio = line_noise(1.0) + speech + line_noise(5.0, seed=4)
    events, _ = run_endpointer(Endpointer(DEFAULTS), audio, listen=(0.0, 3.0))
    assert kinds(events) == ["speech_start", "speech_end"]


def test_listen_none_disarms_and_poll_reports_a_stalled_stream() -> None:
    ep = Endpointer(DEFAULTS)
    ep.listen(0.0, 2.0)
    ep.listen(0.5, None)
    events, _ = run_endpointer(ep, silence(4.0))
    assert events == []
    ep.listen(5.0, 1.0)
    assert ep.poll(5.5) == []
    assert kinds(ep.poll(6.0)) == ["no_input"]
    assert ep.poll(7.0) == []  # reported once


def test_max_length_cuts_and_speech_can_start_again(shared_data: Path) -> None:
    speech = load_phone_audio(shared_data / "recordings" / "digits_16k.wav")
    settings = EndpointSettings(speech_end_ms=3000, max_utterance_s=2.0)
    events, utterances = run_endpointer(Endpointer(settings), line_noise(0.5) + speech)
    assert kinds(events)[:4] == ["speech_start", "max_length", "speech_start", "max_length"]
    for utterance in utterances[:2]:
        assert len(utterance) == pytest.approx(2.0 * 16000, abs=FRAME_BYTES)


@pytest.mark.parametrize("background", ["silence", "noise"])
def test_clicks_and_a_short_burst_do_not_start_speech(background: str) -> None:
    rng = np.random.default_rng(7)
    base = silence(3.0) if background == "silence" else line_noise(3.0, seed=5)
    x = np.frombuffer(base, dtype="<i2").astype(np.float64)
    for at in (0.5, 1.0, 1.5):  # door-slam clicks: 5 ms loud impulses
        x[int(at * 8000):int(at * 8000) + 40] += rng.normal(0, 12000, 40)
    t = np.arange(480) / 8000  # a 60 ms voiced "mm" (110 Hz buzz with harmonics)
    buzz = sum(np.sin(2 * np.pi * 110 * k * t) / k for k in range(1, 8)) * 6000
    x[int(2.2 * 8000):int(2.2 * 8000) + 480] += buzz
    audio = np.clip(x, -32768, 32767).astype("<i2").tobytes()
    events, _ = run_endpointer(Endpointer(DEFAULTS), audio)
    assert events == []
    # the same buzz held for 200 ms is speech
    t = np.arange(1600) / 8000
    x[int(2.2 * 8000):int(2.2 * 8000) + 1600] += sum(
        np.sin(2 * np.pi * 110 * k * t) / k for k in range(1, 8)) * 6000
    audio = np.clip(x, -32768, 32767).astype("<i2").tobytes()
    events, _ = run_endpointer(Endpointer(DEFAULTS), audio)
    assert kinds(events) == ["speech_start", "speech_end"]
    assert 2.2 < events[0].t < 2.45


def test_same_audio_same_events_and_reset_forgets(shared_data: Path) -> None:
    speech = load_phone_audio(shared_data / "fsdd" / "8_nicolas_1.wav")
    audio = line_noise(0.8) + speech + line_noise(1.0)
    ep = Endpointer(DEFAULTS)
    first = run_endpointer(ep, audio)
    ep.reset()
    assert run_endpointer(ep, audio) == first
    # reset in the middle of an utterance: no speech_end for it afterwards
    ep.reset()
    run_endpointer(ep, audio[: len(audio) // 2])
    assert ep.in_speech
    ep.reset()
    assert not ep.in_speech and run_endpointer(ep, silence(1.0))[0] == []


def test_long_input_is_processed_in_20ms_steps(shared_data: Path) -> None:
    speech = load_phone_audio(shared_data / "fsdd" / "1_yweweler_6.wav")
    audio = line_noise(0.8) + speech + line_noise(1.0)
    by_frame, _ = run_endpointer(Endpointer(DEFAULTS), audio, pauses=True)
    ep = Endpointer(DEFAULTS)
    by_block = []
    step = FRAME_BYTES * 5  # 100 ms blocks
    for i in range(0, len(audio), step):
        by_block += ep.feed(audio[i:i + step], i / 16000).events
    assert [(e.kind, round(e.t, 3)) for e in by_block] == [
        (e.kind, round(e.t, 3)) for e in by_frame]


def test_invalid_aggressiveness_is_refused() -> None:
    with pytest.raises(ValueError):
        Endpointer(EndpointSettings(aggressiveness=4))


def test_a_noisy_line_alone_never_starts_speech() -> None:
    for rms in (30.0, 300.0):  # quiet line, and hiss at -40 dBFS
        events, _ = run_endpointer(Endpointer(DEFAULTS), line_noise(20.0, rms=rms, seed=9))
        assert events == []


def test_speech_before_listening_is_reported_for_barge_in(shared_data: Path) -> None:
    """Speech starts are reported whether or not no-input is armed (the prompt still plays)."""
    speech = load_phone_audio(shared_data / "fsdd" / "2_jackson_7.wav")
    ep = Endpointer(DEFAULTS)
    events, _ = run_endpointer(ep, line_noise(0.4) + speech + line_noise(1.0))
    assert kinds(events) == ["speech_start", "speech_end"]
    assert ep.feed(b"", 9.0).events == [] and ep.feed(b"", 9.0).audio == b""
    ep.listen(9.0, 0.5)
    assert kinds(ep.feed(b"", 9.6).events) == ["no_input"]


def test_a_longer_end_silence_for_one_turn_keeps_a_read_out_number_together(
        shared_data: Path) -> None:
    """digits_16k.wav is a number read out in three groups with ~1.1 s pauses."""
    speech = load_phone_audio(shared_data / "recordings" / "digits_16k.wav")
    audio = line_noise(0.5) + speech + line_noise(2.0)
    ep = Endpointer(DEFAULTS)
    events, _ = run_endpointer(ep, audio, listen=(0.0, 5.0))
    assert kinds(events).count("speech_start") >= 2
    ep.listen(40.0, 5.0, speech_end_ms=1500)
    events, utterances = run_endpointer(ep, audio, t0=40.0)
    assert kinds(events) == ["speech_start", "speech_end"]
    assert speech[16000:] in utterances[0]  # all of it from the first digit (~1 s in) on
    ep.listen(60.0, None)  # back to the default for the next turn
    events, _ = run_endpointer(ep, audio, t0=60.0)
    assert kinds(events).count("speech_start") >= 2


def test_a_pause_is_announced_once_per_silence_just_before_the_end(shared_data: Path) -> None:
    # speech_pause lets a recognizer start decoding PREFETCH_LEAD_MS before speech_end; when
    # the caller goes on after a pause, the next silence announces its own.
    digit = load_phone_audio(shared_data / "fsdd" / "4_george_0.wav")
    gap = line_noise(0.25, seed=4)  # shorter than the end silence: one utterance
    audio = line_noise(0.6) + digit + gap + digit + line_noise(1.0, seed=3)
    events, _ = run_endpointer(Endpointer(DEFAULTS), audio, pauses=True)
    assert kinds(events) == ["speech_start", "speech_pause", "speech_pause", "speech_end"]
    assert events[-1].t - events[-2].t == pytest.approx(PREFETCH_LEAD_MS / 1000, abs=0.021)


def test_a_check_point_before_a_long_end_can_end_the_utterance_early(shared_data: Path) -> None:
    # A digits turn waits 1.5 s for the end but checks at the usual 400 ms whether the answer
    # is already complete (VoiceXML's complete/incomplete timeouts): each silence gets a
    # pause (to start decoding) before the check and before the end.
    digit = load_phone_audio(shared_data / "fsdd" / "4_george_0.wav")
    audio = line_noise(0.6) + digit + line_noise(0.6, seed=4) + digit + line_noise(2.0, seed=3)
    ep = Endpointer(DEFAULTS)
    ep.listen(0.0, 5.0, speech_end_ms=1500, check_ms=400)
    events, _ = run_endpointer(ep, audio, pauses=True)
    assert kinds(events) == ["speech_start", "speech_pause", "end_check",
                             "speech_pause", "end_check", "speech_pause", "speech_end"]
    checks = [e.t for e in events if e.kind == "end_check"]
    assert events[-1].t - checks[-1] == pytest.approx(1.1, abs=0.021)

    # The session found the answer complete at the check: the utterance ends there.
    ep = Endpointer(DEFAULTS)
    ep.listen(0.0, 5.0, speech_end_ms=1500, check_ms=400)
    seen = []
    for i, frame in enumerate(frames(line_noise(0.6) + digit + line_noise(2.0, seed=3))):
        for ev in ep.feed(frame, i * 0.02).events:
            seen.append(ev.kind)
            if ev.kind == "end_check":
                ep.end_now()
    assert seen == ["speech_start", "speech_pause", "end_check"]
    assert not ep.in_speech


def test_a_check_point_not_before_the_end_is_ignored(shared_data: Path) -> None:
    digit = load_phone_audio(shared_data / "fsdd" / "4_george_0.wav")
    ep = Endpointer(DEFAULTS)
    ep.listen(0.0, 5.0, check_ms=400)  # the same as the end: nothing to check early
    events, _ = run_endpointer(ep, line_noise(0.6) + digit + line_noise(1.0), pauses=True)
    assert kinds(events) == ["speech_start", "speech_pause", "speech_end"]


@pytest.mark.parametrize("clip", ["1_theo_2", "6_yweweler_4", "8_theo_10"])
def test_a_quiet_short_digit_after_digital_silence_starts_speech(
        shared_data: Path, clip: str) -> None:
    """webrtcvad learns nothing from digital silence (mu-law 0xFF): a quiet, short word right
    after it must still start speech, as it does after a quiet line. (1_theo_2 was the
    "one" that bench_calls' caller 16 said in vain before this.)"""
    speech = load_phone_audio(shared_data / "fsdd" / f"{clip}.wav")
    for pad in (silence, lambda s: line_noise(s, seed=3)):
        events, utterances = run_endpointer(Endpointer(DEFAULTS), pad(1.3) + speech + pad(1.3))
        assert kinds(events) == ["speech_start", "speech_end"]
        assert 1.3 <= events[0].t < 1.3 + len(speech) / 16000
        assert speech in utterances[0]


def test_digital_silence_alone_never_starts_speech() -> None:
    events, _ = run_endpointer(Endpointer(DEFAULTS), silence(20.0), listen=(0.0, 5.0))
    assert kinds(events) == ["no_input"]


@pytest.mark.parametrize("check_ms", [250, 200])
def test_the_early_decode_for_a_short_check_hears_the_usual_end_silence(
        shared_data: Path, check_ms: int) -> None:
    # A menu answer is checked at 250 ms (VOICEBOT_COMPLETE_END_MS): its decode starts 160 ms
    # before the check, so it is ready there, and is told to add what is left of the usual
    # 400 ms, so it decodes the same audio as a usual end would.
    digit = load_phone_audio(shared_data / "fsdd" / "4_george_0.wav")
    ep = Endpointer(DEFAULTS)
    ep.listen(0.0, 5.0, check_ms=check_ms)
    events, _ = run_endpointer(ep, line_noise(0.6) + digit + line_noise(1.0), pauses=True)
    # (The usual pause follows too; a recognizer takes one decode per silence.)
    assert kinds(events)[:2] == ["speech_start", "speech_pause"]
    assert sorted(kinds(events)[2:]) == ["end_check", "speech_end", "speech_pause"]
    pause, end = events[1], events[-1]
    check = next(e for e in events if e.kind == "end_check")
    assert check.t - pause.t == pytest.approx(PREFETCH_LEAD_MS / 1000, abs=0.001)
    usual = DEFAULTS.speech_end_ms / 1000
    assert end.t - check.t == pytest.approx(usual - math.ceil(check_ms / 20) * 0.02, abs=0.001)
    silence_at_pause = usual - (end.t - pause.t)
    assert silence_at_pause + pause.tail_ms / 1000 == pytest.approx(usual, abs=0.001)
    assert pause.t <= check.t
