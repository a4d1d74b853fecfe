#!/usr/bin/env python3
"""The worker-process pool (voicebot/speech/workers.py) against
concurrent.futures.ProcessPoolExecutor with an initializer: cost per request, and what a
dead or hung worker does to each. Prints figures; decode throughput with the real engine is
`scripts/bench_digits.py --concurrency`.

    python scripts/bench_workers.py [--requests 2000] [--payload-kb 32]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import statistics
import sys
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# the pool's workers import this script's functions by module name
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")) if p)

from voicebot.speech.workers import WorkerError, WorkerPool, WorkerSpec  # noqa: E402

WORKERS = 2
DEADLINE_S = 2.0
_state: dict = {}


def init(arg: object = None) -> dict:
    _state["pid"] = os.getpid()
    return _state


def handle(state: dict, request: tuple) -> object:
    op, value = request
    if op == "sleep":
        time.sleep(value)
    return value if op == "echo" else state["pid"]


def ppe_task(request: tuple) -> object:
    return handle(_state, request)


def pids_of(ppe: ProcessPoolExecutor) -> list[int]:
    for _ in range(WORKERS * 2):  # make sure every worker has started
        ppe.submit(ppe_task, ("pid", None)).result()
    return sorted(ppe._processes)  # noqa: SLF001 - only to find a worker to kill


def new_pool() -> WorkerPool:
    return WorkerPool(WorkerSpec("bench_workers:init", "bench_workers:handle"), WORKERS,
                      name="bench", deadline_s=DEADLINE_S, max_backoff_s=1.0)


def new_ppe() -> ProcessPoolExecutor:
    return ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn"),
                               initializer=init)


def per_request(requests: int, payload: bytes) -> None:
    pool, ppe = new_pool(), new_ppe()
    pids_of(ppe)
    runs = {
        "WorkerPool.call": lambda: pool.call(("echo", payload)),
        "ProcessPoolExecutor": lambda: ppe.submit(ppe_task, ("echo", payload)).result(),
    }
    for label, run in runs.items():
        times = []
        for _ in range(requests):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        wall = time.perf_counter()
        threads = [threading.Thread(target=_repeat, args=(run, requests // 4))
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - wall
        print(f"  {label:22} one at a time: median {statistics.median(times) * 1e6:6.0f} us, "
              f"p95 {sorted(times)[int(len(times) * 0.95)] * 1e6:6.0f} us; 4 threads: "
              f"{requests / wall:6.0f} requests/s")
    pool.close()
    ppe.shutdown()


def after_kill_pool() -> str:
    pool = new_pool()
    results: list[str] = []

    def ask() -> None:
        try:
            pool.call(("sleep", 1.0))
            results.append("ok")
        except WorkerError:
            results.append("failed")

    threads = [threading.Thread(target=ask) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    os.kill(pool.pids[0], signal.SIGKILL)
    for t in threads:
        t.join()
    later = sum(_ok(lambda: pool.call(("pid", None))) for _ in range(10))
    pool.close()
    return f"{results.count('failed')} of {WORKERS} in flight failed; {later} of 10 later ok"


def after_kill_ppe() -> str:
    ppe = new_ppe()
    victim = pids_of(ppe)[0]
    futures = [ppe.submit(ppe_task, ("sleep", 1.0)) for _ in range(WORKERS)]
    time.sleep(0.3)
    os.kill(victim, signal.SIGKILL)
    failed = sum(not _ok(f.result) for f in futures)
    later = sum(_ok(lambda: ppe.submit(ppe_task, ("pid", None)).result()) for _ in range(10))
    ppe.shutdown(wait=False, cancel_futures=True)
    return f"{failed} of {WORKERS} in flight failed; {later} of 10 later ok"


def after_hang_pool() -> str:
    pool = new_pool()
    os.kill(pool.pids[0], signal.SIGSTOP)
    t0 = time.perf_counter()
    outcomes = [_ok(lambda: pool.call(("pid", None))) for _ in range(20)]
    wall = time.perf_counter() - t0
    health = pool.health()
    pool.close()
    return (f"{outcomes.count(False)} of 20 failed (deadline {DEADLINE_S:g} s), all 20 took "
            f"{wall:.1f} s; workers restarted {health.restarts}, ready {health.ready}")


def after_hang_ppe() -> str:
    ppe = new_ppe()
    victim = pids_of(ppe)[0]
    os.kill(victim, signal.SIGSTOP)
    t0 = time.perf_counter()
    futures: list[Future] = []
    outcomes = []
    for _ in range(20):
        future = ppe.submit(ppe_task, ("pid", None))
        futures.append(future)
        try:
            future.result(timeout=DEADLINE_S)
            outcomes.append(True)
        except FutureTimeout:
            outcomes.append(False)
    wall = time.perf_counter() - t0
    stuck = sum(not f.done() for f in futures)
    os.kill(victim, signal.SIGKILL)  # the only way to end it: breaks the whole executor
    ppe.shutdown(wait=False, cancel_futures=True)
    return (f"{outcomes.count(False)} of 20 timed out, all 20 took {wall:.1f} s; {stuck} still "
            "stuck behind the hung worker, which it cannot stop")


def _repeat(run, times: int) -> None:
    for _ in range(times):
        run()


def _ok(run) -> bool:
    try:
        run()
        return True
    except Exception:  # noqa: BLE001 - counting failures of any kind
        return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--payload-kb", type=int, default=32,
                    help="bytes per request (32 KB: 2 s of 8 kHz PCM, a typical utterance)")
    args = ap.parse_args()
    print(f"{WORKERS} workers, {os.cpu_count()} CPUs; per request ({args.payload_kb} KB "
          f"echoed, {args.requests} requests):")
    per_request(args.requests, os.urandom(args.payload_kb * 1024))
    print(f"a worker killed (SIGKILL) during {WORKERS} one-second requests:")
    print(f"  {'WorkerPool':22} {after_kill_pool()}")
    print(f"  {'ProcessPoolExecutor':22} {after_kill_ppe()}")
    print(f"a worker hung (SIGSTOP), then 20 requests one after another, {DEADLINE_S:g} s each:")
    print(f"  {'WorkerPool':22} {after_hang_pool()}")
    print(f"  {'ProcessPoolExecutor':22} {after_hang_ppe()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
