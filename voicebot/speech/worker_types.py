"""What a worker pool (voicebot.speech.workers) raises, and the snapshot its health() gives."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from voicebot.errors import VoicebotError


class WorkerError(VoicebotError):
    """A request to a worker pool did not get an answer."""


class WorkerStartError(WorkerError):
    """A worker could not start (its initializer failed, it exited or took too long)."""

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail  # what the initializer said, when it said something


class WorkerCrashed(WorkerError):
    """The worker died during the request; it is being replaced."""


class WorkerTimeout(WorkerError):
    """The deadline passed; the worker (if one had the request) was killed and replaced."""


class WorkerRequestError(WorkerError):
    """The handler raised for this request; the worker carries on."""


class WorkerPoolClosed(WorkerError):
    """The pool was closed."""


@dataclass(frozen=True)
class PoolHealth:
    """A snapshot for readiness checks and logs."""

    name: str
    size: int  # workers wanted
    ready: int  # started and answering (idle or busy)
    alive: int  # of those, processes still running
    busy: int
    starting: int
    restarts: int  # workers started after the first ones
    last_error: str | None
    last_error_at: float | None  # time.time() of the last error
    closed: bool
    stopped: int = 0  # ready but stopped (SIGSTOP): they answer nothing; not in `alive`

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def ok(self) -> bool:
        """A request can be served now: at least one worker is running."""
        return not self.closed and self.alive > 0

    def describe(self, what: str) -> str:
        """One line for people: "1 of 2 decoder workers ready, restarting (last error: ...)"."""
        if self.closed:
            return f"the {what} workers are stopped (closed)"
        text = f"{self.alive} of {self.size} {what} workers ready"
        if self.stopped:
            text += f", {self.stopped} stopped"
        if self.alive < self.size:
            text += ", restarting"
            if self.last_error:
                text += f" (last error: {self.last_error[:120]})"
        return text
