"""Worker processes: N processes that each run an initializer once and then a handler per
request, with a deadline per request and workers replaced when they die or hang.

Used by the decoder pool (one pocketsphinx decoder per CPU) and the speech worker (pyttsx3).
Each worker is a fresh interpreter (worker_process.py) that answers "ready" once
`initializer(arg)` has returned its state, then `handler(state, request)` per request.

A request has a deadline: waiting for a free worker and the answer together. When it passes,
the request fails with WorkerTimeout and its worker is killed and replaced, so a hung worker
(SIGSTOP, a native loop) costs one deadline, not the pool. A worker that dies fails only the
request it had (WorkerCrashed); one found dead or stopped while idle is replaced before a
request reaches it (stopped: after STOPPED_IDLE_S, so the pool heals without traffic too).
A supervisor thread starts replacements, with backoff while they fail, and never gives up,
so the pool does not stay empty; what was broadcast (warm-ups) is run in each replacement
before it takes requests. `health()` says how it is, without asking the workers anything.

Why not concurrent.futures.ProcessPoolExecutor with an initializer: when one of its workers
dies the whole executor is broken (every pending and later future fails until it is
rebuilt); it cannot stop one hung task; and a worker stopped while waiting for work holds
its call queue's lock, so the others get nothing either (scripts/bench_workers.py).
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import threading
import time
import weakref
from collections import deque
from typing import Any

from voicebot.logs import log_event
from voicebot.speech.worker_process import STOP_GRACE_S, WorkerProcess, WorkerSpec
from voicebot.speech.worker_types import (
    PoolHealth,
    WorkerCrashed,
    WorkerError,
    WorkerPoolClosed,
    WorkerRequestError,
    WorkerStartError,
    WorkerTimeout,
)

__all__ = ["Lease", "PoolHealth", "WorkerCrashed", "WorkerError", "WorkerPool",
           "WorkerPoolClosed", "WorkerRequestError", "WorkerSpec", "WorkerStartError",
           "WorkerTimeout"]

log = logging.getLogger(__name__)

BACKOFF_FIRST_S = 0.5  # after a failed start; doubles up to max_backoff_s
MAX_BACKOFF_S = 5.0  # a part that was broken for a while is back within seconds of healing
CHECK_EVERY_S = 0.5  # how often the supervisor looks at idle workers
STOPPED_IDLE_S = 10.0  # an idle worker stopped this long is hung: replaced
MAX_WARMUPS = 8  # broadcast requests kept to warm replacements


def _new_worker(spec: WorkerSpec, label: str) -> WorkerProcess:
    try:
        return WorkerProcess(spec, label)
    except OSError as exc:
        raise WorkerStartError(f"could not start a {label} worker: {exc}") from None


def _wait_ready(worker: WorkerProcess, name: str, timeout: float, answer: str = "ready") -> None:
    try:
        status, detail = worker.recv(timeout)
    except TimeoutError:
        worker.kill()
        raise WorkerStartError(f"a {name} worker did not start within {timeout:.0f} s") from None
    except (EOFError, OSError):
        worker.kill()
        raise WorkerStartError(f"a {name} worker exited while starting") from None
    if status != answer:
        worker.kill()
        raise WorkerStartError(f"a {name} worker could not start: {detail}", detail)


# ---------------------------------------------------------------------- the pool


class _Core:
    """The pool's state and rules, shared by the handle, leases and the supervisor thread
    (the handle alone may be garbage collected, which closes the pool)."""

    def __init__(self, spec: WorkerSpec, size: int, name: str, deadline_s: float,
                 start_timeout_s: float, max_backoff_s: float) -> None:
        self.spec, self.size, self.name = spec, size, name
        self.deadline_s, self.start_timeout_s = deadline_s, start_timeout_s
        self.max_backoff_s = max_backoff_s
        self.cond = threading.Condition()
        self.idle: deque[WorkerProcess] = deque()
        self.workers: set[WorkerProcess] = set()  # ready ones, idle or busy
        self.starting: set[WorkerProcess] = set()
        self.closed = False
        self.started = 0
        self.restarts = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.stopping = threading.Event()
        self.warmups: list[Any] = []  # broadcast requests, replayed to each replacement
        self.stopped_since: dict[WorkerProcess, float] = {}  # idle workers seen stopped

    def start_first(self) -> None:
        """Start `size` workers at once and wait for all; WorkerStartError if one fails."""
        fresh: list[WorkerProcess] = []
        self.started = self.size
        try:
            for n in range(self.size):
                fresh.append(_new_worker(self.spec, f"{self.name}-{n + 1}"))
            for worker in fresh:  # they load in parallel
                _wait_ready(worker, self.name, self.start_timeout_s)
        except WorkerStartError:
            for worker in fresh:
                worker.kill()
            raise
        with self.cond:
            self.workers.update(fresh)
            self.idle.extend(fresh)

    # ------------------------------------------------------------------ requests

    def take(self, block: bool, deadline: float) -> WorkerProcess | None:
        with self.cond:
            while True:
                if self.closed:
                    raise WorkerPoolClosed(f"the {self.name} pool is closed")
                while self.idle:
                    worker = self.idle.popleft()
                    if worker.process.poll() is None:
                        return worker
                    self.discard(worker, "exited while idle")  # the next one, or wait
                if not block:
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WorkerTimeout(f"no {self.name} worker became free within "
                                        f"{self.deadline_s:g} s (the deadline)")
                self.cond.wait(remaining)

    def give_back(self, worker: WorkerProcess) -> None:
        with self.cond:
            if worker in self.workers and not self.closed:
                self.idle.append(worker)
                self.cond.notify_all()

    def discard(self, worker: WorkerProcess, why: str) -> None:
        """Kill a failed worker; the supervisor starts another."""
        worker.kill()
        with self.cond:
            self.workers.discard(worker)
            self.note_error(f"a worker {why}")
            self.cond.notify_all()
        log_event(log, "worker.replaced", level=logging.WARNING, pool=self.name, why=why,
                  exitcode=worker.process.returncode)

    def note_error(self, text: str) -> None:
        self.last_error, self.last_error_at = text, time.time()

    # ------------------------------------------------------------------ supervision

    def check_idle(self) -> None:
        """Replace idle workers that died, or have been stopped for STOPPED_IDLE_S (hung:
        a request to them could only time out). Cheap: it asks the workers nothing."""
        now = time.monotonic()
        with self.cond:
            for worker in list(self.idle):
                state = worker.state()
                if state == "running":
                    self.stopped_since.pop(worker, None)
                    continue
                if state == "stopped":
                    since = self.stopped_since.setdefault(worker, now)
                    if now - since < STOPPED_IDLE_S:
                        continue
                self.idle.remove(worker)
                self.stopped_since.pop(worker, None)
                self.discard(worker, "exited while idle" if state == "exited"
                             else f"was stopped for {STOPPED_IDLE_S:g} s while idle")

    def supervise(self) -> None:
        """Keep `size` workers: start one whenever fewer are ready or starting."""
        backoff = BACKOFF_FIRST_S
        while True:
            with self.cond:
                while not self.closed and len(self.workers) + len(self.starting) >= self.size:
                    self.cond.wait(CHECK_EVERY_S)
                    if not self.closed:
                        self.check_idle()
                if self.closed:
                    return
                self.started += 1
                number = self.started
            try:
                worker = self._start_replacement(number)
            except Exception as exc:  # noqa: BLE001 - whatever it was, retry: never stay empty
                with self.cond:
                    if self.closed:  # closing killed it while it started
                        return
                    self.note_error(str(exc) if isinstance(exc, WorkerStartError)
                                    else f"{type(exc).__name__}: {exc}")
                log_event(log, "worker.start_failed", level=logging.ERROR, pool=self.name,
                          detail=str(exc)[:200], retry_in_s=backoff)
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            backoff = BACKOFF_FIRST_S
            with self.cond:
                if self.closed:
                    worker.kill()
                    return
                self.restarts += 1
                self.workers.add(worker)
                self.idle.append(worker)
                self.cond.notify_all()
            log_event(log, "worker.started", pool=self.name, pid=worker.pid)

    def _start_replacement(self, number: int) -> WorkerProcess:
        worker = _new_worker(self.spec, f"{self.name}-{number}")
        with self.cond:
            self.starting.add(worker)
            warmups = list(self.warmups)
        try:
            _wait_ready(worker, self.name, self.start_timeout_s)
            for request in warmups:  # e.g. the first turn's grammar: its first decode is slow
                worker.send(request)
                _wait_ready(worker, self.name, self.start_timeout_s, answer="ok")
        except BaseException:
            worker.kill()
            raise
        finally:
            with self.cond:
                self.starting.discard(worker)
        return worker

    # ------------------------------------------------------------------ the end

    def close(self) -> None:
        with self.cond:
            self.closed = True
            idle, busy = list(self.idle), self.workers - set(self.idle)
            starting = list(self.starting)
            self.idle.clear()
            self.workers.clear()
            self.cond.notify_all()
        self.stopping.set()
        for worker in idle:
            with contextlib.suppress(OSError):
                worker.send(None)
        end = time.monotonic() + STOP_GRACE_S
        for worker in idle:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.process.wait(max(0.0, end - time.monotonic()))
        for worker in [*idle, *busy, *starting]:
            worker.kill()


class Lease:
    """One worker reserved for one request: `submit(request)`, then `result()` (or
    `release()` if nothing was submitted). The deadline runs from when it was taken."""

    def __init__(self, core: _Core, worker: WorkerProcess, deadline: float) -> None:
        self._core, self._worker, self._deadline = core, worker, deadline
        self._submitted = False

    def submit(self, request: Any) -> Lease:
        try:
            self._worker.send(request)
        except OSError:
            self._core.discard(self._worker, "could not be sent a request")
            raise WorkerCrashed(f"a {self._core.name} worker failed (it is being "
                                "replaced)") from None
        self._submitted = True
        return self

    def release(self) -> None:
        if not self._submitted:
            self._core.give_back(self._worker)

    def result(self) -> Any:
        core, worker = self._core, self._worker
        try:
            status, value = worker.recv(self._deadline - time.monotonic())
        except TimeoutError:
            core.discard(worker, "passed its deadline")
            raise WorkerTimeout(f"a {core.name} worker took longer than {core.deadline_s:g} s "
                                "(the deadline); it was stopped and is being replaced") from None
        except (EOFError, OSError):
            if core.closed:
                raise WorkerPoolClosed(f"the {core.name} pool was closed") from None
            core.discard(worker, "exited during a request")
            raise WorkerCrashed(f"a {core.name} worker failed: it exited during the request "
                                "(it is being replaced)") from None
        except BaseException:
            core.discard(worker, "was interrupted")  # its answer would go to the next one
            raise
        core.give_back(worker)
        if status != "ok":
            raise WorkerRequestError(value)
        return value


class WorkerPool:
    """`size` worker processes running `spec`; see the module docstring."""

    def __init__(self, spec: WorkerSpec, size: int, *, name: str = "worker",
                 deadline_s: float = 30.0, start_timeout_s: float = 120.0,
                 max_backoff_s: float = MAX_BACKOFF_S) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.name = name
        self.size = size
        self.deadline_s = deadline_s
        self._core = _Core(spec, size, name, deadline_s, start_timeout_s, max_backoff_s)
        self._core.start_first()  # a broken set-up fails now, not in a call
        self._finalizer = weakref.finalize(self, self._core.close)
        threading.Thread(target=self._core.supervise, name=f"{name}-supervisor",
                         daemon=True).start()

    def take(self, *, block: bool = True) -> Lease | None:
        """A worker for one request (None when block is False and none is idle); waits at
        most the deadline, which also covers the answer."""
        deadline = time.monotonic() + self.deadline_s
        worker = self._core.take(block, deadline)
        return None if worker is None else Lease(self._core, worker, deadline)

    def call(self, request: Any) -> Any:
        """handler(state, request) in a free worker; raises a WorkerError subclass."""
        lease = self.take()
        assert lease is not None
        return lease.submit(request).result()

    def broadcast(self, request: Any) -> int:
        """Run a request once in every worker (warm-up), and in every replacement before it
        takes requests; returns how many answered."""
        with self._core.cond:
            if request not in self._core.warmups:
                self._core.warmups = [*self._core.warmups, request][-MAX_WARMUPS:]
        leases: list[Lease] = []
        with contextlib.suppress(WorkerTimeout):
            for _ in range(self.size):
                leases.append(self.take())  # type: ignore[arg-type]
        done = 0
        for lease in [*leases]:
            try:
                lease.submit(request)
            except WorkerCrashed:
                leases.remove(lease)
        for lease in leases:
            with contextlib.suppress(WorkerError):
                lease.result()
                done += 1
        return done

    def health(self) -> PoolHealth:
        core = self._core
        with core.cond:
            states = [w.state() for w in core.workers]
            return PoolHealth(
                name=self.name, size=self.size, ready=len(core.workers),
                alive=states.count("running"), busy=len(core.workers) - len(core.idle),
                starting=len(core.starting), restarts=core.restarts,
                last_error=core.last_error, last_error_at=core.last_error_at,
                closed=core.closed, stopped=states.count("stopped"))

    @property
    def pids(self) -> list[int]:
        with self._core.cond:
            return sorted(w.pid for w in self._core.workers)

    def close(self) -> None:
        """Stop the workers (also done at exit or when the pool is garbage collected)."""
        self._finalizer()
