"""Turn a finished call from the call records into a scenario skeleton (a regression test).

The records keep what the bot heard, not the caller's audio, so each spoken turn becomes a
`say:` placeholder naming the recording the tester must supply, with what was heard beside
it. Keys pressed are kept as they were keyed; what happened becomes the expectations. The
output is YAML with comments, written by hand because a YAML dumper would drop comments.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from voicebot.errors import VoicebotError
from voicebot.records.store import CallStore
from voicebot.records.transcript import CallTranscript, TurnRecord


class ExportError(VoicebotError):
    """The call cannot be exported (no database, no such call, call not finished)."""


def _q(value: str) -> str:
    """A YAML-safe quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


def _comment(text: str) -> str:
    return " ".join(text.split())


def scenario_skeleton(transcript: CallTranscript, *, flow_ref: str | None = None,
                      recordings_dir: str = "recordings") -> str:
    """The scenario YAML for `transcript` (see the module docstring)."""
    t = transcript
    sid = t.call_sid
    lines = [
        f"# Scenario exported from call {sid}",
        f"# flow {t.flow_name or '?'} version {t.flow_version or '?'}, "
        f"engine {t.engine or '?'}",
        "# The caller's audio is not kept: record each say: file below (what the bot heard",
        "# is noted beside it) or replace it with a recording of the intended answer.",
        f"name: {_q(f'call {sid}')}",
    ]
    if flow_ref:
        lines.append(f"flow: {_q(flow_ref)}")
    lines.append("# from: \"+1...\"   # the caller's number is stored only as a hash")
    lines.append("turns:")
    if not t.turns:
        lines.append("  []  # the caller did nothing before the call ended")
    for i, turn in enumerate(t.turns, start=1):
        lines += _turn_lines(i, turn, f"{recordings_dir}/{sid}-turn-{i}.wav")
    lines += _expect_lines(t)
    return "\n".join(lines) + "\n"


def _turn_lines(i: int, turn: TurnRecord, recording: str) -> list[str]:
    where = f"at node {turn.node}" if turn.node else ""
    if turn.kind == "dtmf":
        return [f"  - dtmf: {_q(turn.heard)}   # turn {i}, keyed {where}"]
    if turn.kind == "speech":
        conf = f", confidence {turn.confidence:.2f}" if turn.confidence is not None else ""
        lines = [f"  - say: {recording}",
                 f"    # turn {i} {where}: supply this recording (audio not kept); "
                 f"the bot heard {_q(_comment(turn.heard))}{conf}"]
        if turn.during_prompt:
            lines.append("    barge_in: true   # spoken over the prompt")
        return lines
    waited = None  # no_input
    if turn.t_start is not None and turn.t_end is not None:
        waited = max(1.0, round(turn.t_end - turn.t_start, 1))
    return [f"  - silence: {waited if waited is not None else 8}   # turn {i}: no input {where}"]


def _expect_lines(t: CallTranscript) -> list[str]:
    lines = ["expect:"]
    if t.outcome:
        lines.append(f"  outcome: {t.outcome}")
    else:
        lines.append("  # outcome: ?   # the call had no outcome in the records")
    if t.reason:
        lines.append(f"  reason: {_q(t.reason)}")
    if t.queue:
        lines.append(f"  queue: {_q(t.queue)}")
    if t.path:
        lines.append("  path: [" + ", ".join(_q(n) for n in t.path) + "]")
        lines.append("  path_exact: true")
    wanted = [turn.heard for turn in t.turns if turn.kind == "speech"]
    if wanted:
        lines.append("  # heard: what the bot heard on each spoken turn; keep what it should hear")
        lines.append("  # heard: [" + ", ".join(_q(_comment(h)) for h in wanted) + "]")
    return lines


def export_call(call_sid: str, records: Path | str, *, hash_key: str | None = None,
                output: Path | None = None, flow_path: Path | None = None) -> str:
    """Read `call_sid` from the call records (a SQLite file or a postgresql:// URL) and
    return (and write) its scenario."""
    if isinstance(records, Path) and not records.is_file():
        raise ExportError(f"no call records at {records} (set VOICEBOT_DB or "
                          "VOICEBOT_DATABASE_URL, or pass --db)")
    store = CallStore(records, hash_key or "export-reads-only")
    try:
        transcript = store.get(call_sid)
    finally:
        store.close()
    if transcript is None:
        raise ExportError(f"no call {call_sid} in {store.describe()}")
    flow_ref = None
    if flow_path is not None:
        base = (output.parent if output else Path.cwd()).resolve()
        flow_ref = os.path.relpath(flow_path.resolve(), base)
    text = scenario_skeleton(transcript, flow_ref=flow_ref)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    return text
