"""Speech-out figures: worker start-up, render time per prompt (cold), cache hit time, and
how long concurrent callers wait when they all need new prompts at once.

    python scripts/bench_tts.py [--voice en-us] [--rate 170]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from voicebot.speech.tts import PromptRenderer, ulaw_duration

PROMPTS = [
    "You are talking to an automated assistant.",
    "I can help with orders, deliveries and returns. Say agent at any time to reach a person.",
    "Please say your order number, or type it on the keypad.",
    "Thank you. One moment please.",
    "Sorry, I did not catch that. Could you say it again?",
    "I am connecting you to a person now. They will see what you have told me so far.",
    "Your parcel 4 8 1 5 will arrive on Tuesday between nine and twelve.",
    "Goodbye.",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--voice", default="en-us")
    ap.add_argument("--rate", type=int, default=170)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        r = PromptRenderer(Path(tmp), voice=args.voice, rate=args.rate)
        print(f"worker start-up (pyttsx3 + espeak-ng, voice check): "
              f"{(time.perf_counter() - t0) * 1000:.0f} ms")
        cold, audio_s = [], []
        for text in PROMPTS:
            t = time.perf_counter()
            audio = r.render(text)
            cold.append(time.perf_counter() - t)
            audio_s.append(ulaw_duration(audio))
        print(f"cold render: median {statistics.median(cold) * 1000:.0f} ms, max "
              f"{max(cold) * 1000:.0f} ms for prompts of {min(audio_s):.1f}-{max(audio_s):.1f} s"
              f" audio (real-time factor {sum(cold) / sum(audio_s):.3f})")
        t = time.perf_counter()
        for _ in range(100):
            for text in PROMPTS:
                r.render(text)
        hit = (time.perf_counter() - t) / (100 * len(PROMPTS))
        print(f"cache hit: {hit * 1e6:.0f} us per prompt")
        texts = [f"Your ticket number is {n} {n + 1} {n + 2}." for n in range(16)]
        waits: list[float] = []

        def call(text: str) -> None:
            t = time.perf_counter()
            r.render(text)
            waits.append(time.perf_counter() - t)

        threads = [threading.Thread(target=call, args=(x,)) for x in texts]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        print(f"16 callers needing 16 new prompts at once: done in "
              f"{(time.perf_counter() - t) * 1000:.0f} ms; wait median "
              f"{statistics.median(waits) * 1000:.0f} ms, max {max(waits) * 1000:.0f} ms")
        long_text = " ".join(PROMPTS * 20)
        t = time.perf_counter()
        pending = r.submit(long_text)
        r.render(PROMPTS[0])
        cached_wait = time.perf_counter() - t
        pending.result()
        print(f"cached prompt while a {ulaw_duration(pending.result()):.0f} s prompt renders: "
              f"{cached_wait * 1000:.1f} ms (long render took "
              f"{(time.perf_counter() - t) * 1000:.0f} ms)")
        r.close()


if __name__ == "__main__":
    main()
