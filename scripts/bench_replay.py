"""How much faster than real time offline replay runs the example suite (target: >= 20x).

Replays tests/scenarios/*.yaml (real FSDD digits and espeak-ng phrases made in a temp dir)
through the real call driver with a real engine, once to render prompts into a fresh TTS
cache (cold) and again with the cache warm, and prints call time, replay time and the
speed-up per scenario and in total. Prints figures; asserts nothing.

    python3 scripts/bench_replay.py [--engine pocketsphinx] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.scenarios.recordings import render  # noqa: E402
from voicebot import logs  # noqa: E402
from voicebot.replay.offline import ReplayEnv  # noqa: E402
from voicebot.replay.scenario import load_scenario  # noqa: E402
from voicebot.settings import Settings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="pocketsphinx",
                        choices=("auto", "vosk", "pocketsphinx"))
    parser.add_argument("--rounds", type=int, default=2,
                        help="runs of the whole suite (the first fills the TTS cache)")
    args = parser.parse_args()
    logs.configure("error", "text")

    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        tmp_path = Path(tmp)
        audio = render(tmp_path / "audio", tmp_path / "tts")
        files = sorted((ROOT / "tests" / "scenarios").glob("*.yaml"))
        scenarios = [load_scenario(f, audio_dirs=[audio]) for f in files]
        started = time.perf_counter()
        env = ReplayEnv.create(args.engine, settings=Settings(), tts_cache=tmp_path / "tts")
        print(f"engine {env.engine.name} ({getattr(env.engine, 'model', '?')}) loaded in "
              f"{time.perf_counter() - started:.1f} s; {len(scenarios)} scenarios; "
              f"{os.cpu_count()} CPUs")
        with env:
            for round_no in range(1, args.rounds + 1):
                label = "cold TTS cache" if round_no == 1 else "warm TTS cache"
                print(f"\nround {round_no} ({label})")
                print(f"  {'scenario':28} {'verdict':7} {'call s':>7} {'replay s':>9} "
                      f"{'speed':>8}")
                call_total = wall_total = 0.0
                for scenario in scenarios:
                    result = env.run(scenario)
                    call_total += result.call_s
                    wall_total += result.wall_s
                    print(f"  {scenario.name:28} {'pass' if result.passed else 'FAIL':7} "
                          f"{result.call_s:7.1f} {result.wall_s:9.2f} "
                          f"{(result.speed or 0):7.0f}x")
                print(f"  {'total':28} {'':7} {call_total:7.1f} {wall_total:9.2f} "
                      f"{call_total / wall_total:7.0f}x  (target >= 20x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
