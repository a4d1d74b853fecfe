"""What is playing to the caller: the prompts sent whose marks have not come back yet.

Twilio plays the audio it is sent in order and echoes each mark once the audio before it
has played (or was cleared). The session waits for marks, not for the audio to be sent:
the no-input timer starts and the stream closes only when the caller has heard it all.
A mark that never comes back must not hang the call, so each prompt also has the time its
audio should have ended, and a mark that late by MARK_GRACE_S counts as played.
"""

from __future__ import annotations

from dataclasses import dataclass

from voicebot.records.transcript import PromptRecord

MARK_GRACE_S = 5.0  # a mark this late after its audio should have ended counts as played


@dataclass
class Prompt:
    mark: str
    record: PromptRecord
    interruptible: bool
    expected_end: float | None = None  # when its audio should have finished (stream time)


class Playback:
    """The prompts in flight, oldest first. Marks the transcript's prompt records (played
    at, barged in) as that becomes known."""

    def __init__(self) -> None:
        self._queue: list[Prompt] = []
        self._sent = 0

    @property
    def playing(self) -> bool:
        return bool(self._queue)

    @property
    def current(self) -> Prompt | None:
        """The prompt the caller hears now."""
        return self._queue[0] if self._queue else None

    def send(self, record: PromptRecord, interruptible: bool) -> str:
        """A prompt goes out; returns the name of its mark."""
        self._sent += 1
        mark = f"p{self._sent}"
        self._queue.append(Prompt(mark, record, interruptible))
        return mark

    def queued(self, mark: str, duration: float, t: float) -> None:
        """The driver sent `duration` seconds of audio for `mark` at `t`: it plays after
        whatever is ahead of it."""
        previous_end = t
        for prompt in self._queue:
            if prompt.mark == mark:
                prompt.expected_end = max(t, previous_end) + max(0.0, duration)
                return
            if prompt.expected_end is not None:
                previous_end = max(previous_end, prompt.expected_end)

    def played(self, mark: str, t: float) -> bool:
        """Mark `mark` came back: it and everything before it has played. False for a
        mark that is not ours, or of a prompt already cleared."""
        index = next((i for i, p in enumerate(self._queue) if p.mark == mark), None)
        if index is None:
            return False
        for prompt in self._queue[:index + 1]:
            prompt.record.t_played = t
        del self._queue[:index + 1]
        return True

    def overdue(self, t: float) -> str | None:
        """The last mark whose audio should have ended more than MARK_GRACE_S ago."""
        late = [p for p in self._queue
                if p.expected_end is not None and t > p.expected_end + MARK_GRACE_S]
        return late[-1].mark if late else None

    def failed(self, mark: str) -> bool:
        """The prompt of `mark` could not be rendered: forget it. False if it was not in
        flight (already cleared)."""
        if not any(p.mark == mark for p in self._queue):
            return False
        self._queue = [p for p in self._queue if p.mark != mark]
        return True

    def clear(self, *, barged_in: bool) -> bool:
        """Everything in flight is dropped (Twilio is told to clear it); True if anything
        was."""
        for prompt in self._queue:
            prompt.record.barged_in = barged_in
        had = bool(self._queue)
        self._queue = []
        return had

    def forget(self) -> None:
        """Stop tracking what is in flight, without marking it (the call is closing now)."""
        self._queue = []
