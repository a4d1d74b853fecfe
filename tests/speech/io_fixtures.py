"""Helpers shared by the speech-I/O tests: writing odd WAV files and padding real speech."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from voicebot.speech.audio import frames, pcm16_to_ulaw, ulaw_to_pcm16
from voicebot.speech.endpoint import Endpointer
from voicebot.speech.types import EndpointEvent


def riff(fmt_tag: int, channels: int, rate: int, bits: int, data: bytes, *,
         extensible: bool = False, declared_data_size: int | None = None) -> bytes:
    """A WAV file's bytes built by hand: damaged and odd headers no library writes, and valid
    files made without the library the reader uses (soundfile), so a test does not check
    the reader against its own writer."""
    block = channels * bits // 8
    if extensible:
        guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt = struct.pack("<HHIIHH", 0xFFFE, channels, rate, rate * block, block, bits)
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", fmt_tag) + guid_tail
    else:
        fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits)
    size = len(data) if declared_data_size is None else declared_data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + body


def to_array(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def line_noise(seconds: float, rms: float = 30.0, seed: int = 0) -> bytes:
    """Low-level noise as a phone line carries it (through mu-law)."""
    rng = np.random.default_rng(seed)
    x = np.clip(rng.normal(0, rms, int(seconds * 8000)), -32768, 32767)
    return ulaw_to_pcm16(pcm16_to_ulaw(x.astype("<i2").tobytes()))


def silence(seconds: float) -> bytes:
    return b"\x00\x00" * int(seconds * 8000)


def run_endpointer(ep: Endpointer, pcm: bytes, t0: float = 0.0,
                   listen: tuple[float, float | None] | None = None, *,
                   pauses: bool = False) -> tuple[list[EndpointEvent], list[bytes]]:
    """Feed PCM frame by frame; returns the events and the utterance audio (one per start).

    The advisory speech_pause events (a decode may start early) are left out unless `pauses`.
    """
    if listen is not None:
        ep.listen(*listen)
    events: list[EndpointEvent] = []
    utterances: list[bytes] = []
    for i, frame in enumerate(frames(pcm)):
        result = ep.feed(frame, t0 + i * 0.02)
        for ev in result.events:
            if ev.kind == "speech_pause" and not pauses:
                continue
            events.append(ev)
            if ev.kind == "speech_start":
                utterances.append(b"")
        if result.audio:
            utterances[-1] += result.audio
    return events, utterances


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
