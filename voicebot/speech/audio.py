"""Audio plumbing for the phone path: G.711 mu-law, resampling, WAV reading, 20 ms frames.

Everything inside the speech path is 16-bit little-endian mono PCM. The phone network carries
8 kHz mu-law, so `load_phone_audio` puts any recording through exactly that (resample, encode,
decode) to make tests and evaluation hear what a caller's audio would sound like.

No `audioop` (removed in Python 3.13): mu-law on the line uses numpy lookup tables. WAV files
are decoded by libsndfile (`soundfile`, whose wheel bundles it): every width, float, mu-law,
A-law, WAVE_FORMAT_EXTENSIBLE, files cut short. Before that, the header is looked at here,
only so that a file libsndfile would refuse with "Malformed 'fmt ' chunk" or "SF_INFO
struct incomplete" gets an `AudioError` that names the file and says what is wrong with it.
"""

from __future__ import annotations

import io
import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile

from voicebot.errors import VoicebotError
from voicebot.logs import log_event
from voicebot.speech.types import FRAME_BYTES, PHONE_RATE

log = logging.getLogger(__name__)

COMMON_RATES = (8000, 11025, 16000, 22050, 32000, 44100, 48000)


class AudioError(VoicebotError):
    """Audio that cannot be read or converted (missing, empty, not a WAV, unsupported)."""


# --------------------------------------------------------------------------- G.711 mu-law

_BIAS = 0x84


def _build_ulaw_tables() -> tuple[np.ndarray, np.ndarray]:
    """Decode table (256 codes -> int16) and encode table (65536 int16 values -> code).

    Same arithmetic as the ITU G.711 reference (Sun's g711.c), done once for every value.
    """
    codes = np.arange(256, dtype=np.int32)
    u = ~codes & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    decode = np.where(sign != 0, -magnitude, magnitude).astype(np.int16)

    # Encoder of the reference, on 14-bit magnitudes (so results match audioop and G.711).
    v = np.arange(-32768, 32768, dtype=np.int32) >> 2
    mask = np.where(v < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(v), 8159) + (_BIAS >> 2)
    seg_ends = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    seg = np.searchsorted(seg_ends, mag, side="left")
    uval = np.where(seg >= 8, 0x7F, (seg << 4) | ((mag >> (np.minimum(seg, 7) + 1)) & 0x0F))
    encode = ((uval ^ mask) & 0xFF).astype(np.uint8)
    return decode, encode


_ULAW_DECODE, _ULAW_ENCODE = _build_ulaw_tables()


def ulaw_to_pcm16(data: bytes) -> bytes:
    """G.711 mu-law bytes -> 16-bit little-endian PCM (twice as many bytes)."""
    codes = np.frombuffer(data, dtype=np.uint8)
    return _ULAW_DECODE[codes].astype("<i2").tobytes()


def pcm16_to_ulaw(data: bytes) -> bytes:
    """16-bit little-endian PCM -> G.711 mu-law (half the bytes; an odd last byte is dropped)."""
    usable = len(data) - len(data) % 2
    samples = np.frombuffer(data[:usable], dtype="<i2").astype(np.int32)
    return _ULAW_ENCODE[samples + 32768].tobytes()


def ulaw_duration(data: bytes) -> float:
    """Seconds of 8 kHz mu-law audio (one byte per sample)."""
    return len(data) / PHONE_RATE


def pcm_duration(pcm: bytes, rate: int = PHONE_RATE) -> float:
    """Seconds of 16-bit mono PCM at `rate`."""
    return len(pcm) / (2 * rate)


# --------------------------------------------------------------------------- resampling


def resample(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """Resample 16-bit mono PCM with a polyphase filter (exact rational factor, e.g. 80/441)."""
    if src_rate <= 0 or dst_rate <= 0:
        raise AudioError(f"cannot resample from {src_rate} Hz to {dst_rate} Hz")
    usable = len(pcm) - len(pcm) % 2
    if src_rate == dst_rate or usable == 0:
        return pcm[:usable]
    from scipy.signal import resample_poly  # scipy is slow to import; only when needed

    g = gcd(src_rate, dst_rate)
    x = np.frombuffer(pcm[:usable], dtype="<i2").astype(np.float64)
    y = resample_poly(x, dst_rate // g, src_rate // g)
    return np.clip(np.rint(y), -32768, 32767).astype("<i2").tobytes()


# --------------------------------------------------------------------------- WAV files

_PCM, _FLOAT, _ALAW, _ULAW, _EXTENSIBLE = 0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE
_WIDTHS = {_PCM: (8, 16, 24, 32), _FLOAT: (32, 64), _ALAW: (8,), _ULAW: (8,)}
_FORMAT_NAMES = {_PCM: "PCM", _FLOAT: "float", _ALAW: "A-law", _ULAW: "mu-law",
                 0x0002: "MS ADPCM", 0x0011: "IMA ADPCM", 0x0055: "MP3", 0x0031: "GSM 6.10"}
_CONVERT = "convert it to 16-bit PCM, e.g. `sox in.wav -e signed -b 16 out.wav`"


@dataclass(frozen=True)
class _WavHeader:
    tag: int  # format tag (the SubFormat's for WAVE_FORMAT_EXTENSIBLE)
    bits: int
    truncated: bool  # a chunk promises more bytes than the file has

    @property
    def encoding(self) -> str:
        name = _FORMAT_NAMES.get(self.tag, f"format tag 0x{self.tag:04x}")
        return f"{name}, {self.bits}-bit"


def _fmt_and_data(raw: bytes) -> tuple[bytes | None, bytes | None, bool]:
    """The 'fmt ' and 'data' chunks of a RIFF file, and whether a chunk is cut short."""
    fmt = data = None
    truncated = False
    pos = 12
    while pos + 8 <= len(raw) and (fmt is None or data is None):
        chunk_id, (size,) = raw[pos:pos + 4], struct.unpack_from("<I", raw, pos + 4)
        body = raw[pos + 8:pos + 8 + size]
        truncated |= len(body) < size
        if chunk_id == b"fmt ":
            fmt = body
        elif chunk_id == b"data":
            data = body
        pos += 8 + size + (size & 1)  # chunks are word aligned
    return fmt, data, truncated


def _wav_header(path: Path, raw: bytes) -> _WavHeader:
    """The facts of a RIFF/WAVE header that libsndfile's errors leave out; AudioError for a
    header that cannot describe audio we read."""
    if len(raw) < 12 or raw[:4] not in (b"RIFF", b"RIFX") or raw[8:12] != b"WAVE":
        raise AudioError(f"{path}: not a WAV file (no RIFF/WAVE header)")
    if raw[:4] == b"RIFX":
        raise AudioError(f"{path}: big-endian WAV (RIFX) is not supported; {_CONVERT}")
    fmt, data, truncated = _fmt_and_data(raw)
    if fmt is None or len(fmt) < 16:
        raise AudioError(f"{path}: WAV file has no valid 'fmt ' chunk (damaged or truncated)")
    tag, channels, rate, _byte_rate, _block_align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _EXTENSIBLE:
        if len(fmt) < 40:
            raise AudioError(f"{path}: WAVE_FORMAT_EXTENSIBLE header is too short (damaged)")
        (tag,) = struct.unpack_from("<H", fmt, 24)  # first two bytes of the SubFormat GUID
    if data is None:
        raise AudioError(f"{path}: WAV file has no 'data' chunk (damaged or truncated)")
    if channels < 1:
        raise AudioError(f"{path}: WAV header says {channels} channels")
    if rate < 1000 or rate > 384000:
        raise AudioError(f"{path}: WAV header says an implausible sample rate of {rate} Hz")
    header = _WavHeader(tag, bits, truncated)
    if tag in _WIDTHS and bits not in _WIDTHS[tag]:
        raise AudioError(f"{path}: unsupported WAV encoding ({header.encoding}); {_CONVERT}")
    return header


def read_wav(path: str | Path) -> tuple[bytes, int]:
    """Read a WAV file as mono 16-bit PCM and its sample rate.

    Whatever libsndfile decodes: 8-bit unsigned, 16/24/32-bit integer, 32/64-bit float,
    mu-law, A-law (ADPCM and GSM too), plain or WAVE_FORMAT_EXTENSIBLE, any number of
    channels (mixed down to mono by averaging). A file cut short (header promises more data
    than there is) yields the complete frames present, with a warning in the log. Anything
    else raises AudioError naming the file.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise AudioError(f"{path}: is a directory, not a WAV file") from None
    except OSError as exc:
        raise AudioError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not raw:
        raise AudioError(f"{path}: file is empty (0 bytes), not a WAV file")
    header = _wav_header(path, raw)
    try:
        with soundfile.SoundFile(io.BytesIO(raw)) as wav:
            samples, rate, subtype = wav.read(dtype="float64", always_2d=True), \
                wav.samplerate, wav.subtype
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        detail = getattr(exc, "error_string", str(exc))
        raise AudioError(f"{path}: cannot decode this WAV file ({header.encoding}: "
                         f"{detail}); {_CONVERT}") from None
    if header.truncated:
        log_event(log, "audio.wav_truncated", level=logging.WARNING, file=path.name,
                  frames=len(samples))
    if samples.size == 0:
        raise AudioError(f"{path}: WAV file contains no audio samples"
                         + (" (file is truncated)" if header.truncated else ""))
    if subtype in ("FLOAT", "DOUBLE"):  # full scale is +-1.0; anything beyond clips
        samples = np.clip(np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0),
                          -1.0, 1.0) * 32767.0
    else:  # libsndfile scales integers by 1/32768 (16-bit), 1/2^23 (24-bit)...: exact
        samples = samples * 32768.0
    mono = samples.mean(axis=1)
    return np.clip(np.rint(mono), -32768, 32767).astype("<i2").tobytes(), rate


def write_wav(path: str | Path, pcm: bytes, rate: int) -> Path:
    """Write 16-bit mono PCM as a WAV file (for tests, tools and debugging)."""
    path = Path(path)
    usable = len(pcm) - len(pcm) % 2
    soundfile.write(path, np.frombuffer(pcm[:usable], dtype="<i2"), rate, subtype="PCM_16",
                    format="WAV")
    return path


# --------------------------------------------------------------------------- phone audio


def to_phone_rate(pcm: bytes, rate: int) -> bytes:
    """16-bit mono PCM at `rate` -> 8 kHz through mu-law, as the phone network carries it."""
    return ulaw_to_pcm16(pcm16_to_ulaw(resample(pcm, rate, PHONE_RATE)))


def load_phone_audio(path: str | Path) -> bytes:
    """A recording as the caller's audio would reach us: 8 kHz 16-bit mono PCM via mu-law."""
    pcm, rate = read_wav(path)
    return to_phone_rate(pcm, rate)


def frame_rms(pcm: bytes, frame_bytes: int = FRAME_BYTES) -> np.ndarray:
    """RMS of each whole frame of 16-bit PCM (default 20 ms at 8 kHz); a partial tail is left
    out. The one measure of loudness the endpointer and the engine use."""
    x = np.frombuffer(pcm[: len(pcm) // frame_bytes * frame_bytes], dtype="<i2")
    if x.size == 0:
        return np.zeros(0)
    return np.sqrt((x.astype(np.float64).reshape(-1, frame_bytes // 2) ** 2).mean(axis=1))


def frames(pcm: bytes, frame_bytes: int = FRAME_BYTES) -> Iterator[bytes]:
    """Cut PCM into fixed frames (default 20 ms at 8 kHz); the last one is zero-padded."""
    if frame_bytes <= 0:
        raise ValueError("frame_bytes must be positive")
    for start in range(0, len(pcm), frame_bytes):
        chunk = pcm[start:start + frame_bytes]
        if len(chunk) < frame_bytes:
            chunk += b"\x00" * (frame_bytes - len(chunk))
        yield chunk
