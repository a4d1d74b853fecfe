"""The same calls through 1, 2 and 3 `voicebot serve` instances sharing one PostgreSQL behind
nginx (round-robin), on this machine.

For each instance count: a throwaway PostgreSQL database, the instances (tests/multihost.py:
`voicebot serve` with settings in the environment, deploy/nginx.conf in front), then N
stand-in calls through the load balancer, in real time, with real recordings (the calls of
scripts/bench_calls.py: "one" at the menu, a spoken order number, key 1, key 9). Prints calls
served (ended by the bot or handed over, as bench_calls counts them: not a fault, not cut
off), their outcomes, turn gaps p50/p95 (the caller's last voiced frame -> the bot's first
audio back), errors (stand-in failures, faults, error log lines) and how the streams spread
over the instances; then each count's figures as ratios to one instance. All instances
share this machine's cores, so the ratios show what spreading a call over hosts costs, not
what more hosts add.

    python scripts/bench_hosts.py [--calls 20] [--instances 1,2,3] [--ramp 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_calls import call_turns, pct, speakers  # noqa: E402

from tests.multihost import API_TOKEN, AUTH_TOKEN, Hosts  # noqa: E402
from tests.pg import PostgresCluster  # noqa: E402
from voicebot.replay.standin import TwilioStandin  # noqa: E402


@dataclass
class Figures:
    instances: int
    calls: int
    served: int = 0
    outcomes: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    gaps: dict[str, list[float]] = field(default_factory=dict)
    spread: Counter = field(default_factory=Counter)
    wall_s: float = 0.0

    def gap(self, label: str, q: float) -> float:
        return pct(self.gaps.get(label, []), q)


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--instances", default="1,2,3",
                    help="comma-separated instance counts (default 1,2,3)")
    ap.add_argument("--ramp", type=float, default=5.0,
                    help="spread the call starts over this many seconds (default 5)")
    ap.add_argument("--speed", type=float, default=1.0)
    return ap.parse_args()


def run(cluster: PostgresCluster, count: int, args: argparse.Namespace) -> Figures:
    tmp = Path(tempfile.mkdtemp(prefix=f"bench_hosts_{count}_"))
    warm = max(1, -(-args.calls // count))  # each instance serves its share of the calls
    figures = Figures(count, args.calls)
    with Hosts(cluster, count, tmp, env={"VOICEBOT_WARM_RECOGNIZERS": str(warm),
                                         "VOICEBOT_LOG_LEVEL": "info"}) as hosts:
        people = speakers()
        plans = [call_turns(i, people) for i in range(args.calls)]
        results: list = [None] * args.calls

        def one(i: int) -> None:
            standin = TwilioStandin(hosts.lb_url + "/voice", auth_token=AUTH_TOKEN,
                                    api_token=API_TOKEN, speed=args.speed, max_call_s=120)
            try:
                results[i] = standin.run(plans[i])
            except Exception as exc:  # noqa: BLE001 - counted and printed
                figures.errors.append(f"call {i}: {type(exc).__name__}: {exc}")

        started = time.monotonic()
        threads = []
        for i in range(args.calls):
            threads.append(threading.Thread(target=one, args=(i,)))
            threads[-1].start()
            time.sleep(args.ramp / args.calls)
        for thread in threads:
            thread.join()
        figures.wall_s = time.monotonic() - started
        for r in filter(None, results):
            t = r.transcript
            figures.outcomes[f"{t.outcome}/{t.reason}" if t else "no record"] += 1
            if t is None or t.outcome is None or t.reason == "error" or r.sim.timed_out:
                figures.errors.append(f"{r.call_sid}: outcome "
                                      f"{(t.outcome, t.reason) if t else 'no record'}, "
                                      f"timed out {r.sim.timed_out}")
            else:
                figures.served += 1
            for turn in r.sim.turn_log:
                if turn.gap_ms is not None:
                    figures.gaps.setdefault(turn.label, []).append(turn.gap_ms)
            figures.spread.update(hosts.served("call.started", r.call_sid))
        figures.errors += hosts.error_lines()
    print(f"logs: {tmp}", flush=True)
    return figures


def report(all_figures: list[Figures]) -> None:
    print("\ninstances | calls served | errors | menu gap p50/p95 ms | number gap p50/p95 ms "
          "| streams per instance | wall s")
    for f in all_figures:
        spread = "/".join(str(f.spread.get(i, 0)) for i in range(f.instances))
        print(f"{f.instances} | {f.served}/{f.calls} | {len(f.errors)} | "
              f"{f.gap('menu', 0.5):.0f} / {f.gap('menu', 0.95):.0f} | "
              f"{f.gap('digits', 0.5):.0f} / {f.gap('digits', 0.95):.0f} | {spread} | "
              f"{f.wall_s:.0f}")
    for f in all_figures:
        print(f"outcomes with {f.instances}: "
              + ", ".join(f"{k} x{v}" for k, v in sorted(f.outcomes.items())))
    base = all_figures[0]
    print(f"\nas ratios to {base.instances} instance(s) (the same 2 cores shared by all):")
    for f in all_figures[1:]:
        def ratio(label: str, q: float, f: Figures = f) -> str:
            return f"{f.gap(label, q) / base.gap(label, q):.2f}"

        print(f"{f.instances}: calls served {f.served / max(1, base.served):.2f}, menu gap "
              f"p50 {ratio('menu', 0.5)} p95 {ratio('menu', 0.95)}, number gap p50 "
              f"{ratio('digits', 0.5)} p95 {ratio('digits', 0.95)}")
    for f in all_figures:
        for error in f.errors[:5]:
            print(f"  [{f.instances} instances] {error}")


def main() -> int:
    args = parse_args()
    counts = [int(n) for n in args.instances.split(",")]
    cluster = PostgresCluster.start()
    try:
        figures = []
        for count in counts:
            print(f"{count} instance(s), {args.calls} calls ...", flush=True)
            figures.append(run(cluster, count, args))
    finally:
        cluster.remove()
    report(figures)
    return 0 if all(not f.errors for f in figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
