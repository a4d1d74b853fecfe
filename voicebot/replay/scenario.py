"""Call scenarios: what a caller does and what must happen, read from YAML.

A scenario is data a tester writes by hand, so every mistake (unknown key, wrong type, a
recording that is missing or unreadable) is reported as `file:line:col: message`, using the
marks of the YAML node it came from. Recordings are read here, once, so a bad file fails
before any call starts, and the same loaded turns drive offline replay and the live stand-in.

Format (paths relative to the scenario file; a recording not found there is also looked for
in the `audio_dirs` given to load_scenario, e.g. `voicebot replay --audio-dir DIR`, so caller
recordings can be kept outside the repository; `expect:` is voicebot.replay.expect's):

    name: transfer by keyword          # optional; default: the file name
    description: ...                   # optional
    flow: ../call_flows/support.yaml   # for offline replay (live calls use the service's)
    from: "+15550100"                  # optional caller number (the service keeps a hash)
    turns:
      - say: recordings/agent.wav      # spoken after the bot's prompt has finished playing
        barge_in: true                 # ... or spoken over it (true, or seconds into it)
      - say: [4.wav, 5.wav, 1.wav]     # several recordings as one utterance (0.12 s apart)
      - dtmf: "2"                      # keys pressed (0-9 * #)
      - silence: 8                     # say nothing for 8 s after the prompt ends
    expect:
      outcome: transfer
      slots: {order_number: "4512"}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from voicebot.errors import VoicebotError
from voicebot.replay.caller import BARGE_IN_AFTER_S, CallerTurn
from voicebot.replay.expect import Expect, parse_expect
from voicebot.replay.scenario_yaml import Reader, ScenarioError, compose
from voicebot.speech.audio import load_phone_audio

__all__ = ["Expect", "Scenario", "ScenarioError", "load_scenario"]

TOP_KEYS = ("name", "description", "flow", "from", "turns", "expect")
TURN_KEYS = ("say", "dtmf", "silence", "barge_in")
DTMF_RE = re.compile(r"^[0-9*#]+$")
JOIN_GAP_S = 0.12  # silence between recordings listed in one say (well under speech end)


@dataclass(frozen=True)
class Scenario:
    path: Path
    name: str
    turns: tuple[CallerTurn, ...]
    expect: Expect
    flow: Path | None = None
    from_number: str | None = None
    description: str = ""
    turn_lines: tuple[int, ...] = field(default=(), repr=False)  # YAML line of each turn

    @property
    def spoken_turns(self) -> int:
        return sum(1 for t in self.turns if t.kind == "say")


def load_scenario(path: str | Path, audio_dirs: list[Path] | tuple[Path, ...] = ()
                  ) -> Scenario:
    """Read and check a scenario file, loading its recordings as phone audio."""
    path = Path(path)
    bases = (path.parent, *(Path(d) for d in audio_dirs))
    root = compose(path)
    reader = Reader(path)
    top = reader.mapping(root, "scenario", TOP_KEYS)
    if reader.problems and not top:
        raise ScenarioError(reader.problems)
    name = path.stem
    if "name" in top:
        name = reader.text(top["name"], "name") or name
    description = ""
    if "description" in top:
        description = reader.text(top["description"], "description") or ""
    flow = _flow(reader, top, path)
    from_number = reader.text(top["from"], "from") if "from" in top else None
    turns, lines = _turns(reader, root, top, bases)
    expect = Expect()
    if "expect" in top:
        expect = parse_expect(reader, top["expect"])
        spoken = _say_turns(top.get("turns"))  # as written: a bad turn is reported once
        if expect.heard is not None and len(expect.heard) > spoken:
            reader.fail(top["expect"], f"expect.heard lists {len(expect.heard)} texts but the "
                                       f"scenario has {spoken} spoken (say) turn(s)")
    if reader.problems:
        raise ScenarioError(reader.problems)
    return Scenario(path=path, name=name, turns=tuple(turns), expect=expect, flow=flow,
                    from_number=from_number, description=description, turn_lines=tuple(lines))


def _say_turns(node: Node | None) -> int:
    if not isinstance(node, SequenceNode):
        return 0
    return sum(1 for item in node.value if isinstance(item, MappingNode) and
               any(getattr(k, "value", None) == "say" for k, _ in item.value))


def _flow(reader: Reader, top: dict[str, Node], path: Path) -> Path | None:
    flow_text = reader.text(top["flow"], "flow") if "flow" in top else None
    if not flow_text:
        return None
    flow = (path.parent / flow_text).resolve()
    if not flow.is_file():
        reader.fail(top["flow"], f"flow: no flow file at {flow}")
    return flow


def _turns(reader: Reader, root: Node, top: dict[str, Node], bases: tuple[Path, ...]
           ) -> tuple[list[CallerTurn], list[int]]:
    """The caller's turns, and the line of each in the file."""
    turns: list[CallerTurn] = []
    lines: list[int] = []
    if "turns" not in top:
        reader.fail(root, "scenario: 'turns' is missing (a list of say/dtmf/silence)")
    elif not isinstance(top["turns"], SequenceNode):
        reader.fail(top["turns"], "turns must be a list of say/dtmf/silence entries")
    else:
        for i, node in enumerate(top["turns"].value, start=1):
            turn = _turn(reader, node, i, bases)
            if turn is not None:
                turns.append(turn)
                lines.append(node.start_mark.line + 1)
    return turns, lines


def _turn(reader: Reader, node: Node, index: int, bases: tuple[Path, ...]
          ) -> CallerTurn | None:
    what = f"turn {index}"
    keys = reader.mapping(node, what, TURN_KEYS)
    if not keys:
        return None
    actions = [k for k in ("say", "dtmf", "silence") if k in keys]
    if len(actions) != 1:
        reader.fail(node, f"{what}: give exactly one of say, dtmf, silence"
                          + (f" (found {', '.join(actions)})" if actions else ""))
        return None
    kind = actions[0]
    barge_in, barge_after = _barge_in(reader, keys, kind, what)
    if kind == "say":
        return _say(reader, keys["say"], what, bases, barge_in, barge_after)
    if kind == "dtmf":
        # the raw scalar text, so that an unquoted 012 keeps its 0 (YAML would read octal)
        digits = str(keys["dtmf"].value) if isinstance(keys["dtmf"], ScalarNode) else ""
        if not DTMF_RE.match(digits):
            reader.fail(keys["dtmf"], f"{what}: dtmf must be keys 0-9, * or # "
                                      "(quote them: dtmf: \"0\")")
            return None
        return CallerTurn("dtmf", digits=digits, label=f"dtmf {digits}")
    seconds = reader.number(keys["silence"], f"{what}: silence (seconds)")
    if seconds is None:
        return None
    return CallerTurn("silence", seconds=seconds, label=f"silence {seconds:g}s")


def _barge_in(reader: Reader, keys: dict[str, Node], kind: str, what: str
              ) -> tuple[bool, float]:
    """(barge_in, seconds into the prompt) of a turn: `true` speaks after the default wait."""
    if "barge_in" not in keys:
        return False, BARGE_IN_AFTER_S
    if kind != "say":
        reader.fail(keys["barge_in"], f"{what}: barge_in only applies to say turns")
        return False, BARGE_IN_AFTER_S
    value = reader.value(keys["barge_in"])
    if isinstance(value, bool):
        return value, BARGE_IN_AFTER_S
    if isinstance(value, (int, float)) and value >= 0:
        return True, float(value)
    reader.fail(keys["barge_in"], f"{what}: barge_in must be true, false or the "
                                  "seconds into the prompt to start speaking")
    return False, BARGE_IN_AFTER_S


def _say(reader: Reader, say: Node, what: str, bases: tuple[Path, ...], barge_in: bool,
         barge_after: float) -> CallerTurn | None:
    if isinstance(say, SequenceNode):  # several recordings spoken as one utterance
        parts = [(item, reader.text(item, f"{what}: each recording of say"))
                 for item in say.value]
        if not parts:
            reader.fail(say, f"{what}: say lists no recordings")
            return None
    else:
        parts = [(say, reader.text(say, f"{what}: say"))]
    pieces: list[bytes] = []
    for item, rel in parts:
        audio = _recording(reader, item, rel, what, bases) if rel is not None else None
        if audio is None:
            return None
        pieces.append(audio)
    joiner = b"\x00" * int(8000 * JOIN_GAP_S) * 2
    label = " + ".join(rel for _, rel in parts if rel)
    return CallerTurn("say", audio=joiner.join(pieces), barge_in=barge_in,
                      barge_in_after=barge_after, label=label)


def _recording(reader: Reader, node: Node, rel: str, what: str,
               bases: tuple[Path, ...]) -> bytes | None:
    """One recording as phone audio, looked for beside the scenario and in the audio dirs."""
    candidates = [(base / rel).resolve() for base in bases]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        searched = ", ".join(str(base.resolve()) for base in bases)
        hint = ("give the directory that holds it with --audio-dir DIR" if len(bases) == 1
                else "or give another directory with --audio-dir DIR")
        reader.fail(node, f"{what}: recording {rel} not found; looked in {searched} (beside "
                          f"the scenario, then in each --audio-dir: {hint})")
        return None
    try:
        audio = load_phone_audio(found)
    except VoicebotError as exc:
        reader.fail(node, f"{what}: cannot use recording {rel}: {exc}")
        return None
    if not audio:
        reader.fail(node, f"{what}: recording {rel} is empty")
        return None
    return audio
