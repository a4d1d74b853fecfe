"""One worker process of a voicebot.speech.workers pool: the parent's handle on it (start,
talk over two pipes, kill) and, run as `python -m voicebot.speech.worker_process`, the
child's loop: `initializer(arg)` once, "ready", then `handler(state, request)` per request.

Started as a fresh interpreter with the pipes' descriptors, not by multiprocessing's spawn
(which re-runs the parent's main script in the child) or fork (unsafe with threads).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the dir holding `voicebot`
STOP_GRACE_S = 5.0


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker runs: `module:function` names, so the worker imports them itself."""

    initializer: str  # called once with `arg`; returns the worker's state
    handler: str  # called as handler(state, request) for each request; returns the reply
    arg: Any = None  # picklable
    quiet: bool = False  # the worker's stdout and stderr go to /dev/null (chatty libraries)


class WorkerProcess:
    """The parent's end. Raises OSError when the process cannot be started or fed."""

    def __init__(self, spec: WorkerSpec, label: str) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
        quiet = subprocess.DEVNULL if spec.quiet else None
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "voicebot.speech.worker_process", str(to_child_r),
                 str(from_child_w), label],
                pass_fds=(to_child_r, from_child_w), env=env, stdin=subprocess.DEVNULL,
                stdout=quiet, stderr=quiet, close_fds=True)
        except OSError:
            for fd in (to_child_r, to_child_w, from_child_r, from_child_w):
                os.close(fd)
            raise
        os.close(to_child_r)  # the child's ends: so the parent sees EOF when it dies
        os.close(from_child_w)
        self.send_conn = Connection(to_child_w, readable=False)
        self.recv_conn = Connection(from_child_r, writable=False)
        try:
            self.send_conn.send(spec)
        except OSError:  # it died at once (a broken interpreter or environment)
            self.kill()
            raise

    @property
    def pid(self) -> int:
        return self.process.pid

    def state(self) -> str:
        """"running", "stopped" (SIGSTOP, a tracer: it answers nothing until continued) or
        "exited"; from /proc where there is one, else running until it has exited."""
        if self.process.poll() is not None:
            return "exited"
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return "running"
        code = stat.rsplit(")", 1)[-1].split()[:1]
        if code and code[0] in "Tt":
            return "stopped"
        return "exited" if code and code[0] in "ZX" else "running"

    def send(self, message: Any) -> None:
        self.send_conn.send(message)

    def recv(self, timeout: float) -> Any:
        """The next message; TimeoutError, or EOFError/OSError when the worker is gone."""
        if not self.recv_conn.poll(max(0.0, timeout)):
            raise TimeoutError
        return self.recv_conn.recv()

    def kill(self) -> None:
        for conn in (self.send_conn, self.recv_conn):
            with contextlib.suppress(OSError):
                conn.close()
        if self.process.poll() is None:
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(STOP_GRACE_S)


def _resolve(name: str) -> Callable[..., Any]:
    module, _, function = name.partition(":")
    return getattr(importlib.import_module(module), function)


def _describe(exc: BaseException) -> str:
    """A ValueError is a message for people as it stands; anything else names its type."""
    return str(exc) if type(exc) is ValueError else f"{type(exc).__name__}: {exc}"


def serve(conn_in: Connection, conn_out: Connection) -> None:
    """A worker: build the state, say ready, then answer requests until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        spec: WorkerSpec = conn_in.recv()
        state = _resolve(spec.initializer)(spec.arg)
        handler = _resolve(spec.handler)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        conn_out.send(("error", _describe(exc)))
        return
    conn_out.send(("ready", None))
    while True:
        try:
            request = conn_in.recv()
        except (EOFError, OSError):  # the parent has gone
            return
        if request is None:
            return
        try:
            reply = ("ok", handler(state, request))
        except Exception as exc:  # noqa: BLE001 - one bad request must not kill the worker
            reply = ("error", _describe(exc))
        conn_out.send(reply)


if __name__ == "__main__":  # python -m voicebot.speech.worker_process READ_FD WRITE_FD LABEL
    serve(Connection(int(sys.argv[1]), writable=False),
          Connection(int(sys.argv[2]), readable=False))
