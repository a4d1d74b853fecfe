"""How the endpointer behaves on real speech: FSDD digits padded with silence or line noise.

Prints, per VAD aggressiveness and speech-start setting: how many clips got exactly one
utterance, missed ones, split ones, the median delay from the real onset (end of padding) to
speech_start, the median delay from the end of the clip to speech_end, false starts on
noise-only audio, and the utterances found in recordings/digits_16k.wav.

    python scripts/bench_endpoint.py [--per-digit 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from voicebot.settings import EndpointSettings
from voicebot.speech.audio import frames, load_phone_audio, pcm16_to_ulaw, ulaw_to_pcm16
from voicebot.speech.endpoint import Endpointer

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
PAD_S = 1.0


def noise(seconds: float, rms: float, rng: np.random.Generator) -> bytes:
    n = int(seconds * 8000)
    x = rng.normal(0, rms, n) if rms else np.zeros(n)
    return ulaw_to_pcm16(pcm16_to_ulaw(np.clip(x, -32768, 32767).astype("<i2").tobytes()))


def run(ep: Endpointer, pcm: bytes) -> list[tuple[str, float]]:
    out = []
    for i, fr in enumerate(frames(pcm)):
        for ev in ep.feed(fr, i * 0.02).events:
            out.append((ev.kind, ev.t))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-digit", type=int, default=2, help="clips per speaker and digit")
    ap.add_argument("--aggr", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--start", type=int, nargs="+", default=[60, 120, 200], help="start ms")
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    clips = []
    for wav in sorted((DATA / "fsdd").glob("*.wav")):
        index = wav.stem.split("_")[2]
        if int(index) < args.per_digit:
            clips.append(load_phone_audio(wav))
    long_pcm = load_phone_audio(DATA / "recordings" / "digits_16k.wav")
    ep = Endpointer(EndpointSettings())
    fr = list(frames(long_pcm))
    t = time.perf_counter()
    for _ in range(5):
        for i, f in enumerate(fr):
            ep.feed(f, i * 0.02)
    cost = (time.perf_counter() - t) / (5 * len(fr))
    print(f"cost: {cost * 1e6:.0f} us per 20 ms frame ({0.02 / cost:.0f} calls per core)")
    print(f"{len(clips)} FSDD clips, padded {PAD_S}s each side")
    print("noise  aggr start end  | one  miss split | onset->start med  end->speech_end med"
          " | false starts/60s noise | digits_16k utterances")
    for rms in (0, 30, 100):
        for aggr in args.aggr:
            for start_ms in args.start:
                settings = EndpointSettings(aggressiveness=aggr, speech_start_ms=start_ms,
                                        speech_end_ms=400, max_utterance_s=15.0)
                row(settings, rms, clips, long_pcm, rng)


def row(s: EndpointSettings, rms: float, clips: list[bytes], long_pcm: bytes,
        rng: np.random.Generator) -> None:
    """One line of the table: these settings on this line-noise level."""
    one = miss = split = 0
    d_start, d_end = [], []
    for pcm in clips:
        ep = Endpointer(s)
        audio = noise(PAD_S, rms, rng) + pcm + noise(PAD_S, rms, rng)
        evs = run(ep, audio)
        starts = [t for k, t in evs if k == "speech_start"]
        ends = [t for k, t in evs if k == "speech_end"]
        if not starts:
            miss += 1
            continue
        if len(starts) == 1:
            one += 1
        else:
            split += 1
        d_start.append(starts[0] - PAD_S)
        if ends:
            d_end.append(ends[-1] - (PAD_S + len(pcm) / 16000))
    ep = Endpointer(s)
    false = sum(k == "speech_start" for k, _ in run(ep, noise(60, rms, rng)))
    ep = Endpointer(s)
    n_long = sum(k == "speech_start" for k, _ in run(
        ep, noise(0.5, rms, rng) + long_pcm + noise(1, rms, rng)))
    print(f"{rms:5} {s.aggressiveness:4} {s.speech_start_ms:5} {s.speech_end_ms:4} |"
          f" {one:4} {miss:4} {split:5} |"
          f" {statistics.median(d_start) if d_start else float('nan'):15.3f}"
          f"  {statistics.median(d_end) if d_end else float('nan'):18.3f} |"
          f" {false:22} | {n_long}")


if __name__ == "__main__":
    main()
