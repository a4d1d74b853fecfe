"""N simultaneous calls against a real `voicebot serve` over loopback, with real recordings.

Starts the service as a subprocess, places N stand-in calls (each in its own thread, in real
time; by default their starts are spread evenly over --ramp 5 s, as real callers don't all
speak at the same instant; --ramp 0 starts them --stagger apart, i.e. at once) and prints:
the turn gap (the caller's last voiced frame -> the bot's first audio back, which includes the
endpointer's trailing-silence wait) p50/p95/max, gaps in the bot's outgoing audio, errors,
outcomes, and the service process's CPU time and peak memory (from /proc). Each call: at the
main menu, either "one" (FSDD: a phrase of the grammar, which may end the turn at the short
silence) or a sentence asking for the order status (tests/corpus/sentences.yaml, rendered
with espeak-ng); a four-digit order number spoken digit by digit (FSDD, a different speaker
per call); at the confirmation either "yes" (espeak-ng) or a sentence ("Yes, that's
right."); key 9 to finish. Calls alternate, so half the menu and confirmation turns are
phrases and half sentences; the turn gaps are reported per kind (phrases, sentences,
numbers) and per turn. Calls beyond the service's capacity
(VOICEBOT_MAX_CALLS, --capacity) are answered without the bot: for them it prints how fast
/voice told them and queued them.

    python scripts/bench_calls.py --calls 20 [--ramp 5] [--engine auto] [--speed 1]
        [--repeat N]
    python scripts/bench_calls.py --calls 40 --ramp 0 --capacity 20    # overload

--engine is the service's VOICEBOT_ENGINE (auto, the default, takes what ships: the cascade
of Whisper and pocketsphinx when the Whisper weights are installed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import (
    KINDS_OF_TURN,
    TOKEN,
    call_turns,
    pct,
    proc_cpu_s,
    proc_mb,
    running_service,
    speakers,
    tree,
)

from voicebot.replay.standin import TwilioStandin
from voicebot.speech.engines import KINDS


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--engine", default="auto", choices=KINDS,
                    help="VOICEBOT_ENGINE for the service (default auto)")
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--warm", type=int, default=None,
                    help="VOICEBOT_WARM_RECOGNIZERS for the service (default: --calls)")
    ap.add_argument("--capacity", type=int, default=None,
                    help="VOICEBOT_MAX_CALLS for the service (default: its own default); "
                         "calls beyond it are answered at once and queued for a person")
    ap.add_argument("--verbose", action="store_true", help="print every call's turns")
    ap.add_argument("--stagger", type=float, default=0.05,
                    help="seconds between call starts when --ramp is 0 (default 0.05)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run the whole benchmark this many times (a new service each time) "
                         "and print the spread of the p50/p95 per kind of turn")
    ap.add_argument("--ramp", type=float, default=5.0,
                    help="spread the call starts evenly over this many seconds (default 5; "
                         "0: all at once, --stagger apart)")
    return ap.parse_args()


@dataclass
class Run:
    """What the calls gave, and what the service spent on them."""

    results: list = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0
    cpu: float = 0.0
    peak_mb: float = 0.0
    processes: int = 1


def place_calls(args: argparse.Namespace, base: str, service_pid: int) -> Run:
    people = speakers()
    plans = [call_turns(i, people, sentences=True) for i in range(args.calls)]
    run = Run(results=[None] * args.calls)

    def one(i: int) -> None:
        standin = TwilioStandin(base + "/voice", auth_token=TOKEN, api_token=TOKEN,
                                speed=args.speed, max_call_s=120)
        try:
            run.results[i] = standin.run(plans[i])
        except Exception as exc:  # noqa: BLE001 - counted and printed
            run.errors.append(f"call {i}: {type(exc).__name__}: {exc}")

    cpu0 = proc_cpu_s(tree(service_pid))  # processes started later (workers) count from 0
    t0 = time.monotonic()
    threads = []
    for i in range(args.calls):
        threads.append(threading.Thread(target=one, args=(i,)))
        threads[-1].start()
        time.sleep(args.ramp / args.calls if args.ramp > 0 else args.stagger)
    for t in threads:
        t.join()
    run.wall = time.monotonic() - t0
    pids = tree(service_pid)
    run.cpu = proc_cpu_s(pids) - cpu0
    run.peak_mb = proc_mb(pids, "VmHWM")
    run.processes = len(pids)
    return run


def main() -> int:
    args = parse_args()
    summaries: list[dict[str, tuple[float, float]]] = []
    status = 0
    for _ in range(args.repeat):
        code, summary = bench_once(args)
        status = status or code
        summaries.append(summary)
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"load average (1, 5, 15 min): {load}")  # the machine is shared: for the record
    if args.repeat > 1:
        print_spread(summaries)
    return status


def print_spread(summaries: list[dict[str, tuple[float, float]]]) -> None:
    print(f"\nspread over {len(summaries)} runs (p50 / p95 ms, min..max):")
    for kind in sorted({k for s in summaries for k in s}):
        p50 = [s[kind][0] for s in summaries if kind in s]
        p95 = [s[kind][1] for s in summaries if kind in s]
        print(f"  {kind:14} p50 {min(p50):5.0f}..{max(p50):5.0f}   "
              f"p95 {min(p95):5.0f}..{max(p95):5.0f}")


def bench_once(args: argparse.Namespace) -> tuple[int, dict[str, tuple[float, float]]]:
    env = {"VOICEBOT_ENGINE": args.engine,
           "VOICEBOT_WARM_RECOGNIZERS": str(args.warm if args.warm is not None else args.calls)}
    if args.capacity is not None:
        env["VOICEBOT_MAX_CALLS"] = str(args.capacity)
    with running_service(**env) as live:
        run = place_calls(args, live.base, live.pid)
    print(f"calls: {args.calls}, "
          + (f"starts spread evenly over {args.ramp:g} s (--ramp)" if args.ramp > 0
             else f"all at once ({args.stagger:g} s apart, --ramp 0)")
          + f", speed {args.speed:g}x, engine {args.engine}, "
          f"warm recognizers {env['VOICEBOT_WARM_RECOGNIZERS']}, "
          f"capacity {args.capacity or 'default'}, wall {run.wall:.1f} s")
    return report(args, run, live.log)


def report(args: argparse.Namespace, run: Run, service_log: Path
           ) -> tuple[int, dict[str, tuple[float, float]]]:
    done = [r for r in run.results if r is not None and r.streamed]
    turned_away = [r for r in run.results if r is not None and not r.streamed]
    errors = run.errors
    outcomes: dict[str, int] = {}
    for r in done:
        t = r.transcript
        key = f"{t.outcome}/{t.reason}" if t else "no record"
        outcomes[key] = outcomes.get(key, 0) + 1
        if t is None or t.outcome is None or t.reason == "error" or r.sim.timed_out:
            errors.append(f"{r.call_sid}: outcome {key}, timed out {r.sim.timed_out}")
    errors += print_turned_away(turned_away)
    print(f"admitted (streamed) calls: {len(done)}")
    service_errors = [line for line in service_log.read_text().splitlines()
                      if '"level": "error"' in line or "Traceback" in line]
    summary = print_gaps(done)
    if args.verbose:
        print_calls(done)
    print(f"gaps in bot audio: {sum(r.sim.audio_gaps for r in done)}")
    print(f"outcomes: {', '.join(f'{k} x{v}' for k, v in sorted(outcomes.items()))}")
    print(f"errors: {len(errors)} (stand-in/outcome), {len(service_errors)} error log lines "
          "in the service")
    for e in errors[:10]:
        print(f"  {e}")
    turns = sum(len(r.sim.turn_gaps_ms) for r in done)
    print(f"service CPU: {run.cpu:.1f} s over {run.wall:.1f} s = "
          f"{100 * run.cpu / run.wall:.0f}% of one core, {run.cpu / max(1, turns):.2f} s per "
          f"caller turn (all its work) ({os.cpu_count()} cores); peak memory "
          f"(VmHWM, summed over the service and its {run.processes - 1} descendant "
          f"process(es)) {run.peak_mb:.0f} MB")
    print(f"service log: {service_log}")
    return (0 if not errors else 1), summary


def print_turned_away(results: list) -> list[str]:
    """Calls answered without the bot (at capacity): how fast they were told and queued."""
    if not results:
        return []
    errors = []
    for r in results:
        t = r.transcript
        if "<Say>" not in r.twiml or "<Enqueue" not in r.twiml:
            errors.append(f"{r.call_sid}: turned away without an apology and a queue")
        elif t is None or (t.outcome, t.reason) != ("transfer", "service"):
            errors.append(f"{r.call_sid}: turned away, but recorded as "
                          f"{t.outcome if t else None}/{t.reason if t else None}")
    answer_ms = [r.webhook_s * 1000 for r in results]
    print(f"turned away (at capacity): {len(results)} calls, told and queued (the /voice "
          f"answer: <Say> apology + <Enqueue>) in p50 {pct(answer_ms, 0.5):.0f} ms, "
          f"p95 {pct(answer_ms, 0.95):.0f} ms, max {max(answer_ms):.0f} ms")
    return errors


OFF_PLAN = "after a miss"  # turns said after the bot misheard an earlier one


def misheard_at(r) -> float | None:
    """When the bot first failed to take a turn the plan meant it to take (the caller's
    later turns then answer a question the bot did not ask: after a misheard order number,
    "Yes, that's right." answers "Say them one by one" and waits a number's 1.5 s), or
    None. A turn planned to mean nothing (an unclear sentence) is no miss."""
    unclear = [(t.t_start, t.t_end) for t in r.sim.turn_log if t.label == "unclear sentence"
               and t.t_start is not None and t.t_end is not None]
    for rec in (r.transcript.turns if r.transcript else []):
        if rec.kind != "speech" or rec.result not in ("no_match", "low_confidence"):
            continue
        if any(start - 0.5 <= rec.t_start <= end + 0.5 for start, end in unclear):
            continue
        return rec.t_end
    return None


def print_gaps(done: list) -> dict[str, tuple[float, float]]:
    gaps = [g for r in done for g in r.sim.turn_gaps_ms]
    by_kind: dict[str, list[float]] = {}
    for r in done:
        missed = misheard_at(r)
        for turn in r.sim.turn_log:
            if turn.gap_ms is not None:
                off = missed is not None and turn.t_start is not None and turn.t_start > missed
                by_kind.setdefault(OFF_PLAN if off else turn.label, []).append(turn.gap_ms)
    print("turn gap = caller's last voiced frame -> bot's first audio back (includes the "
          "endpointer's trailing silence: 400 ms by default, 1.5 s when collecting digits)")
    kinds: dict[str, list[float]] = {}
    for label, values in by_kind.items():
        kinds.setdefault(KINDS_OF_TURN.get(label, label), []).extend(values)
    rows = [("all", gaps), *sorted(kinds.items()),
            *sorted((k, v) for k, v in by_kind.items() if k not in kinds)]
    summary = {}
    for label, values in rows:
        if values:
            summary[label] = (pct(values, 0.5), pct(values, 0.95))
            print(f"  {label:14} {len(values):3} turns: p50 {pct(values, 0.5):5.0f} ms, "
                  f"p95 {pct(values, 0.95):5.0f} ms, max {max(values):5.0f} ms, "
                  f"mean {statistics.mean(values):5.0f} ms")
    return summary


def print_calls(done: list) -> None:
    for r in done:
        t = r.transcript
        print(f"{r.call_sid}: {t.outcome}/{t.reason} path {t.path}" if t else r.call_sid)
        for turn in r.sim.turn_log:
            print(f"  caller {turn.label:6} voiced until {turn.t_last_voiced}, "
                  f"bot audio at {turn.t_bot_reply}, gap {turn.gap_ms} ms")
        for rec in (t.turns if t else []):
            print(f"  service [{rec.node}] {rec.kind} {rec.heard!r} "
                  f"conf {rec.confidence} end {rec.t_end} reply {rec.t_reply}")


if __name__ == "__main__":
    raise SystemExit(main())
