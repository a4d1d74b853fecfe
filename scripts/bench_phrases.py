"""How well the default flow's spoken answers are heard: espeak-ng voices at the main menu
and at a confirmation, through the phone path into the default engine.

No recording has these phrases, so they are made with espeak-ng (4 voices x 2 speeds, in a
temp dir). The grammars are the ones a call uses (the flow's own Listen for the main menu and
for the order number's confirmation). Prints, per turn: answers heard with the right meaning,
right and confident enough to be taken (the flow's thresholds: 0.5 for an answer, 0.25 for an
escape phrase), and wrong but taken (the harmful kind).
Synthetic voices are not callers: this checks phrase grammars and confidence, not accents
(scripts/bench_digits.py measures those on real recordings).

    python scripts/bench_phrases.py [--set pad_s=0.3 --set bias=0.369 ...]
"""

from __future__ import annotations

import argparse
import ast
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.speechgen import SPEEDS, VOICES, SpeechMaker  # noqa: E402
from voicebot.flow.events import Digits, Listen  # noqa: E402
from voicebot.flow.interpreter import FlowSession  # noqa: E402
from voicebot.flow.loader import load_flow  # noqa: E402
from voicebot.speech.audio import load_phone_audio  # noqa: E402
from voicebot.speech.engines.common import normalize  # noqa: E402
from voicebot.speech.engines.pocketsphinx_engine import (  # noqa: E402
    PocketsphinxEngine,
    PocketsphinxOptions,
)
from voicebot.speech.evaluate import line_audio, recognize_turn  # noqa: E402
from voicebot.speech.turn_end import turn_grammar  # noqa: E402

FLOW_MODEL = load_flow(ROOT / "call_flows" / "support.yaml")
# (turn, what the caller says, a phrase of the group it must be heard as)
ANSWERS = (
    ("menu", "order status", "order status"), ("menu", "where is my order", "order status"),
    ("menu", "billing", "billing"), ("menu", "refund", "billing"),
    ("menu", "my account", "billing"), ("menu", "agent", "agent"),
    ("menu", "operator", "agent"), ("menu", "speak to someone", "agent"),
    ("confirm", "yes", "yes"), ("confirm", "yeah", "yes"), ("confirm", "yes please", "yes"),
    ("confirm", "that's right", "yes"), ("confirm", "no", "no"), ("confirm", "nope", "no"),
    ("confirm", "no it isn't", "no"), ("confirm", "agent", "agent"),
    ("number", "agent", "agent"), ("number", "operator", "agent"),
    ("number", "representative", "agent"), ("number", "customer service", "agent"),
)


def listens() -> dict[str, Listen]:
    """The flow's Listen at the main menu, for the order number (where a caller may still ask
    for a person), and at the number's confirmation."""
    session = FlowSession(FLOW_MODEL)
    menu = next(a for a in session.start() if isinstance(a, Listen))
    number = next(a for a in session.handle(Digits("1")) if isinstance(a, Listen))
    confirm = next(a for a in session.handle(Digits("4512")) if isinstance(a, Listen))
    return {"menu": menu, "number": number, "confirm": confirm}


def threshold(listen: Listen, text: str) -> float:
    """How sure an answer must be to be taken: an escape phrase by the node's escape
    threshold (a needless hand-over costs less than a missed one), anything else by its
    confidence threshold (as the flow decides)."""
    policy = FLOW_MODEL.nodes[listen.node].policy
    if normalize(text) in set(map(normalize, policy.escape_phrases)):
        return policy.escape_threshold
    return listen.confidence_threshold


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                    help="a PocketsphinxOptions field, e.g. pad_s=0.3")
    args = ap.parse_args()
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = ast.literal_eval(value)
    engine = PocketsphinxEngine(replace(PocketsphinxOptions(), **overrides))
    turns = listens()
    tally: dict[str, list[int]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-phrases-") as tmp:
        speech = SpeechMaker(Path(tmp))
        for turn, text, meaning in ANSWERS:
            listen = turns[turn]
            grammar = turn_grammar(listen)
            # (A number's Listen has no groups: its phrases are the escape phrases.)
            group = next((set(map(normalize, g)) for g in listen.groups
                          if normalize(meaning) in map(normalize, g)),
                         set(map(normalize, listen.grammar)))
            for voice in VOICES:
                for speed in SPEEDS:
                    pcm = load_phone_audio(speech(text, voice=voice, speed=speed))
                    hyp, _ = recognize_turn(engine, grammar, line_audio(pcm, seed=len(text)))
                    right = hyp.text in group
                    sure = hyp.confidence >= threshold(listen, hyp.text)
                    row = tally.setdefault(turn, [0, 0, 0, 0])
                    row[0] += 1
                    row[1] += right
                    row[2] += right and sure
                    row[3] += bool(hyp.text) and not right and sure
    engine.close()
    print(f"engine {engine.model}{', overrides ' + str(overrides) if overrides else ''}; "
          f"espeak-ng voices {', '.join(VOICES)} at {SPEEDS} wpm")
    for turn, (n, right, taken, harm) in tally.items():
        print(f"  {turn:8} {n:3d} answers: right meaning {right:3d}, right and taken {taken:3d}, "
              f"wrong but taken {harm:3d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
