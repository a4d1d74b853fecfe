"""What keeping callers' data private costs: redaction and encryption per turn and per call.

    python scripts/bench_privacy.py [--calls 200] [--turns 10]

A call here is the privacy test flow's (tests/privacy/privacy_flow.yaml) with `--turns`
caller turns of realistic length (free speech with a card number, a phone number and an
e-mail address in it, keyed numbers, yes/no), growing turn by turn as a live call does:
after each turn the driver reduces the transcript for storage (records.minimise, cached
per text) and the store seals every text it writes (records.crypto, AES-256-GCM), the
whole transcript again each time. Figures:

- redaction: one new free-speech turn through the redactor, uncached; and per call, every
  save's reduction as the driver does it;
- sealing: one value; and per call, every value every save seals;
- a save to SQLite with and without the data key (what a turn costs the writer thread,
  never the caller: records are written by a background thread).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voicebot.flow.loader import load_flow  # noqa: E402
from voicebot.flow.redact import redact  # noqa: E402
from voicebot.records.crypto import DataCipher, new_key, parse_keys  # noqa: E402
from voicebot.records.minimise import Minimiser, StorageRules  # noqa: E402
from voicebot.records.store import CallStore  # noqa: E402
from voicebot.records.transcript import CallTranscript, PromptRecord, TurnRecord  # noqa: E402

FLOW = ROOT / "tests" / "privacy" / "privacy_flow.yaml"
SAID = [
    "my card number is four one one one one one one one one one one one one one one one and "
    "you can call me on five five five zero one zero zero one two three or email john at "
    "example dot com",
    "yes that's right", "no", "i was charged twice for the same order last week",
    "it's four five one two", "can you send it to jane at example dot org please",
    "my account is one two three four five six seven eight", "yeah",
]


def call_turns(n: int, call_no: int) -> list[tuple[PromptRecord, TurnRecord]]:
    """`n` turns of a call; the texts differ per call (so nothing is cached across calls)."""
    out = []
    for i in range(n):
        text = SAID[i % len(SAID)] + (f" {call_no} {i}" if i % 3 == 0 else "")
        node = ("ask_issue", "ask_card", "ask_phone", "ask_order")[i % 4]
        prompt = PromptRecord(f"Prompt {i} at {node}.", node, "prompt", float(i))
        out.append((prompt, TurnRecord(node, "speech", text, 0.9, t_start=i + 0.5)))
    return out


def timed(fn, repeat: int) -> float:
    """Median seconds of one call of `fn`."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_redaction(rules: StorageRules, calls: int, turns: int) -> tuple[float, float]:
    texts = [f"{SAID[0]} {i}" for i in range(2000)]
    t0 = time.perf_counter()
    for text in texts:
        redact(text)
    per_turn = (time.perf_counter() - t0) / len(texts)
    per_call = []
    for c in range(calls):
        minimiser, transcript = Minimiser(rules), CallTranscript(call_sid=f"CA{c}")
        t0 = time.perf_counter()
        for prompt, turn in call_turns(turns, c):
            transcript.prompts.append(prompt)
            transcript.turns.append(turn)
            transcript.context = {"slots": {"order_number": "4512", "card": "4111111111111111"}}
            minimiser.stored(transcript)  # after every turn, as the driver saves
        per_call.append(time.perf_counter() - t0)
    return per_turn, statistics.median(per_call)


def bench_sealing(cipher: DataCipher, turns: int) -> tuple[float, float, int]:
    value = SAID[0]
    per_value = timed(lambda: cipher.seal(value, "turns.heard|CA1"), 2000)
    sealed = sum(2 * t + t + 2 for t in range(1, turns + 1))  # every save seals it all again
    return per_value, per_value * sealed, sealed


def bench_saves(turns: int, calls: int) -> dict[str, float]:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, cipher in (("without", None), ("with", DataCipher(parse_keys(new_key())))):
            store = CallStore(Path(tmp) / f"{name}.sqlite3", b"k", cipher=cipher)
            times = []
            for c in range(calls):
                transcript = CallTranscript(call_sid=f"CA{name}{c}", context={"slots": {}})
                for prompt, turn in call_turns(turns, c):
                    transcript.prompts.append(prompt)
                    transcript.turns.append(turn)
                    t0 = time.perf_counter()
                    store.save(transcript)
                    times.append(time.perf_counter() - t0)
            store.close()
            out[name] = statistics.median(times)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--turns", type=int, default=10)
    args = parser.parse_args()
    rules = StorageRules.for_flow(load_flow(FLOW), b"bench-hash-key")
    cipher = DataCipher(parse_keys(new_key()))
    redact_turn, redact_call = bench_redaction(rules, args.calls, args.turns)
    seal_value, seal_call, sealed = bench_sealing(cipher, args.turns)
    saves = bench_saves(args.turns, max(10, args.calls // 10))
    print(f"{args.calls} calls of {args.turns} turns (privacy test flow), medians:")
    print("| | per turn | per call |")
    print("| --- | --- | --- |")
    print(f"| redaction (a new free-speech turn; a call's saves, cached per text) | "
          f"{redact_turn * 1e6:.0f} µs | {redact_call * 1e3:.2f} ms "
          f"({redact_call / args.turns * 1e6:.0f} µs a turn) |")
    print(f"| sealing (one value; every value of every save: {sealed}) | "
          f"{seal_value * 1e6:.1f} µs | {seal_call * 1e3:.2f} ms "
          f"({seal_call / args.turns * 1e6:.0f} µs a turn) |")
    print(f"| a save to SQLite without / with the data key (writer thread) | "
          f"{saves['without'] * 1e3:.2f} / {saves['with'] * 1e3:.2f} ms | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
