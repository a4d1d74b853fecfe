"""Call scenarios: what a caller does and what must happen, read from YAML.

A scenario is data a tester writes by hand, so every mistake (unknown key, wrong type, a
recording that is missing or unreadable) is reported as `file:line:col: message`, using the
marks of the YAML node it came from. Recordings are read here, once, so a bad file fails
before any call starts, and the same loaded turns drive offline replay and the live stand-in.

Format (paths relative to the scenario file; a recording not found there is also looked for
in the `audio_dirs` given to load_scenario, e.g. `voicebot replay --audio-dir DIR`, so caller
recordings can be kept outside the repository):

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
    expect:                            # every key optional
      outcome: transfer                # transfer | hangup
      reason: keyword                  # escalation (or hangup) reason
      queue: support
      path: [main_menu, order_number]  # nodes visited: a prefix of the visited path ...
      path_exact: true                 # ... or, with this, the whole path
      heard: ["order status", null]    # per spoken turn, normalised; null skips a turn
      barged_in: [main_menu]           # nodes whose prompt was cut by the caller ([]: none)
      max_turn_gap_ms: 800             # each caller turn -> first bot audio back
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from voicebot.errors import VoicebotError
from voicebot.replay.caller import BARGE_IN_AFTER_S, CallerTurn
from voicebot.speech.audio import load_phone_audio

OUTCOMES = ("transfer", "hangup")
TOP_KEYS = ("name", "description", "flow", "from", "turns", "expect")
TURN_KEYS = ("say", "dtmf", "silence", "barge_in")
EXPECT_KEYS = ("outcome", "reason", "queue", "path", "path_exact", "heard", "barged_in",
               "max_turn_gap_ms")
DTMF_RE = re.compile(r"^[0-9*#]+$")
JOIN_GAP_S = 0.12  # silence between recordings listed in one say (well under speech end)


class ScenarioError(VoicebotError):
    """A scenario file is wrong; str() is one `file:line:col: message` line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Expect:
    """What must have happened on the call; None means "not checked"."""

    outcome: str | None = None
    reason: str | None = None
    queue: str | None = None
    path: tuple[str, ...] | None = None
    path_exact: bool = False
    heard: tuple[str | None, ...] | None = None
    barged_in: tuple[str, ...] | None = None  # nodes whose prompts the caller barged in on
    max_turn_gap_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(self).items()
                if v is not None and not (k == "path_exact" and not v)}


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


class _Reader:
    """Walks the composed YAML tree, collecting problems with their file:line:col."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[str] = []
        self._constructor = SafeConstructor()

    def where(self, node: Node | None) -> str:
        if node is None:
            return f"{self.path}:1:1"
        mark = node.start_mark
        return f"{self.path}:{mark.line + 1}:{mark.column + 1}"

    def fail(self, node: Node | None, message: str) -> None:
        self.problems.append(f"{self.where(node)}: {message}")

    def value(self, node: Node) -> Any:
        return self._constructor.construct_object(node, deep=True)

    def mapping(self, node: Node, what: str, allowed: tuple[str, ...]) -> dict[str, Node]:
        """Keys -> value nodes; unknown and repeated keys are problems."""
        if not isinstance(node, MappingNode):
            self.fail(node, f"{what} must be a mapping of keys ({', '.join(allowed)})")
            return {}
        out: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = self.value(key_node) if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str):
                self.fail(key_node, f"{what}: keys must be text")
            elif key not in allowed:
                self.fail(key_node, f"{what}: unknown key {key!r} "
                                    f"(known: {', '.join(allowed)})")
            elif key in out:
                self.fail(key_node, f"{what}: key {key!r} given twice")
            else:
                out[key] = value_node
        return out

    def text(self, node: Node, what: str) -> str | None:
        value = self.value(node) if isinstance(node, ScalarNode) else None
        if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
            self.fail(node, f"{what} must be text")
            return None
        return str(value)

    def number(self, node: Node, what: str, minimum: float = 0.0) -> float | None:
        value = self.value(node) if isinstance(node, ScalarNode) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(node, f"{what} must be a number")
            return None
        if value < minimum:
            self.fail(node, f"{what} must be at least {minimum:g}")
            return None
        return float(value)

    def flag(self, node: Node, what: str) -> bool:
        value = self.value(node) if isinstance(node, ScalarNode) else None
        if not isinstance(value, bool):
            self.fail(node, f"{what} must be true or false")
            return False
        return value

    def text_list(self, node: Node, what: str, allow_null: bool = False) -> list | None:
        if not isinstance(node, SequenceNode):
            self.fail(node, f"{what} must be a list")
            return None
        items: list[str | None] = []
        for item in node.value:
            if allow_null and isinstance(item, ScalarNode) and self.value(item) is None:
                items.append(None)
                continue
            text = self.text(item, f"each entry of {what}")
            if text is not None:
                items.append(text)
        return items


def load_scenario(path: str | Path, audio_dirs: list[Path] | tuple[Path, ...] = ()
                  ) -> Scenario:
    """Read and check a scenario file, loading its recordings as phone audio."""
    path = Path(path)
    bases = (path.parent, *(Path(d) for d in audio_dirs))
    root = _compose(path)
    reader = _Reader(path)
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
        expect = _expect(reader, top["expect"])
        spoken = sum(1 for t in turns if t.kind == "say")
        if expect.heard is not None and len(expect.heard) > spoken:
            reader.fail(top["expect"], f"expect.heard lists {len(expect.heard)} texts but the "
                                       f"scenario has {spoken} spoken (say) turn(s)")
    if reader.problems:
        raise ScenarioError(reader.problems)
    return Scenario(path=path, name=name, turns=tuple(turns), expect=expect, flow=flow,
                    from_number=from_number, description=description, turn_lines=tuple(lines))


def _compose(path: Path) -> Node:
    """The file's YAML node tree; a file that cannot be read or parsed is one clear problem."""
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError([f"{path}: no such scenario file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([f"{path}: cannot read the scenario: {exc}"]) from None
    try:
        root = yaml.compose(source, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError([f"{where}: not valid YAML: {problem}"]) from None
    if root is None:
        raise ScenarioError([f"{path}:1:1: the scenario is empty"])
    return root


def _flow(reader: _Reader, top: dict[str, Node], path: Path) -> Path | None:
    flow_text = reader.text(top["flow"], "flow") if "flow" in top else None
    if not flow_text:
        return None
    flow = (path.parent / flow_text).resolve()
    if not flow.is_file():
        reader.fail(top["flow"], f"flow: no flow file at {flow}")
    return flow


def _turns(reader: _Reader, root: Node, top: dict[str, Node], bases: tuple[Path, ...]
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


def _turn(reader: _Reader, node: Node, index: int, bases: tuple[Path, ...]
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


def _barge_in(reader: _Reader, keys: dict[str, Node], kind: str, what: str
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


def _say(reader: _Reader, say: Node, what: str, bases: tuple[Path, ...], barge_in: bool,
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


def _recording(reader: _Reader, node: Node, rel: str, what: str,
               bases: tuple[Path, ...]) -> bytes | None:
    """One recording as phone audio, looked for beside the scenario and in the audio dirs."""
    candidates = [(base / rel).resolve() for base in bases]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        reader.fail(node, f"{what}: no recording at " + " or ".join(str(c) for c in candidates))
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


def _expect(reader: _Reader, node: Node) -> Expect:
    keys = reader.mapping(node, "expect", EXPECT_KEYS)
    values: dict[str, Any] = {}
    if "outcome" in keys:
        outcome = reader.text(keys["outcome"], "expect.outcome")
        if outcome is not None and outcome not in OUTCOMES:
            reader.fail(keys["outcome"], f"expect.outcome must be one of {', '.join(OUTCOMES)}")
        values["outcome"] = outcome
    for key in ("reason", "queue"):
        if key in keys:
            values[key] = reader.text(keys[key], f"expect.{key}")
    if "path" in keys:
        path = reader.text_list(keys["path"], "expect.path")
        values["path"] = tuple(path) if path is not None else None
    if "path_exact" in keys:
        values["path_exact"] = reader.flag(keys["path_exact"], "expect.path_exact")
        if "path" not in keys:
            reader.fail(keys["path_exact"], "expect.path_exact needs expect.path")
    if "heard" in keys:
        heard = reader.text_list(keys["heard"], "expect.heard", allow_null=True)
        values["heard"] = tuple(heard) if heard is not None else None
    if "barged_in" in keys:
        nodes = reader.text_list(keys["barged_in"], "expect.barged_in")
        values["barged_in"] = tuple(nodes) if nodes is not None else None
    if "max_turn_gap_ms" in keys:
        values["max_turn_gap_ms"] = reader.number(keys["max_turn_gap_ms"],
                                                  "expect.max_turn_gap_ms", minimum=1)
    return Expect(**values)
