"""Collecting a keyed answer: keys until the node's length, the terminator or a pause.

A caller keying an order number may pause between keys; a keyed answer that stops short is
still taken INTER_DIGIT_S after the last key (the flow then judges it), rather than waiting
for keys that will not come.
"""

from __future__ import annotations

from dataclasses import dataclass

INTER_DIGIT_S = 5.0  # a keyed answer ends this long after the last key


@dataclass(frozen=True)
class KeyedAnswer:
    keys: str
    t_start: float  # the first key (stream time)
    during_prompt: bool  # a key of it cut a prompt short


class KeyCollector:
    """The keys of the answer in progress."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._keys = ""
        self._t_start = 0.0
        self._deadline: float | None = None
        self._during_prompt = False

    @property
    def collecting(self) -> bool:
        """Some keys of a longer answer have been typed."""
        return bool(self._keys)

    def press(self, digit: str, t: float, *, max_keys: int, terminator: str,
              during_prompt: bool) -> KeyedAnswer | None:
        """One key. Returns the answer when it is complete: at once when the node takes
        one key, at the terminator, or at `max_keys` keys. None: more may follow (or a lone
        terminator, which ends nothing; then `collecting` stays False)."""
        self._during_prompt = self._during_prompt or during_prompt
        if not self._keys:
            self._t_start = t
        if max_keys <= 1:
            return self._take(digit, t)
        if digit == terminator:
            return self._take(self._keys, t) if self._keys else None
        self._keys += digit
        if len(self._keys) >= max_keys:
            return self._take(self._keys, t)
        self._deadline = t + INTER_DIGIT_S
        return None

    def due(self, t: float) -> KeyedAnswer | None:
        """The answer typed so far, once the caller has paused INTER_DIGIT_S."""
        if self._deadline is not None and t >= self._deadline and self._keys:
            return self._take(self._keys, t)
        return None

    def _take(self, keys: str, t: float) -> KeyedAnswer:
        answer = KeyedAnswer(keys, self._t_start if self._keys else t, self._during_prompt)
        self.reset()
        return answer
