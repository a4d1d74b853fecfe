"""`voicebot chat`: a designer talks to a flow by typing, with no phone and no audio.

Typed lines go through the same FlowSession and the same matching as recognised speech, and
lookups are performed for real, so what works here works on the phone (apart from
recognition itself). Line syntax: text = what the caller says; `#45` = keys 4 and 5;
an empty line = silence (no input); `~0.3 some words` = said with confidence 0.3;
`!fault` = something broke; lines starting with `# ` (hash, space) are comments.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO

from voicebot.flow import lookup
from voicebot.flow.events import (
    Digits,
    Fault,
    FlowAction,
    FlowEvent,
    Hangup,
    Listen,
    LookupDone,
    NoInput,
    PerformLookup,
    Recognized,
    Say,
    Transfer,
)
from voicebot.flow.interpreter import FlowSession
from voicebot.flow.model import Flow

_DTMF = re.compile(r"^#([0-9*#]+)$")
_CONFIDENCE = re.compile(r"^~\s*([01](?:\.\d+)?)\s+(.*)$")


def parse_line(line: str) -> FlowEvent | None:
    """The event a typed line stands for (None for a comment)."""
    line = line.strip()
    if not line:
        return NoInput()
    if m := _DTMF.match(line):
        return Digits(m.group(1))
    if line.startswith("#"):
        return None  # "# comment"
    if line == "!fault":
        return Fault("typed !fault")
    if m := _CONFIDENCE.match(line):
        return Recognized(m.group(2), float(m.group(1)))
    return Recognized(line, 1.0)


class ChatRunner:
    """Drives one FlowSession from typed lines and writes the transcript to `out`."""

    def __init__(self, flow: Flow, out: TextIO,
                 perform: Callable[[PerformLookup], LookupDone] = lookup.perform,
                 echo: bool = True):
        self.flow = flow
        self.echo = echo
        self.out = out
        self.perform = perform
        self.session = FlowSession(flow)
        self.listen: Listen | None = None

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def _act(self, actions: list[FlowAction]) -> None:
        for action in actions:
            if isinstance(action, Say):
                tag = "" if action.kind == "prompt" else f" ({action.kind})"
                self._print(f"bot [{action.node}]{tag}: {action.text}")
            elif isinstance(action, Listen):
                self.listen = action
            elif isinstance(action, PerformLookup):
                done = self.perform(action)
                if not done.ok:
                    state = f"failed ({done.error})"
                else:
                    state = "found" if done.record is not None else "not found"
                shown = ", ".join(f"{k}={v}" for k, v in action.params.items())
                self._print(f"  lookup [{action.node}] {shown}: {state}")
                self._act(self.session.handle(done))
            elif isinstance(action, Transfer):
                self._print(f"== TRANSFER to queue '{action.queue}' (reason: {action.reason})")
                self._print(f"   summary: {action.summary}")
            elif isinstance(action, Hangup):
                self._print(f"== HANGUP ({action.reason})")

    def _outcome(self, before: int) -> None:
        turns = self.session.turns
        if len(turns) == before:
            return
        t = turns[-1]
        result = t["result"]
        if result == "matched":
            self._print(f"  -> intent: {t['intent']}")
        elif result == "escape":
            self._print("  -> escape: the caller asked for a person")
        else:
            self._print(f"  -> {result.replace('_', ' ')}")

    def start(self) -> None:
        self._print(f"== flow '{self.flow.name}' version {self.flow.version} "
                    f"({self.flow.path})")
        self._act(self.session.start())

    def say(self, line: str) -> bool:
        """Feed one typed line; False once the call has ended."""
        if self.session.ended:
            return False
        event = parse_line(line)
        if event is None:
            return True
        if not self.echo and not isinstance(event, NoInput):
            pass
        elif isinstance(event, NoInput):
            self._print("you: (silence)")
        elif isinstance(event, Digits):
            self._print(f"you: (keys {event.digits})")
        elif isinstance(event, Fault):
            self._print("you: (fault)")
        else:
            self._print(f"you: {line.strip()}")
        before = len(self.session.turns)
        actions = self.session.handle(event)
        self._outcome(before)
        self._act(actions)
        return not self.session.ended

    def finish(self) -> None:
        s = self.session
        if not s.ended:
            self._print(f"== (no more input; the call is still at node '{s.node}')")
        self._print("path: " + " > ".join(s.path))
        if s.slots:
            shown = ", ".join(f"{k}={v}" for k, v in s.slots.items() if not isinstance(v, dict))
            if shown:
                self._print(f"slots: {shown}")


def run(flow: Flow, lines: Iterable[str], out: TextIO, echo: bool = True) -> FlowSession:
    """Play `lines` against `flow`, printing the transcript; returns the finished session."""
    runner = ChatRunner(flow, out, echo=echo)
    runner.start()
    for line in lines:
        if not runner.say(line):
            break
    runner.finish()
    return runner.session


def interactive_lines(prompt: str = "you> ") -> Iterator[str]:
    """Lines typed at a terminal until end of input (Ctrl-D)."""
    while True:
        try:
            yield input(prompt)
        except EOFError:
            return
