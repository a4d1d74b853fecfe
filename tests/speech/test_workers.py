"""The worker-process pool with real processes: deadlines, hung and dead workers, a part that
stays broken for a while, health, closing."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests import waiting
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
    waiting.wait_until(condition, limit_s)


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
        # Either the request reaches the dying worker (crashed) or the supervisor has
        # already discarded it and no replacement can start (no worker within the deadline).
        with pytest.raises((WorkerCrashed, WorkerTimeout)):
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


def test_a_worker_that_died_while_idle_never_costs_a_request(pool) -> None:
    dead = pool.pids[0]
    os.kill(dead, signal.SIGKILL)
    wait_until(lambda: Path(f"/proc/{dead}/stat").read_text().split(") ")[1][0] == "Z")
    # every request is answered (none goes to the dead worker), and it is replaced
    assert [pool.call(("echo", n)) for n in range(6)] == list(range(6))
    wait_until(lambda: pool.health().ready == 2 and dead not in pool.pids)
    assert pool.health().restarts == 1


def test_health_tells_a_stopped_worker_and_the_pool_replaces_it_without_traffic(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from voicebot.speech import workers

    monkeypatch.setattr(workers, "STOPPED_IDLE_S", 1.0)
    pool = make_pool(size=2, deadline_s=5.0)
    try:
        hung = pool.pids[0]
        os.kill(hung, signal.SIGSTOP)
        wait_until(lambda: pool.health().stopped == 1 or hung not in pool.pids)
        health = pool.health()
        if hung in pool.pids:  # seen before it was replaced
            assert (health.alive, health.stopped, health.ok) == (1, 1, True)
            assert "1 of 2 test workers ready, 1 stopped" in health.describe("test")
        wait_until(lambda: hung not in pool.pids and pool.health().alive == 2)
        assert "stopped for 1 s while idle" in (pool.health().last_error or "") or \
            pool.health().restarts == 1
    finally:
        pool.close()


def test_every_worker_hung_makes_the_pool_not_ok_until_it_healed() -> None:
    pool = make_pool(size=2, deadline_s=1.0)
    try:
        for pid in pool.pids:
            os.kill(pid, signal.SIGSTOP)
        wait_until(lambda: pool.health().stopped == 2)  # the signal takes a moment
        health = pool.health()
        assert not health.ok and health.describe("test").startswith(
            "0 of 2 test workers ready, 2 stopped")
        for _ in range(2):  # each stopped worker fails one request at its deadline
            with pytest.raises(WorkerTimeout):
                pool.call(("pid",))
        wait_until(lambda: pool.health().ok and pool.health().alive == 2)
        assert pool.call(("echo", "healed")) == "healed"
    finally:
        pool.close()


def test_replacements_get_the_warm_ups_before_their_first_request(pool) -> None:
    assert pool.broadcast(("remember", "the first turn's grammar")) == 2
    for pid in pool.pids:
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: pool.health().alive == 2 and pool.health().restarts == 2)
    assert {pool.call(("recall",)) for _ in range(4)} == {"the first turn's grammar"}


def test_workers_killed_again_and_again_come_back(tmp_path: Path) -> None:
    pool = make_pool(size=2, deadline_s=2.0)
    try:
        end = time.monotonic() + 4.0
        while time.monotonic() < end:  # replacements die while starting, too
            for pid in _worker_children():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
        wait_until(lambda: pool.health().alive == 2)
        assert pool.call(("echo", "back")) == "back"
    finally:
        pool.close()


def _worker_children() -> list[int]:
    """This process's "test" pool workers, those still starting included (from /proc)."""
    pids = []
    for task in Path("/proc/self/task").glob("*/children"):
        for pid in task.read_text().split():
            with contextlib.suppress(OSError):
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if b"voicebot.speech.worker_process" in argv and argv[-2].startswith(b"test-"):
                    pids.append(int(pid))
    return pids
