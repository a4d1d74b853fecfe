"""A steady call load against a real `voicebot serve`, with memory and latency over time.

Starts the service on loopback and keeps --calls stand-in calls going for --minutes (each
line places a new call as soon as its last one ends; the calls are bench_calls' FSDD calls:
a menu answer, a spoken order number, two keys). Every --interval seconds (default 60) it
prints the memory of the service (gunicorn master and worker) and of its speech worker
processes (VmRSS, summed), the turn gaps of the calls that ended in that interval (menu
answers and all turns, p50/p95) and the calls done and failed. At the end: memory at the
first interval and at the last, and the change. The target: memory flat within 10% over
30 minutes at 15 calls.

    python scripts/soak.py --calls 15 --minutes 30
    python scripts/soak.py --calls 4 --minutes 3 --interval 30    # a short check
"""

from __future__ import annotations

import argparse
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import TOKEN, call_turns, pct, proc_mb, running_service, speakers, tree

from voicebot.replay.standin import TwilioStandin


@dataclass
class Tally:
    """What the callers report, collected per interval (thread-safe)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    gaps: dict[str, list[float]] = field(default_factory=dict)
    done: int = 0
    failed: list[str] = field(default_factory=list)

    def add(self, result) -> None:
        t = result.transcript
        with self.lock:
            self.done += 1
            if t is None or t.outcome is None or t.reason == "error" or result.sim.timed_out:
                self.failed.append(f"{result.call_sid}: {t.outcome if t else None}/"
                                   f"{t.reason if t else None}")
            for turn in result.sim.turn_log:
                if turn.gap_ms is not None:
                    self.gaps.setdefault(turn.label, []).append(turn.gap_ms)
                    self.gaps.setdefault("all", []).append(turn.gap_ms)

    def take(self) -> tuple[dict[str, list[float]], int, list[str]]:
        with self.lock:
            out = (self.gaps, self.done, self.failed)
            self.gaps, self.done, self.failed = {}, 0, []
            return out


def caller(line: int, base: str, until: float, tally: Tally, speed: float) -> None:
    """One line: a call after another until `until`."""
    people = speakers()
    standin = TwilioStandin(base + "/voice", auth_token=TOKEN, api_token=TOKEN, speed=speed,
                            max_call_s=180)
    number = line
    while time.monotonic() < until:
        try:
            tally.add(standin.run(call_turns(number, people)))
        except Exception as exc:  # noqa: BLE001 - counted and printed
            with tally.lock:
                tally.failed.append(f"line {line}: {type(exc).__name__}: {exc}")
            time.sleep(1.0)
        number += 1000  # another speaker / recording next time


def memory(pid: int) -> tuple[float, float]:
    """(service: gunicorn master + worker, speech worker processes) VmRSS in MB."""
    service, workers = [], []
    for p in tree(pid):
        try:
            speech = b"worker_process" in Path(f"/proc/{p}/cmdline").read_bytes()
        except OSError:  # ended meanwhile
            continue
        (workers if speech else service).append(p)
    return proc_mb(service), proc_mb(workers)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=15, help="calls going at once")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--interval", type=float, default=60.0, help="seconds between reports")
    ap.add_argument("--engine", default="pocketsphinx")
    ap.add_argument("--speed", type=float, default=1.0)
    args = ap.parse_args()
    with running_service(VOICEBOT_ENGINE=args.engine,
                         VOICEBOT_WARM_RECOGNIZERS=str(args.calls),
                         VOICEBOT_MAX_CALLS=str(max(args.calls, 1))) as live:
        samples = soak(args, live.base, live.pid)
    if len(samples) >= 2:
        first, last = samples[0], samples[-1]
        print(f"memory (service + speech workers): {first:.0f} MB after the first interval, "
              f"{last:.0f} MB at the end: {100 * (last - first) / first:+.1f}%")
    print(f"service stopped with exit code {live.exit_code} (SIGTERM drains); log: {live.log}")
    return 0


def soak(args: argparse.Namespace, base: str, pid: int) -> list[float]:
    tally = Tally()
    start = time.monotonic()
    until = start + args.minutes * 60
    lines = [threading.Thread(target=caller, args=(i, base, until, tally, args.speed),
                              daemon=True) for i in range(args.calls)]
    for i, line in enumerate(lines):
        line.start()
        time.sleep(min(1.0, 5.0 / args.calls) if i else 0)
    print(f"{args.calls} calls at once for {args.minutes:g} min on {base} "
          f"(engine {args.engine}, speed {args.speed:g}x)")
    print(" time | service MB | speech workers MB | calls done | failed | menu p50/p95 ms "
          "| all turns p50/p95 ms")
    totals: list[float] = []
    while True:
        time.sleep(args.interval)
        elapsed = time.monotonic() - start
        service_mb, workers_mb = memory(pid)
        gaps, done, failed = tally.take()
        totals.append(service_mb + workers_mb)
        menu, every = gaps.get("menu", []), gaps.get("all", [])
        print(f"{elapsed / 60:5.1f} | {service_mb:10.0f} | {workers_mb:17.0f} | {done:10d} | "
              f"{len(failed):6d} | {pct(menu, .5):6.0f} / {pct(menu, .95):6.0f} | "
              f"{pct(every, .5):6.0f} / {pct(every, .95):6.0f}", flush=True)
        for line in failed[:3]:
            print(f"      failed: {line}")
        if time.monotonic() >= until and not any(t.is_alive() for t in lines):
            return totals
        if time.monotonic() >= until + 240:
            print("      (calls still going 4 min after the end: stopping anyway)")
            return totals


if __name__ == "__main__":
    raise SystemExit(main())
