"""`voicebot synth`: test audio for any flow in one command.

Everything a caller of the flow may say (every intent's phrases, yes and no where the flow
confirms or asks yes/no, the numbers its collect nodes take, the escape phrases, and two
unintelligible mumbles) is rendered in several espeak-ng voices and speeds at 8 kHz, with
a manifest for `voicebot evaluate` (each phrase with the node where it is said, so it is
measured with that node's grammar) and a scenario skeleton per intent for `voicebot replay`.

Layout of the output directory (the scenarios name recordings relative to it, so it is the
`--audio-dir` of a replay):

    <voice>-<speed>/<phrase>.wav   e.g. en-us-175/order-status.wav, en-gb-140/mumble-1.wav
    manifest.csv                   audio,expected,segment,node,speed,flow
    scenarios/<node>-<intent>.yaml
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from voicebot.flow.model import Flow
from voicebot.flow.normalize import words
from voicebot.replay.skeletons import (
    Skeleton,
    example_numbers,
    skeletons,
    spoken,
    turns,
    ways_to,
)
from voicebot.speech.caller_audio import CallerAudio

DEFAULT_VOICES = ("en-us", "en-gb", "en-us+m3", "en-gb+f2")
DEFAULT_SPEEDS = (140, 175)
PAD_S = 0.2  # silence before and after each phrase, as a recording has
# Answers to "Is that right?" and yes/no questions (all in matching.YES_SPOKEN / NO_SPOKEN).
YES_NO = ("yes", "yes please", "that's right", "no", "no thanks", "that's not right")
# Nonsense a recogniser cannot match: for the flow's low-confidence and no-match hand-over.
MUMBLES = ("vrosh kelteng umbrazi", "plinda mork zevarth")
MANIFEST_COLUMNS = ("audio", "expected", "segment", "node", "speed", "flow")


@dataclass(frozen=True)
class Phrase:
    text: str  # what is said
    expected: str  # what a recogniser should write ("4512" for a number read out)
    node: str | None  # where: "node", or "node:confirm" for its confirmation; None: nowhere


@dataclass
class SynthResult:
    out: Path
    manifest: Path
    recordings: int
    scenarios: list[Path] = field(default_factory=list)


def slug(text: str) -> str:
    """A phrase's file name: its words with hyphens ("that's all" -> "thats-all")."""
    return "-".join(words(text)) or "phrase"


def recording(text: str, voice: str, speed: int) -> str:
    """Where a phrase's recording is, relative to the output directory."""
    return f"{voice}-{speed}/{slug(text)}.wav"


def phrases(flow: Flow) -> list[Phrase]:
    """Everything a caller of the flow may say, with the node where it is said."""
    out: list[Phrase] = []
    for node in flow.nodes.values():
        for intent in node.intents:
            out.extend(Phrase(p, p, node.id) for p in intent.phrases)
        if node.kind == "collect" and node.slot_type == "digits":
            out.extend(Phrase(spoken(n), n, node.id) for n in example_numbers(flow, node))
        if node.kind == "collect" and node.slot_type == "yes_no":
            out.extend(Phrase(p, p, node.id) for p in YES_NO)
        if node.kind == "collect" and node.confirm:
            out.extend(Phrase(p, p, f"{node.id}:confirm") for p in YES_NO)
    first = next(iter(ways_to(flow)), (None, None))[0]  # where a caller is first asked
    out.extend(Phrase(p, p, first) for p in flow.policy.escape_phrases)
    out.extend(Phrase(m, "", None) for m in MUMBLES)
    return out


def _name(phrase: Phrase) -> str:
    """The text a recording is named after (mumbles as mumble-1, mumble-2)."""
    return f"mumble {MUMBLES.index(phrase.text) + 1}" if phrase.text in MUMBLES else phrase.text


def synthesize(flow: Flow, out: Path, audio: CallerAudio, *,
               voices: Iterable[str] = DEFAULT_VOICES, speeds: Iterable[int] = DEFAULT_SPEEDS,
               progress: Callable[[int, int], None] | None = None) -> SynthResult:
    """Render the flow's phrases into `out`, write the manifest and the skeletons."""
    out = Path(out)
    voices, speeds = list(dict.fromkeys(voices)), list(dict.fromkeys(speeds))
    said = phrases(flow)
    unique = list({_name(p): p for p in said}.values())
    jobs = [(p, v, s) for v in voices for s in speeds for p in unique]
    for i, (phrase, voice, speed) in enumerate(jobs, start=1):
        target = out / recording(_name(phrase), voice, speed)
        if not target.is_file():
            audio.write(target, phrase.text, voice, speed, pad_s=PAD_S)
        if progress:
            progress(i, len(jobs))
    manifest = _write_manifest(out, flow, said, voices, speeds)
    first = (voices[0], speeds[0])
    scenarios = [_write_skeleton(out / "scenarios", flow, sk, first) for sk in skeletons(flow)]
    return SynthResult(out, manifest, len(jobs), scenarios)


def _ref(target: Path, base: Path) -> str:
    """`target` relative to `base` when they share a directory below the root, else absolute
    (so output written to /tmp does not name the flow as ../../../work/...)."""
    target, base = Path(target).resolve(), Path(base).resolve()
    if Path(os.path.commonpath([target, base])) == Path(target.anchor):
        return str(target)
    return os.path.relpath(target, base)


def _write_manifest(out: Path, flow: Flow, said: list[Phrase], voices: list[str],
                    speeds: list[int]) -> Path:
    path = out / "manifest.csv"
    flow_rel = _ref(flow.path, out)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(MANIFEST_COLUMNS)
        for phrase in said:
            if phrase.node is None:
                continue
            for voice in voices:
                for speed in speeds:
                    writer.writerow([recording(_name(phrase), voice, speed), phrase.expected,
                                     voice, phrase.node, speed, flow_rel])
    return path


def _write_skeleton(directory: Path, flow: Flow, sk: Skeleton, voice: tuple[str, int]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{sk.name}.yaml"
    doc = {"name": sk.name, "description": sk.description,
           "flow": _ref(flow.path, directory),
           "turns": turns(sk, lambda text: recording(text, *voice)),
           "expect": sk.expect}
    header = (f"# Made by `voicebot synth` from {flow.path.name}: {sk.description}.\n"
              "# Recordings are relative to the synth output directory: replay with\n"
              "#   voicebot replay --audio-dir DIR SCENARIO...\n"
              "# Keys bring the call to the node; only the phrase it is about is spoken.\n")
    body = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    path.write_text(header + body, encoding="utf-8")
    return path
