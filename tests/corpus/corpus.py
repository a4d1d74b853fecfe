"""The sentence corpus (sentences.yaml): what callers say at each point of the default flow
and what must happen, read the same way by the tests and scripts/bench_sentences.py.

`outcome()` reads what the flow did with the sentence from its turn records (the flow's own
`turns`: node, kind, heard, intent, result), so a call (from the transcript's context) and
chat (from the FlowSession) are judged by one rule.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CORPUS = Path(__file__).resolve().parent / "sentences.yaml"
SPLITS = ("tune", "held-out", "probe")
ESCAPE_KEY = "0"  # pressed after the sentence, so that every call ends
MAX_CALL_S = 60.0
_FIGURES = re.compile(r"\d")


@dataclass(frozen=True)
class Sentence:
    index: int
    text: str
    at: str  # a position: the keys that reach it are in Corpus.positions
    expect: str  # escape | intent:NAME | digits:NNNN | yes | no | none
    category: str
    split: str


@dataclass(frozen=True)
class Corpus:
    flow: Path
    positions: dict[str, tuple[str, ...]]
    voices: dict[str, tuple[str, ...]]
    speeds: tuple[int, ...]
    sentences: tuple[Sentence, ...]

    def select(self, split: str = "all") -> list[Sentence]:
        return [s for s in self.sentences if split in ("all", s.split)]


def load(path: Path = CORPUS) -> Corpus:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    sentences = tuple(Sentence(i, str(s["text"]), s["at"], str(s["expect"]), s["category"],
                               s["split"]) for i, s in enumerate(data["sentences"]))
    positions = {k: tuple(str(x) for x in v["keys"]) for k, v in data["positions"].items()}
    for s in sentences:
        if s.at not in positions or s.split not in SPLITS:
            raise ValueError(f"{path}: sentence {s.index} ({s.text!r}): unknown position "
                             f"or split")
    return Corpus(flow=(path.parent / data["flow"]).resolve(), positions=positions,
                  voices={k: tuple(v) for k, v in data["voices"].items()},
                  speeds=tuple(data["speeds"]), sentences=sentences)


def outcome(flow_turns: Sequence[dict[str, Any]], confirm_texts: Sequence[str]
            ) -> tuple[str, dict[str, Any] | None]:
    """What the flow made of the sentence (the first turn not keyed): escape, intent:NAME,
    digits:NNNN, yes, no, or none (asked again: no match, low confidence, not heard), with
    the flow's record of that turn. `confirm_texts`: the confirmation prompts said after it
    ("I heard 4 5 1 2. Is that right?"), which hold the digits taken."""
    spoken = [t for t in flow_turns if t["kind"] in ("speech", "no_input")]
    if not spoken:
        return "none", None
    turn = spoken[0]
    result = turn["result"]
    if result == "escape":
        return "escape", turn
    if result == "matched":
        return f"intent:{turn['intent']}", turn
    if result == "confirmed":
        return "yes", turn
    if result == "rejected":
        return "no", turn
    if result in ("to_confirm", "collected") and confirm_texts:
        return "digits:" + "".join(_FIGURES.findall(confirm_texts[0])), turn
    return "none", turn


def chat_outcome(flow: Any, keys: Sequence[str], text: str) -> str:
    """What `voicebot chat` does with `text` typed at the position reached by `keys`."""
    from voicebot.flow.chat import ChatRunner

    out = io.StringIO()
    runner = ChatRunner(flow, out)
    runner.start()
    for k in keys:
        runner.say(f"#{k}")
    mark = out.tell()
    runner.say(text)
    said = out.getvalue()[mark:].splitlines()
    confirms = [line.split(": ", 1)[1] for line in said if "(confirm):" in line]
    return outcome(runner.session.turns, confirms)[0]


@dataclass
class CallOutcome:
    got: str
    turn: dict[str, Any] | None  # the flow's record of the sentence's turn
    result: Any  # voicebot.replay.result.ReplayResult


def call_outcome(env: Any, flow: Path, keys: Sequence[str], pcm: bytes,
                 name: str = "sentence") -> CallOutcome:
    """What a call does with the sentence `pcm` (8 kHz PCM) said at the position reached by
    `keys`: offline replay through the real CallDriver of `env` (a ReplayEnv); the caller
    presses the escape key afterwards so the call ends. An escape counts only when the call
    was handed over with reason `keyword`."""
    from voicebot.replay.caller import CallerTurn
    from voicebot.replay.offline import replay
    from voicebot.replay.scenario import Expect, Scenario

    turns = [CallerTurn("dtmf", digits=k, label=f"dtmf {k}") for k in keys]
    turns.append(CallerTurn("say", audio=pcm, label=name))
    turns.append(CallerTurn("dtmf", digits=ESCAPE_KEY, label=f"dtmf {ESCAPE_KEY}"))
    scenario = Scenario(path=Path(name), name=name, turns=tuple(turns), expect=Expect(),
                        flow=flow)
    result = replay(scenario, env.deps_for(scenario), max_call_s=MAX_CALL_S)
    tr = result.transcript
    first = next((t for t in tr.turns if t.kind == "speech"), None)
    confirms = [p.text for p in tr.prompts if p.kind == "confirm" and first is not None
                and first.t_end is not None and p.t_sent >= first.t_end]
    got, turn = outcome(tr.context.get("turns", []), confirms)
    if got == "escape" and tr.reason != "keyword":
        got = "none"
    return CallOutcome(got, turn, result)
