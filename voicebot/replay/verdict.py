"""Verdicts: does what happened on a call match what the scenario expects?

Computed only from the CallTranscript (which offline replay reads from the driver and the
live stand-in reads back from `GET /calls/<CallSid>`) and the simulated caller's own
measurements, so offline and live runs of one scenario are judged by the same rules.
Every check carries the expected and the actual value, as text a tester can read.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from voicebot.flow.normalize import digit_form, normalize
from voicebot.records.transcript import CallTranscript
from voicebot.replay.expect import Expect, Said


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    expected: str
    actual: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        mark = "✓" if self.ok else "✗"
        return f"{mark} {self.name}: expected {self.expected}, got {self.actual}"


class CallerView(Protocol):
    """What the verdict needs from the simulated caller (CallerSimulator has it)."""

    turns: list
    turn_log: list
    timed_out: bool

    @property
    def turn_gaps_ms(self) -> list[float]: ...


def _show(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def check(expect: Expect, transcript: CallTranscript, sim: CallerView | None = None
          ) -> list[Check]:
    """One Check per expectation, plus the call having ended and every turn performed."""
    checks: list[Check] = []
    if sim is not None:
        checks.extend(_call_checks(transcript, sim))
    elif transcript.outcome is None:
        checks.append(Check("call ended", False, "transfer or hangup", "the call had not ended"))
    for key in ("outcome", "reason", "queue"):
        want = getattr(expect, key)
        if want is not None:
            got = getattr(transcript, key)
            checks.append(Check(key, got == want, str(want), _show(got)))
    if expect.path is not None:
        checks.append(_path_check(expect.path, expect.path_exact, transcript.path))
    if expect.heard is not None:
        checks.extend(_heard_checks(expect.heard, transcript))
    if expect.slots is not None:
        checks.extend(_slot_checks(expect.slots, transcript))
    if expect.said is not None:
        checks.extend(_said_checks(expect.said, transcript))
    if expect.barged_in is not None:
        got = [p.node for p in transcript.prompts if p.barged_in]
        checks.append(Check("barged in", got == list(expect.barged_in),
                            f"prompts cut at {_show(expect.barged_in)}", _show(got)))
    if expect.max_turn_gap_ms is not None:
        checks.append(_gap_check(expect.max_turn_gap_ms, sim))
    return checks


def _call_checks(transcript: CallTranscript, sim: CallerView) -> list[Check]:
    checks = []
    if sim.timed_out or transcript.outcome is None:
        checks.append(Check("call ended", False, "the service ends the call (transfer or hangup)",
                            "still going when the caller gave up" if sim.timed_out
                            else "the stream ended without an outcome"))
    started = len(sim.turn_log)
    unperformed = [i + 1 for i, t in enumerate(sim.turns)
                   if i >= started and t.kind != "silence"]
    if unperformed:
        checks.append(Check("caller turns", False, f"all {len(sim.turns)} turns performed",
                            f"the call ended before turn(s) {_show(unperformed)}"))
    return checks


def _path_check(want: tuple[str, ...], exact: bool, got: list[str]) -> Check:
    if exact:
        return Check("path", list(want) == list(got), f"exactly {_show(want)}", _show(got))
    ok = list(got[:len(want)]) == list(want)
    return Check("path", ok, f"starts with {_show(want)}", _show(got))


def _heard_checks(want: tuple[str | None, ...], transcript: CallTranscript) -> list[Check]:
    spoken = [t for t in transcript.turns if t.kind == "speech"]
    checks = []
    for i, text in enumerate(want):
        if text is None:
            continue
        name = f"heard (spoken turn {i + 1})"
        if i >= len(spoken):
            checks.append(Check(name, False, repr(normalize(text)), "no speech turn recorded"))
            continue
        turn = spoken[i]
        conf = f" (confidence {turn.confidence:.2f})" if turn.confidence is not None else ""
        # Compared after the shared normaliser, digits either way ("123456" == "one two ...").
        checks.append(Check(name, digit_form(turn.heard) == digit_form(text),
                            repr(normalize(text)), repr(normalize(turn.heard)) + conf))
    return checks


def _slot_checks(want: tuple[tuple[str, str | None], ...], transcript: CallTranscript
                 ) -> list[Check]:
    """Slot values when the call ended (the flow's, as the agent would get them)."""
    slots = (transcript.context or {}).get("slots") or {}
    checks = []
    for name, value in want:
        got = _slot(slots, name)
        expected = "not set" if value is None else repr(value)
        actual = "not set" if got is None else repr(str(got))
        ok = got is None if value is None else (
            got is not None and digit_form(str(got)) == digit_form(value))
        checks.append(Check(f"slot {name}", ok, expected, actual))
    return checks


def _slot(slots: dict[str, Any], name: str) -> Any:
    base, _, field_name = name.partition(".")
    value = slots.get(base)
    if field_name:
        return value.get(field_name) if isinstance(value, dict) else None
    return None if value == "" else value


def _said_checks(want: tuple[Said, ...], transcript: CallTranscript) -> list[Check]:
    """Each entry found in a prompt, in order (at or after the prompt of the entry before)."""
    prompts = transcript.prompts
    checks = []
    start = 0
    for said in want:
        index = next((i for i in range(start, len(prompts))
                      if _says(prompts[i].text, said)), None)
        expected = ("a prompt matching " if said.regex else "a prompt saying ") + \
            said.describe() + (" after the one before" if start else "")
        if index is None:
            tail = "; ".join(f"[{p.node}] {p.text}" for p in prompts[start:][-3:])
            checks.append(Check("said", False, expected,
                                f"no such prompt (last said: {tail})" if tail else
                                "no prompt"))
            continue
        checks.append(Check("said", True, expected,
                            f"[{prompts[index].node}] {prompts[index].text!r}"))
        start = index
    return checks


def _says(text: str, said: Said) -> bool:
    if said.regex:
        return re.search(said.text, text, re.IGNORECASE) is not None
    want = normalize(said.text)
    return bool(want) and f" {want} " in f" {normalize(text)} "


def _gap_check(limit_ms: float, sim: CallerView | None) -> Check:
    gaps = list(sim.turn_gaps_ms) if sim is not None else []
    if not gaps:
        return Check("max turn gap", False, f"≤ {limit_ms:g} ms", "no turn gap measured")
    worst = max(gaps)
    return Check("max turn gap", worst <= limit_ms, f"≤ {limit_ms:g} ms",
                 f"{worst:.0f} ms (turns: {', '.join(f'{g:.0f}' for g in gaps)})")
