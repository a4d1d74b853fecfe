"""Long-lived decoder worker processes, so calls decode in parallel and never hold the GIL.

Why: pocketsphinx holds the GIL while it decodes, so in threads two calls' decodes ran one at a
time (2 threads: 0.94 s vs 0.33 s for one) and stalled every other call's thread (media,
marks). Here each worker is a process with its own decoder and compiled-grammar cache; the
calling thread sends the utterance over a pipe and waits (GIL released). Workers are started
as fresh interpreters (safe with the service's threads). A worker that dies or hangs fails only the
utterance it was decoding (EngineError, which the call session turns into a hand-over to a
person) and is replaced in the background.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import weakref
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from voicebot.logs import log_event
from voicebot.speech.engines.common import EngineError

log = logging.getLogger(__name__)

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])  # the dir holding `voicebot`
START_TIMEOUT_S = 120.0  # a worker loads the model (~1 s; longer on a busy machine)


def worker_main(conn_in: Connection, conn_out: Connection) -> None:
    """A worker: build the decoder, say ready, then answer requests until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    from voicebot.speech.engines.pocketsphinx_decode import DecodeCore

    try:
        options = conn_in.recv()
        core = DecodeCore(options)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        conn_out.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn_out.send(("ready", None))
    while True:
        try:
            request = conn_in.recv()
        except (EOFError, OSError):  # the parent has gone
            return
        if request is None:
            return
        op, *args = request
        try:
            if op == "decode":
                reply = ("ok", core.decode(*args))
            elif op == "grammar":
                reply = ("ok", core.grammar_part(*args))
            elif op == "phone":
                reply = ("ok", core.phone_score(*args))
            elif op == "warm":
                core.warm(*args)
                reply = ("ok", None)
            elif op == "crash":  # for tests: a worker that dies mid-request
                os._exit(3)
            else:
                reply = ("error", f"unknown request {op!r}")
        except Exception as exc:  # noqa: BLE001 - one bad utterance must not kill the worker
            reply = ("error", f"{type(exc).__name__}: {exc}")
        conn_out.send(reply)


class _Worker:
    """A worker process started as `python -m voicebot.speech.engines.decode_worker` with two
    pipes. Not multiprocessing's spawn: that re-runs the parent's main script in the child,
    which breaks any script that loads the engine outside an `if __name__` guard."""

    def __init__(self, options: Any, number: int) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "voicebot.speech.engines.decode_worker",
                 str(to_child_r), str(from_child_w), str(number)],
                pass_fds=(to_child_r, from_child_w), env=env, stdin=subprocess.DEVNULL,
                close_fds=True)
        except OSError as exc:
            for fd in (to_child_r, to_child_w, from_child_r, from_child_w):
                os.close(fd)
            raise EngineError(f"could not start a decoder worker: {exc}") from None
        os.close(to_child_r)  # the child's ends: so the parent sees EOF when it dies
        os.close(from_child_w)
        self.send_conn = Connection(to_child_w, readable=False)
        self.recv_conn = Connection(from_child_r, writable=False)
        self.send_conn.send(options)

    def send(self, message: Any) -> None:
        self.send_conn.send(message)

    def recv(self, timeout: float) -> Any:
        if not self.recv_conn.poll(timeout):
            raise TimeoutError(f"no answer within {timeout:.0f} s")
        return self.recv_conn.recv()

    def wait_ready(self, timeout: float) -> None:
        try:
            status, detail = self.recv(timeout)
        except TimeoutError:
            self.kill()
            raise EngineError(f"a decoder worker did not start within {timeout:.0f} s") from None
        except (EOFError, OSError):
            self.kill()
            raise EngineError("a decoder worker exited while starting") from None
        if status != "ready":
            self.kill()
            raise EngineError(f"a decoder worker could not start: {detail}")

    def kill(self) -> None:
        for conn in (self.send_conn, self.recv_conn):
            with contextlib.suppress(OSError):
                conn.close()
        if self.process.poll() is None:
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)


def _shutdown(workers: set, idle: queue.SimpleQueue, state: dict) -> None:
    """Stop every worker (atexit or garbage collection of the pool)."""
    state["closed"] = True
    for worker in list(workers):
        with contextlib.suppress(OSError):
            worker.send(None)
    deadline = time.monotonic() + 5
    for worker in list(workers):
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.process.wait(max(0.0, deadline - time.monotonic()))
        worker.kill()
    workers.clear()


class DecodePool:
    """`size` worker processes; `call(op, *args)` runs a request in an idle one."""

    def __init__(self, options: Any, size: int, request_timeout: float = 30.0) -> None:
        self.size = size
        self.request_timeout = request_timeout
        self._options = options
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._workers: set[_Worker] = set()
        self._state = {"closed": False}
        self._lock = threading.Lock()
        self._started = 0
        self._finalizer = weakref.finalize(self, _shutdown, self._workers, self._idle,
                                           self._state)
        started = [self._new_worker() for _ in range(size)]
        try:
            for worker in started:  # they load in parallel
                worker.wait_ready(START_TIMEOUT_S)
        except EngineError:
            self.close()
            raise
        for worker in started:
            self._idle.put(worker)

    @property
    def pids(self) -> list[int]:
        return sorted(w.process.pid for w in list(self._workers))

    def _new_worker(self) -> _Worker:
        with self._lock:
            self._started += 1
            worker = _Worker(self._options, self._started)
            self._workers.add(worker)
        return worker

    def _replace(self, dead: _Worker, why: str) -> None:
        """Kill a failed worker and start another in the background (the caller moves on)."""
        dead.kill()
        with self._lock:
            self._workers.discard(dead)
        log_event(log, "speech.worker.replaced", level=logging.WARNING, why=why,
                  exitcode=dead.process.returncode)
        if self._state["closed"]:
            return

        def start() -> None:
            for attempt in range(3):
                if self._state["closed"]:
                    return
                worker = self._new_worker()
                try:
                    worker.wait_ready(START_TIMEOUT_S)
                except EngineError as exc:
                    with self._lock:
                        self._workers.discard(worker)
                    log_event(log, "speech.worker.start_failed", level=logging.ERROR,
                              attempt=attempt + 1, detail=str(exc)[:200])
                    time.sleep(1.0)
                    continue
                self._idle.put(worker)
                return

        threading.Thread(target=start, name="voicebot-decoder-restart", daemon=True).start()

    def call(self, op: str, *args: Any) -> Any:
        """Run one request in an idle worker; raises EngineError if it fails or dies."""
        worker = self.take()
        assert worker is not None
        self.send(worker, op, *args)
        return self.wait(worker)

    def take(self, block: bool = True) -> _Worker | None:
        """An idle worker, now yours (waits for one; or None if block is False and none is
        idle). Give it back with send() then wait()."""
        if self._state["closed"]:
            raise EngineError("the decoder pool is closed")
        try:
            worker = (self._idle.get(timeout=self.request_timeout) if block
                      else self._idle.get_nowait())
        except queue.Empty:
            if not block:
                return None
            raise EngineError("no decoder worker became free in time") from None
        if self._state["closed"]:
            raise EngineError("the decoder pool is closed")
        return worker

    def send(self, worker: _Worker, op: str, *args: Any) -> None:
        """Send a request to a worker you took; wait(worker) collects the answer."""
        try:
            worker.send((op, *args))
        except OSError as exc:
            self._replace(worker, type(exc).__name__)
            raise EngineError(f"a decoder worker failed ({type(exc).__name__})") from None

    def wait(self, worker: _Worker) -> Any:
        try:
            status, value = worker.recv(self.request_timeout)
        except (EOFError, OSError, TimeoutError) as exc:
            self._replace(worker, type(exc).__name__)
            raise EngineError(f"a decoder worker failed ({type(exc).__name__})") from None
        except BaseException:
            # Interrupted mid-request: the worker's reply would go to the next caller.
            self._replace(worker, "interrupted")
            raise
        self._idle.put(worker)
        if status != "ok":
            raise EngineError(f"decoding failed: {value}")
        return value

    def broadcast(self, op: str, *args: Any) -> int:
        """Run a request once in every worker (warm-up); returns how many answered."""
        taken = []
        try:
            for _ in range(self.size):
                try:
                    taken.append(self._idle.get(timeout=self.request_timeout))
                except queue.Empty:
                    break
            done = 0
            for worker in list(taken):
                try:
                    worker.send((op, *args))
                except OSError as exc:
                    taken.remove(worker)
                    self._replace(worker, type(exc).__name__)
            for worker in list(taken):
                try:
                    status, _ = worker.recv(self.request_timeout)
                    done += status == "ok"
                except (EOFError, OSError, TimeoutError) as exc:
                    taken.remove(worker)
                    self._replace(worker, type(exc).__name__)
            return done
        finally:
            for worker in taken:
                self._idle.put(worker)

    def close(self) -> None:
        """Stop the workers (also done at exit)."""
        self._finalizer()
