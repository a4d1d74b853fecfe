"""The worker-process pool with real processes: deadlines, hung and dead workers, a part that
stays broken for a while, health, closing."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from voicebot.speech.workers import (
    WorkerCrashed,
    WorkerError,
    WorkerPool,
    WorkerPoolClosed,
    WorkerRequestError,
    WorkerSpec,
    WorkerStartError,
    WorkerTimeout,
)

INIT = "tests.speech.worker_fixtures:init"
HANDLE = "tests.speech.worker_fixtures:handle"


def make_pool(size: int = 2, deadline_s: float = 5.0, **arg: str) -> WorkerPool:
    return WorkerPool(WorkerSpec(INIT, HANDLE, arg), size, name="test", deadline_s=deadline_s,
                      start_timeout_s=60.0, max_backoff_s=1.0)


def wait_until(condition, limit_s: float = 60.0) -> None:
    """Poll a condition the pool reaches in the background (bounded, not a timing check)."""
    end = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < end, "the pool did not get there"
        time.sleep(0.05)


@pytest.fixture
def pool():
    pool = make_pool()
    yield pool
    pool.close()


def test_requests_run_in_the_workers_and_a_raising_handler_spares_the_worker(pool) -> None:
    payload = bytes(range(256)) * 128
    assert pool.call(("echo", payload)) == payload
    assert {pool.call(("pid",)) for _ in range(6)} <= set(pool.pids)
    with pytest.raises(WorkerRequestError, match="RuntimeError: bad input"):
        pool.call(("raise", "bad input"))
    assert pool.call(("echo", "still here")) == "still here"
    health = pool.health()
    assert (health.ready, health.alive, health.busy, health.restarts) == (2, 2, 0, 0)


def test_a_hung_worker_costs_one_deadline_not_the_pool(tmp_path: Path) -> None:
    pool = make_pool(size=2, deadline_s=1.0)
    try:
        hung = pool.pids[0]
        os.kill(hung, signal.SIGSTOP)
        failures = []
        for _ in range(4):  # some land on the stopped worker: that one times out, once
            try:
                pool.call(("pid",))
            except WorkerTimeout as exc:
                failures.append(str(exc))
        assert len(failures) == 1 and "took longer than 1 s" in failures[0]
        assert hung not in pool.pids
        wait_until(lambda: pool.health().ready == 2)
        assert pool.health().restarts == 1
        assert {pool.call(("pid",)) for _ in range(4)} <= set(pool.pids)
    finally:
        pool.close()


def test_every_worker_hung_still_answers_each_request_by_its_deadline() -> None:
    pool = make_pool(size=2, deadline_s=1.0)
    try:
        for pid in pool.pids:
            os.kill(pid, signal.SIGSTOP)
        results: list[object] = []

        def ask() -> None:
            try:
                results.append(pool.call(("echo", "hi")))
            except WorkerTimeout as exc:
                results.append(exc)

        threads = [threading.Thread(target=ask) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(results) == 4  # nobody waits forever
        assert sum(isinstance(r, WorkerTimeout) for r in results) >= 2
        wait_until(lambda: pool.health().ready == 2)
        assert pool.call(("echo", "back")) == "back"
    finally:
        pool.close()


def slow_request(pool: WorkerPool) -> tuple[threading.Thread, list[object]]:
    """A 30 s request running in a thread, once a worker has it; its answer or error."""
    outcome: list[object] = []

    def ask() -> None:
        try:
            outcome.append(pool.call(("sleep", 30)))
        except WorkerError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=ask)
    thread.start()
    wait_until(lambda: pool.health().busy == 1)
    return thread, outcome


def test_a_worker_killed_mid_request_fails_only_that_request(pool) -> None:
    thread, outcome = slow_request(pool)
    busy = next(pid for pid in pool.pids if pid != pool.call(("pid",)))
    os.kill(busy, signal.SIGKILL)
    thread.join(30)
    assert isinstance(outcome[0], WorkerCrashed) and "exited during the request" in str(
        outcome[0])
    assert pool.call(("echo", 1)) == 1
    wait_until(lambda: pool.health().ready == 2)
    assert busy not in pool.pids and pool.health().last_error


def test_a_part_that_stays_broken_is_retried_until_it_works_again(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    pool = make_pool(size=1, deadline_s=2.0, fail_if=str(broken))
    try:
        broken.write_text("the model file is gone")
        os.kill(pool.pids[0], signal.SIGKILL)
        with pytest.raises(WorkerCrashed):
            pool.call(("pid",))
        wait_until(lambda: "the model file is gone" in (pool.health().last_error or ""))
        assert pool.health().ready == 0
        with pytest.raises(WorkerTimeout, match="no test worker became free"):
            pool.call(("pid",))
        broken.unlink()  # repaired: the next try (backoff at most 1 s here) starts it
        wait_until(lambda: pool.health().ready == 1)
        assert pool.call(("echo", "healed")) == "healed"
    finally:
        pool.close()


def test_a_worker_that_cannot_start_is_an_error_at_once(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.write_text("no espeak-ng here")
    with pytest.raises(WorkerStartError, match="could not start: cannot start: no espeak") as info:
        make_pool(size=2, fail_if=str(broken))
    assert info.value.detail == "cannot start: no espeak-ng here"


def test_closing_fails_what_waits_and_refuses_what_comes(pool) -> None:
    thread, outcome = slow_request(pool)
    pids = pool.pids
    pool.close()
    thread.join(30)
    assert isinstance(outcome[0], WorkerPoolClosed)
    with pytest.raises(WorkerPoolClosed):
        pool.call(("echo", 1))
    assert pool.pids == [] and pool.health().closed
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
