"""Whole sentences through the call path: does the bot understand callers as they speak?

Each sentence of tests/corpus/sentences.yaml is rendered with espeak-ng (no recording says
them) in several voices and two speeds, and played as a caller through offline replay
(voicebot.replay.offline: the real CallDriver, endpointing, grammars, thresholds and flow),
after the keys that reach the point where it is said; the caller then presses 0 so that
every call ends. What the flow did with the sentence is read from the call's record.

Prints, per engine and voice, and per corpus split: escape recall (handed over with reason
`keyword`), false escapes (any other sentence handed over as an escape), answers right
(intent, digits, yes/no, or asked again when nothing should be taken), menu requests sent
down another branch (wrong branch), wrong answers taken, reprompts, the turn gap (caller's
last voiced frame to the bot's reply, on replay's virtual clock: the endpointer's wait, not
decoding time) p50/p95 and CPU per spoken turn (the
engine's decoder processes, one per job, when it has them; else this process's CPU for the
whole call, replay included). Synthetic voices are not callers: this measures the
understanding of sentences, not accents (scripts/bench_digits.py measures those on real
recordings).

    python scripts/bench_sentences.py [--engine pocketsphinx[,whisper,...]]
        [--split tune|held-out|probe|all] [--voices tune|held-out|checks|all|V1,V2]
        [--speeds 140,180]
        [--limit N] [--jobs 2] [--set WHISPER_OPTION=VALUE]
        [--failures] [--json FILE]

Rendered audio is cached in var/bench-sentences/ (by text, voice and speed).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.corpus.corpus import Corpus, Sentence, call_outcome, load  # noqa: E402
from tests.speechgen import SpeechMaker  # noqa: E402
from voicebot.speech.tts import TtsError  # noqa: E402

AUDIO_CACHE = ROOT / "var" / "bench-sentences"


@dataclass
class Trial:
    """One sentence in one voice and speed, through one call."""

    sentence: int
    split: str
    category: str
    expect: str
    voice: str
    voice_split: str
    speed: int
    got: str = "none"
    reason: str = ""
    heard: str = ""
    confidence: float | None = None
    result: str = ""
    gap_ms: float | None = None
    cpu_s: float = 0.0  # decoder CPU for the call's spoken turns
    spoken_turns: int = 0
    error: str = ""
    # Every speech turn of the call before the closing key: (heard, confidence, result,
    # seconds of speech), so a sentence cut in two by a pause shows as two turns.
    turns: list = field(default_factory=list)
    audio_s: float = 0.0  # the rendering's length


# ------------------------------------------------------------------ one process's calls

_ENV: dict[str, Any] = {}


def _worker_cpu(engine: Any) -> float | None:
    """CPU seconds used so far by the engine's decoder processes (None: it has none)."""
    pids = getattr(engine, "worker_pids", None) or []
    if not pids:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _init(engine_name: str, tts_cache: str, whisper_set: dict[str, Any] | None = None
          ) -> None:
    from voicebot.replay.offline import ReplayEnv
    from voicebot.settings import Settings
    from voicebot.speech.engines import engine_from_settings

    settings = Settings.from_env()
    # one decoder process, so its CPU is the decoding CPU
    engine = engine_from_settings(settings, engine_name, workers=1, offline=True)
    whisper = getattr(engine, "slow", engine)
    if whisper_set and hasattr(whisper, "options"):  # before any decode: prompts are cached
        whisper.options = replace(whisper.options, **whisper_set)
    _ENV["env"] = ReplayEnv(engine=engine, tts_cache=Path(tts_cache), settings=settings)


def _run(job: tuple[Trial, str, tuple[str, ...], str]) -> Trial:
    from voicebot.speech.audio import load_phone_audio

    trial, wav, keys, flow_path = job
    env = _ENV["env"]
    cpu_before = _worker_cpu(env.engine)
    proc_before = time.process_time()
    try:
        pcm = load_phone_audio(wav)
        call = call_outcome(env, Path(flow_path), keys, pcm,
                            name=f"sentence-{trial.sentence}-{trial.voice}-{trial.speed}")
    except Exception as exc:  # noqa: BLE001 - a benchmark reports, it does not stop
        trial.error = f"{type(exc).__name__}: {exc}"
        return trial
    cpu_after = _worker_cpu(env.engine)
    trial.cpu_s = (cpu_after - cpu_before if cpu_after is not None and cpu_before is not None
                   else time.process_time() - proc_before)
    tr = call.result.transcript
    trial.spoken_turns = sum(t.kind == "speech" for t in tr.turns)
    trial.audio_s = len(pcm) / 16000
    flow_turns = [t for t in tr.context.get("turns", []) if t["kind"] == "speech"]
    spoken = [t for t in tr.turns if t.kind == "speech"]
    trial.turns = [(t.heard, t.confidence, f["result"] if f else "",
                    round((t.t_end or 0) - (t.t_start or 0), 2))
                   for t, f in zip(spoken, flow_turns + [None] * len(spoken), strict=False)]
    trial.got, trial.reason = call.got, tr.reason or ""
    if call.turn is not None:
        trial.heard = call.turn.get("heard") or ""
        trial.confidence, trial.result = call.turn.get("confidence"), call.turn["result"]
    logs = call.result.caller.get("turns", [])
    if len(logs) > len(keys):
        trial.gap_ms = logs[len(keys)].get("gap_ms")
    return trial


# ------------------------------------------------------------------ the report


def _pct(n: int, d: int) -> str:
    return f"{n:4d}/{d:<4d} {100.0 * n / d:5.1f}%" if d else "     -     "


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def summarise(trials: list[Trial]) -> dict[str, Any]:
    esc = [t for t in trials if t.expect == "escape"]
    other = [t for t in trials if t.expect != "escape"]
    answers = [t for t in trials if t.expect.startswith("intent:")]
    taken = [t for t in other if t.got not in ("none", "escape")]
    gaps = [t.gap_ms for t in trials if t.gap_ms is not None]
    turns = sum(t.spoken_turns for t in trials)
    return {
        "n": len(trials),
        "escape": (sum(t.got == "escape" for t in esc), len(esc)),
        "false_escape": (sum(t.got == "escape" for t in other), len(other)),
        "intent": (sum(t.got == t.expect for t in answers), len(answers)),
        # a menu request sent down another branch (the "wrong branch")
        "wrong_branch": (sum(t.got.startswith("intent:") and t.got != t.expect
                             for t in answers), len(answers)),
        "right": (sum(t.got == t.expect for t in trials), len(trials)),
        "wrong_taken": (sum(t.got != t.expect for t in taken), len(other)),
        "reprompts": (sum(t.got == "none" and t.expect != "none" for t in trials),
                      len(trials)),
        "gap_p50": _quantile(gaps, 0.5), "gap_p95": _quantile(gaps, 0.95),
        "cpu_per_turn": sum(t.cpu_s for t in trials) / turns if turns else None,
        "errors": sum(bool(t.error) for t in trials),
    }


def print_table(title: str, groups: dict[str, list[Trial]]) -> None:
    print(f"\n{title}")
    print(f"  {'':22} {'escape recall':>16} {'false escapes':>16} {'intents right':>16} "
          f"{'wrong branch':>16} {'all right':>16} {'wrong taken':>16} {'reprompts':>16} "
          f"{'gap p50/p95 ms':>15} {'CPU/turn':>8}")
    for name, trials in groups.items():
        s = summarise(trials)
        gap = ("-" if s["gap_p50"] is None
               else f"{s['gap_p50']:.0f}/{s['gap_p95']:.0f}")
        cpu = "-" if s["cpu_per_turn"] is None else f"{s['cpu_per_turn']:.2f}s"
        err = f"  ({s['errors']} errors)" if s["errors"] else ""
        print(f"  {name:22} {_pct(*s['escape']):>16} {_pct(*s['false_escape']):>16} "
              f"{_pct(*s['intent']):>16} {_pct(*s['wrong_branch']):>16} "
              f"{_pct(*s['right']):>16} "
              f"{_pct(*s['wrong_taken']):>16} {_pct(*s['reprompts']):>16} {gap:>15} "
              f"{cpu:>8}{err}")


def report(engine: str, trials: list[Trial], by_category: bool) -> None:
    print(f"engine {engine}: {len(trials)} calls")
    by_voice: dict[str, list[Trial]] = defaultdict(list)
    for t in trials:
        by_voice[f"{t.voice} ({t.voice_split})"].append(t)
    by_voice["all voices"] = trials
    print_table("per voice (all sentences of the run)", dict(by_voice))
    by_split: dict[str, list[Trial]] = defaultdict(list)
    for t in trials:
        by_split[f"{t.split} sent, {t.voice_split} voices"].append(t)
    print_table("per corpus split (sentences x voices)", dict(sorted(by_split.items())))
    if by_category:
        cats: dict[str, list[Trial]] = defaultdict(list)
        for t in trials:
            cats[t.category].append(t)
        print_table("per category", dict(sorted(cats.items())))


# ------------------------------------------------------------------ main


def _voices(corpus: Corpus, choice: str) -> list[tuple[str, str]]:
    if choice in corpus.voices:  # tune, held-out, checks
        return [(v, choice) for v in corpus.voices[choice]]
    if choice == "all":
        return [(v, s) for s in ("tune", "held-out") for v in corpus.voices[s]]
    known = {v: s for s, vs in corpus.voices.items() for v in vs}
    return [(v, known.get(v, "other")) for v in choice.split(",")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engine", default="pocketsphinx",
                    help="any name voicebot.speech.engines.load_engine accepts; several, "
                         "comma-separated, are run one after the other")
    ap.add_argument("--split", default="all", choices=("tune", "held-out", "probe", "all"))
    ap.add_argument("--voices", default="all",
                    help="tune | held-out | checks | all (tune and held-out) | V1,V2,...")
    ap.add_argument("--speeds", default=None, help="words a minute, e.g. 140,180")
    ap.add_argument("--limit", type=int, default=0, help="first N sentences only")
    ap.add_argument("--category", default=None, help="only this category")
    ap.add_argument("--jobs", type=int, default=2, help="calls run in this many processes")
    ap.add_argument("--failures", action="store_true", help="list every trial gone wrong")
    ap.add_argument("--categories", action="store_true", help="also a table per category")
    ap.add_argument("--json", metavar="FILE", help="write every trial here")
    ap.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                    help="a WhisperOptions field for the whisper engine (also in the "
                         "cascade), e.g. alternatives=1; repeatable")
    args = ap.parse_args()

    corpus = load()
    sentences: list[Sentence] = corpus.select(args.split)
    if args.category:
        sentences = [s for s in sentences if s.category == args.category]
    if args.limit:
        sentences = sentences[:args.limit]
    voices = _voices(corpus, args.voices)
    speeds = ([int(s) for s in args.speeds.split(",")] if args.speeds else list(corpus.speeds))

    AUDIO_CACHE.mkdir(parents=True, exist_ok=True)
    speech = SpeechMaker(AUDIO_CACHE)
    jobs = []
    try:
        for s in sentences:
            for voice, voice_split in voices:
                for speed in speeds:
                    wav = speech(s.text, voice=voice, speed=speed)
                    trial = Trial(s.index, s.split, s.category, s.expect, voice, voice_split,
                                  speed)
                    jobs.append((trial, str(wav), corpus.positions[s.at], str(corpus.flow)))
    except TtsError as exc:  # an unknown voice, or espeak-ng missing: say which
        print(f"bench_sentences: cannot make the callers' speech: {exc}", file=sys.stderr)
        return 2
    print(f"{len(sentences)} sentences x {len(voices)} voices x {len(speeds)} speeds = "
          f"{len(jobs)} calls per engine, {args.jobs} processes", file=sys.stderr)
    results: dict[str, list[dict[str, Any]]] = {}
    whisper_set = {k: ast.literal_eval(v) for k, _, v in (x.partition("=") for x in args.set)}
    for engine in args.engine.split(","):
        trials = run_engine(engine, jobs, args.jobs, whisper_set)
        if trials is None:
            continue
        report(engine, trials, args.categories)
        if args.failures:
            print_failures(corpus, trials)
        results[engine] = [asdict(t) for t in trials]
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0 if results else 1


def run_engine(engine: str, jobs: list, processes: int,
               whisper_set: dict[str, Any] | None = None) -> list[Trial] | None:
    from voicebot.speech.engines import KINDS

    if engine not in KINDS:
        print(f"engine {engine}: unknown (choose {', '.join(KINDS)})", file=sys.stderr)
        return None
    started = time.perf_counter()
    tts_cache = str(ROOT / "var" / "tts-cache")
    try:
        with ProcessPoolExecutor(max_workers=processes, initializer=_init,
                                 initargs=(engine, tts_cache, whisper_set)) as pool:
            trials = list(pool.map(_run, jobs, chunksize=4))
    except Exception as exc:  # noqa: BLE001 - e.g. the engine cannot load: say so, go on
        print(f"engine {engine}: cannot run ({type(exc).__name__}: {exc})", file=sys.stderr)
        return None
    print(f"engine {engine}: ran in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return trials


def print_failures(corpus: Corpus, trials: list[Trial]) -> None:
    text = {s.index: s.text for s in corpus.sentences}
    print("\nwrong:")
    for t in trials:
        if t.got != t.expect:
            conf = "-" if t.confidence is None else f"{t.confidence:.2f}"
            print(f"  [{t.split}] {t.voice}@{t.speed} {text[t.sentence]!r}: expected "
                  f"{t.expect}, got {t.got} (heard {t.heard!r}, {conf}, {t.result})"
                  f"{' ' + t.error if t.error else ''}")
            if len(t.turns) > 1:  # a sentence cut in two by a pause shows here
                print("      turns: " + "; ".join(f"{h!r} {c or 0:.2f} {r} ({s} s)"
                                                  for h, c, r, s in t.turns))


if __name__ == "__main__":
    raise SystemExit(main())
