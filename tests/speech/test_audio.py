"""Audio plumbing on real recordings and on every kind of bad WAV a user may hand us."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.speech.io_fixtures import riff, to_array, write
from voicebot.errors import VoicebotError
from voicebot.speech.audio import (
    AudioError,
    frames,
    load_phone_audio,
    pcm16_to_ulaw,
    read_wav,
    resample,
    ulaw_duration,
    ulaw_to_pcm16,
    write_wav,
)

RATES = (8000, 16000, 22050, 44100)


def sine(rate: int, seconds: float = 1.0, freq: float = 440.0, amp: float = 8000) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return np.rint(amp * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def dominant_freq(pcm: bytes, rate: int) -> float:
    x = to_array(pcm)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


# ------------------------------------------------------------------------------ mu-law


def test_ulaw_known_codes_match_g711() -> None:
    # G.711: 0xFF and 0x7F are the two zeros, 0x80 / 0x00 the extremes.
    assert ulaw_to_pcm16(bytes([0xFF, 0x7F, 0x80, 0x00])) == np.array(
        [0, 0, 32124, -32124], dtype="<i2").tobytes()
    assert pcm16_to_ulaw(np.array([0, 32767, -32768], dtype="<i2").tobytes()) == bytes(
        [0xFF, 0x80, 0x00])


def test_ulaw_round_trip_of_every_code_is_identity() -> None:
    codes = bytes(range(256))
    back = pcm16_to_ulaw(ulaw_to_pcm16(codes))
    # The two zero codes (0x7F, 0xFF) both decode to 0, which encodes as 0xFF.
    assert [a for a, b in zip(codes, back, strict=True) if a != b] == [0x7F]


def test_ulaw_error_is_small_relative_to_the_signal(shared_data: Path) -> None:
    pcm, _ = read_wav(shared_data / "recordings" / "digits_16k.wav")
    back = ulaw_to_pcm16(pcm16_to_ulaw(pcm))
    x, y = to_array(pcm), to_array(back)
    snr = 10 * np.log10(np.sum(x**2) / np.sum((x - y) ** 2))
    assert snr > 30  # G.711 gives roughly 35-38 dB on speech
    assert len(pcm16_to_ulaw(pcm)) == len(pcm) // 2
    assert ulaw_duration(pcm16_to_ulaw(pcm)) == pytest.approx(len(pcm) / 2 / 8000)


def test_ulaw_drops_an_odd_trailing_byte() -> None:
    assert pcm16_to_ulaw(b"\x00\x00\x01") == b"\xff"
    assert ulaw_to_pcm16(b"") == b"" and pcm16_to_ulaw(b"") == b""


# ------------------------------------------------------------------------------ resampling


@pytest.mark.parametrize("src", RATES)
@pytest.mark.parametrize("dst", RATES)
def test_resample_keeps_duration_and_pitch(src: int, dst: int) -> None:
    out = resample(sine(src), src, dst)
    assert abs(len(out) // 2 - dst) <= 1
    assert dominant_freq(out, dst) == pytest.approx(440, abs=2)


def test_resample_down_removes_what_8k_cannot_carry() -> None:
    # 5 kHz is above the 4 kHz Nyquist limit of phone audio: it must be filtered, not aliased.
    out = to_array(resample(sine(44100, freq=5000), 44100, 8000))
    assert np.sqrt(np.mean(out**2)) < 8000 / np.sqrt(2) * 0.05


def test_resample_rejects_nonsense_rates() -> None:
    with pytest.raises(AudioError):
        resample(b"\x00\x00", 0, 8000)


# ------------------------------------------------------------------------------ real recordings


@pytest.mark.parametrize(("name", "rate", "seconds"), [
    ("digits_16k.wav", 16000, 8.31), ("one_two_three_44k.wav", 44100, 2.74)])
def test_read_real_recordings(shared_data: Path, name: str, rate: int, seconds: float) -> None:
    pcm, got_rate = read_wav(shared_data / "recordings" / name)
    assert got_rate == rate
    assert len(pcm) / 2 / rate == pytest.approx(seconds, abs=0.01)
    phone = load_phone_audio(shared_data / "recordings" / name)
    assert len(phone) / 2 / 8000 == pytest.approx(seconds, abs=0.01)
    # Phone audio is what the 8 kHz version of the recording sounds like through mu-law.
    reference = to_array(resample(pcm, rate, 8000))
    got = to_array(phone)
    assert np.corrcoef(reference, got)[0, 1] > 0.99


def test_fsdd_clip_is_already_at_phone_rate(shared_data: Path) -> None:
    path = shared_data / "fsdd" / "7_jackson_12.wav"
    pcm, rate = read_wav(path)
    assert rate == 8000
    assert to_array(load_phone_audio(path)).shape == to_array(pcm).shape


@pytest.mark.parametrize("sox_args", [
    ["-b", "8"], ["-b", "24"], ["-b", "32"], ["-e", "floating-point", "-b", "32"],
    ["-c", "2"], ["-r", "22050"], ["-e", "u-law", "-b", "8"], ["-e", "a-law", "-b", "8"]])
def test_sox_written_variants_read_like_the_original(
        shared_data: Path, tmp_path: Path, sox_args: list[str]) -> None:
    """The same recording converted by sox to other widths/encodings/channels reads the same."""
    src = shared_data / "recordings" / "one_two_three_44k.wav"
    out = tmp_path / "variant.wav"
    subprocess.run(["sox", str(src), *sox_args, str(out)], check=True, capture_output=True)
    ref = to_array(load_phone_audio(src))
    got = to_array(load_phone_audio(out))
    assert len(got) == pytest.approx(len(ref), abs=2)
    n = min(len(ref), len(got))
    assert np.corrcoef(ref[:n], got[:n])[0, 1] > 0.98


# ------------------------------------------------------------------------------ hand-made WAVs


def test_stereo_is_mixed_to_mono(tmp_path: Path) -> None:
    left = np.full(800, 1000, dtype="<i2")
    right = np.full(800, 3000, dtype="<i2")
    data = np.column_stack([left, right]).astype("<i2").tobytes()
    pcm, rate = read_wav(write(tmp_path / "s.wav", riff(1, 2, 8000, 16, data)))
    assert rate == 8000
    assert set(to_array(pcm)) == {2000.0}


def test_8bit_unsigned_is_centred(tmp_path: Path) -> None:
    data = bytes([128, 255, 0, 128])
    pcm, _ = read_wav(write(tmp_path / "u8.wav", riff(1, 1, 8000, 8, data)))
    assert list(to_array(pcm)) == [0, 127 * 256, -128 * 256, 0]


def test_24bit_and_32bit_keep_the_top_16_bits(tmp_path: Path) -> None:
    data24 = b"".join(int(v).to_bytes(3, "little", signed=True) for v in (0x123456, -0x123456))
    pcm, _ = read_wav(write(tmp_path / "s24.wav", riff(1, 1, 16000, 24, data24)))
    assert list(to_array(pcm)) == pytest.approx([0x1234, -0x1234], abs=1)
    data32 = np.array([0x12345678, -0x12345678], dtype="<i4").tobytes()
    pcm, _ = read_wav(write(tmp_path / "s32.wav", riff(1, 1, 16000, 32, data32)))
    assert list(to_array(pcm)) == pytest.approx([0x1234, -0x1234], abs=1)


def test_float_and_extensible_headers(tmp_path: Path) -> None:
    data = np.array([0.0, 0.5, -0.5, 2.0], dtype="<f4").tobytes()
    for ext in (False, True):
        path = write(tmp_path / f"f{ext}.wav", riff(3, 1, 22050, 32, data, extensible=ext))
        pcm, rate = read_wav(path)
        assert rate == 22050
        assert list(to_array(pcm)) == pytest.approx([0, 16384, -16384, 32767], abs=1)
    pcm16 = np.array([5, -5], dtype="<i2").tobytes()
    pcm, _ = read_wav(write(tmp_path / "x16.wav", riff(1, 1, 8000, 16, pcm16, extensible=True)))
    assert pcm == pcm16


def test_truncated_file_yields_the_frames_that_are_there(tmp_path: Path) -> None:
    data = np.arange(100, dtype="<i2").tobytes()
    full = riff(1, 1, 8000, 16, data, declared_data_size=1000)  # header promises 1000 bytes
    pcm, _ = read_wav(write(tmp_path / "t.wav", full[:-1]))  # and half a sample is missing
    assert list(to_array(pcm)) == list(range(99))


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    pcm = sine(16000, 0.1)
    assert read_wav(write_wav(tmp_path / "w.wav", pcm, 16000)) == (pcm, 16000)


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty"),
    (b"ID3\x03\x00 this is an mp3, honestly", "not a WAV"),
    (b"RIFF\x00\x00\x00\x00WAVE", "fmt"),
    (riff(1, 1, 8000, 16, b"")[:44], "no audio"),
    (riff(1, 1, 8000, 16, b"\x00" * 10)[:36], "data"),  # cut right after the fmt chunk
    (riff(2, 1, 8000, 4, b"\x00" * 10), "ADPCM"),
    (riff(1, 1, 8000, 12, b"\x00" * 12), "unsupported"),
    (riff(1, 0, 8000, 16, b"\x00" * 12), "channels"),
    (riff(1, 1, 0, 16, b"\x00" * 12), "sample rate"),
])
def test_bad_files_give_a_clear_error_naming_the_file(
        tmp_path: Path, content: bytes, message: str) -> None:
    path = write(tmp_path / "bad.wav", content)
    with pytest.raises(AudioError) as info:
        load_phone_audio(path)
    assert isinstance(info.value, VoicebotError)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="cannot read"):
        read_wav(tmp_path / "nope.wav")
    with pytest.raises(AudioError, match="directory"):
        read_wav(tmp_path)


# ------------------------------------------------------------------------------ frames


def test_frames_are_20ms_and_the_last_is_zero_padded() -> None:
    pcm = bytes(range(256)) * 3  # 768 bytes = 2 full frames + 128 bytes
    out = list(frames(pcm))
    assert [len(f) for f in out] == [320, 320, 320]
    assert b"".join(out)[:768] == pcm and out[-1][128:] == b"\x00" * 192
    assert list(frames(b"")) == []
    assert [len(f) for f in frames(b"\x01" * 10, frame_bytes=4)] == [4, 4, 4]
