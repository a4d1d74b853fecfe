"""Reports for people and for CI: a timeline per call, JUnit XML, a progress bar.

The timeline merges what the bot said (prompts, barged in or not), what the caller did
(from the simulator), what the bot heard (with confidence), node changes and the outcome,
then lists every expectation with ✓/✗ and expected vs actual: enough to see why a scenario
failed without opening the database.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from tqdm import tqdm

from voicebot.records.transcript import TurnRecord
from voicebot.replay.result import ReplayResult

T = TypeVar("T")
_MAX_TEXT = 90


def _clip(text: str, limit: int = _MAX_TEXT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _t(value: float | None) -> str:
    return "   ?  " if value is None else f"{value:6.2f}"


def timeline(result: ReplayResult) -> str:
    """The call as a time-ordered list of lines, then the verdict."""
    sc = result.scenario
    lines = [f"{'PASS' if result.passed else 'FAIL'}  {sc.name}  ({sc.path})",
             "  " + ", ".join(_meta(result))]
    events = sorted(_events(result), key=lambda e: (e[0], e[1]))
    lines.extend(f"  {_t(t)}  {text}" for t, _, text in events)
    lines.extend(_verdict(result))
    return "\n".join(lines)


def _meta(result: ReplayResult) -> list[str]:
    tr = result.transcript
    meta = [f"mode {result.mode}"]
    if tr.flow_name:
        meta.append(f"flow {tr.flow_name}" + (f" {tr.flow_version}" if tr.flow_version else ""))
    if tr.engine:
        meta.append(f"engine {tr.engine}")
    meta.append(f"call {result.call_s:.1f} s")
    if result.speed is not None and result.mode == "offline":
        meta.append(f"replayed in {result.wall_s:.2f} s ({result.speed:.0f}× real time)")
    return meta


Event = tuple[float, int, str]  # (time, order among events at the same time, text)


def _events(result: ReplayResult) -> list[Event]:
    tr = result.transcript
    events: list[Event] = []
    for p in tr.prompts:
        if p.barged_in:
            end = "barged in"
        elif p.t_played is not None:
            end = f"played by {p.t_played:.2f}"
        else:
            end = "not finished"
        events.append((p.t_sent, 3, f"bot     [{p.kind}] {p.node}: \"{_clip(p.text)}\" ({end})"))
    for log in result.caller.get("turns", []):
        what = log["label"] or log["kind"]
        extra = " (barge-in)" if log.get("barge_in") else ""
        if log.get("gap_ms") is not None:
            extra += f", bot answered {log['gap_ms']:.0f} ms after the last voiced frame"
        events.append((log["t_start"], 1, f"caller  {what}{extra}"))
    events += [_heard(turn) for turn in tr.turns]
    # node changes: the first time each step of the path shows up on a prompt or turn
    node_times: list[tuple[float, str]] = sorted(
        [(p.t_sent, p.node) for p in tr.prompts]
        + [(u.t_start, u.node) for u in tr.turns if u.t_start is not None]
    )
    current = None
    for t, node in node_times:
        if node and node != current:
            events.append((t, 0, f"node    -> {node}"))
            current = node
    return events


def _heard(turn: TurnRecord) -> Event:
    t = turn.t_end if turn.t_end is not None else turn.t_start
    if turn.kind == "no_input":
        text = f"heard   {turn.node}: no input"
    else:
        conf = f" confidence {turn.confidence:.2f}" if turn.confidence is not None else ""
        grammar = " (out of grammar)" if turn.in_grammar is False else ""
        intent = f" -> {turn.intent}" if turn.intent else ""
        over = " over a prompt" if turn.during_prompt else ""
        text = (f"heard   {turn.node}: {turn.kind} \"{_clip(turn.heard, 60)}\""
                f"{conf}{grammar}{intent}{over}")
    return (t if t is not None else 0.0, 2, text)


def _verdict(result: ReplayResult) -> list[str]:
    tr = result.transcript
    outcome = tr.outcome or "none (the call did not end)"
    detail = ", ".join(f"{k} {v}" for k, v in (("reason", tr.reason), ("queue", tr.queue)) if v)
    lines = [f"  outcome {outcome}" + (f" ({detail})" if detail else ""),
             f"  path    {' > '.join(tr.path) if tr.path else '(none)'}"]
    if result.caller.get("audio_gaps"):
        lines.append(f"  gaps in the bot's audio: {result.caller['audio_gaps']}")
    for note in result.caller.get("notes", []):
        lines.append(f"  note    {note}")
    lines.extend("  " + c.line() for c in result.checks)
    if not result.checks:
        lines.append("  (no expectations)")
    return lines


def summary_line(results: Sequence[ReplayResult]) -> str:
    passed = sum(1 for r in results if r.passed)
    call = sum(r.call_s for r in results)
    wall = sum(r.wall_s for r in results)
    speed = f", {call / wall:.0f}× real time" if wall > 0 else ""
    return (f"{passed}/{len(results)} scenarios passed "
            f"({call:.0f} s of calls in {wall:.1f} s{speed})")


def failure_message(result: ReplayResult) -> str:
    return "; ".join(f"{c.name}: expected {c.expected}, got {c.actual}"
                     for c in result.failures)


def junit_xml(results: Sequence[ReplayResult], suite_name: str = "voicebot replay") -> bytes:
    """A JUnit XML report: one testcase per scenario, failures say expected vs actual."""
    failures = sum(1 for r in results if not r.passed)
    suite = ET.Element("testsuite", {
        "name": suite_name,
        "tests": str(len(results)),
        "failures": str(failures),
        "errors": "0",
        "skipped": "0",
        "time": f"{sum(r.wall_s for r in results):.3f}",
    })
    for r in results:
        case = ET.SubElement(suite, "testcase", {
            "classname": f"voicebot.replay.{r.mode}",
            "name": r.scenario.name,
            "file": str(r.scenario.path),
            "time": f"{r.wall_s:.3f}",
        })
        if not r.passed:
            failure = ET.SubElement(case, "failure", {
                "message": failure_message(r),
                "type": "ExpectationFailed",
            })
            failure.text = timeline(r)
        out = ET.SubElement(case, "system-out")
        out.text = timeline(r)
    suites = ET.Element("testsuites", {"tests": str(len(results)),
                                       "failures": str(failures)})
    suites.append(suite)
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True)


def write_junit(results: Sequence[ReplayResult], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(junit_xml(results))


def progress(items: Iterable[T], total: int, desc: str = "replay") -> Iterator[T]:
    """A tqdm bar on stderr when it is a terminal and there are many items; else as is."""
    if total < 5 or not sys.stderr.isatty():
        yield from items
        return
    yield from tqdm(items, total=total, desc=desc, unit="call", leave=False, file=sys.stderr)
