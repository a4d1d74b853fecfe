#!/usr/bin/env python3
"""Tuning and comparing the whisper engine and the cascade on one set of utterances.

Items, each through the phone path (8 kHz, line noise, the endpointer's cut of the turn):
- FSDD digits (real recordings; the clip's digit, a grammar of digit words as bench_digits);
- caller sentences and phrases for the default flow's menu, order number and confirmation
  (scripts/data/engine_tuning_sentences.csv), made with espeak-ng voices (no recording has
  them): tuning voices and held-out voices, two speeds;
- noise a line carries when nobody speaks (silence, hiss, clicks, breaths, hum, tones, made
  here with numpy), fed straight to the recognizer: anything heard there is invented.
The tuning split is FSDD indices 0-9, the tuning voices and even noise seeds; held-out:
FSDD 10-24, the other voices, odd seeds. Every item is decoded by pocketsphinx and Whisper
once (--cache keeps the results), then:

    python scripts/tune_whisper.py --cache /tmp/tw.pkl                 # accuracy tables
    python scripts/tune_whisper.py --cache /tmp/tw.pkl --fit           # refit calibration.py
    python scripts/tune_whisper.py --cache /tmp/tw.pkl --rules         # cascade rules compared
    python scripts/tune_whisper.py --window                            # window sizes (FSDD)
    python scripts/tune_whisper.py --stall              # does decoding stall other threads?
    python scripts/tune_whisper.py --set beam_size=5 --cache /tmp/b5.pkl   # an option

"Meaning" is what the default flow makes of the text (its interpreter, at the node), so
the figures follow the flow's own understanding and thresholds (0.5, escape 0.25).
"""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import os
import pickle
import re
import subprocess
import sys
import time
import zlib
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_digits import logistic_fit  # noqa: E402  (scripts/, beside this file)

from voicebot.speech.engines.common import DIGIT_ALIASES, DIGIT_WORDS  # noqa: E402

SENTENCES = ROOT / "scripts" / "data" / "engine_tuning_sentences.csv"
TUNE_VOICES = ("en-us", "en-gb-scotland", "en-029", "en-us+f2")
HELD_VOICES = ("en-gb-x-rp", "en-gb-x-gbclan", "en-us-nyc", "en-gb-x-gbcwmd+f3")
SPEEDS = (140, 175)
FSDD_SPLITS = {"tune": range(0, 10), "held-out": range(10, 25)}


# ------------------------------------------------------------------------ items


def fsdd_dir() -> Path:
    for cand in (os.environ.get("FSDD_DIR"), ROOT.parent / "shared" / "data" / "fsdd"):
        if cand and (Path(cand) / "speakers.csv").is_file():
            return Path(cand)
    sys.exit("FSDD not found: set FSDD_DIR or put shared/data beside the checkout")


def espeak(text: str, voice: str, speed: int, cache: Path) -> Path:
    key = hashlib.sha1(f"{text}|{voice}|{speed}".encode()).hexdigest()[:16]
    out = cache / f"{key}.wav"
    if not out.exists():
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(out), text],
                       check=True, capture_output=True)
    return out


def noises() -> list[tuple[str, int, bytes]]:
    """(kind, seed, 8 kHz PCM) of what a line carries when nobody speaks."""
    rate, out = 8000, []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        t = np.arange(int(2.0 * rate)) / rate
        line = rng.normal(0, 8, t.size)
        level = (300, 1000, 3000)[seed % 3]
        burst = np.zeros(t.size)
        burst[rate // 2: rate] = rng.normal(0, level, rate // 2)
        clicks = line.copy()
        clicks[:: int(0.3 * rate)] += 8000 * (1 if seed % 2 else -1)
        env = np.hanning(int(0.6 * rate))
        breath = line.copy()
        pink = np.cumsum(rng.normal(0, 1, env.size))
        pink = (pink - np.convolve(pink, np.ones(50) / 50, "same")) * level / 10
        breath[rate // 2: rate // 2 + env.size] += pink * env
        hum = line + 2000 * (np.sin(2 * np.pi * 50 * t) + 0.5 * np.sin(2 * np.pi * 150 * t))
        notes = np.repeat(rng.choice([262, 330, 392, 440, 523], 8), t.size // 8 + 1)[: t.size]
        music = line + level * np.sin(2 * np.pi * np.cumsum(notes) / rate)
        for kind, x in (("silence", np.zeros(t.size)), ("line", line * (1 + seed)),
                        ("burst", line + burst), ("clicks", clicks), ("breath", breath),
                        ("hum", hum), ("music", music)):
            pcm = np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()
            out.append((kind, seed, pcm))
    return out


def utterance(line: bytes) -> bytes:
    """What a call's turn hands the recognizer: the endpointer's cut of the line audio."""
    from voicebot.settings import EndpointSettings
    from voicebot.speech.audio import frames
    from voicebot.speech.endpoint import Endpointer
    from voicebot.speech.types import FRAME_BYTES, FRAME_MS

    ep = Endpointer(EndpointSettings())
    ep.listen(0.0, None)
    buf = bytearray()
    for i, frame in enumerate(frames(line, FRAME_BYTES)):
        result = ep.feed(frame, i * FRAME_MS / 1000)
        buf += result.audio
        if any(e.kind in ("speech_end", "max_length") for e in result.events):
            break
    return bytes(buf)


def items(espeak_cache: Path) -> list[dict]:
    from voicebot.speech.audio import load_phone_audio
    from voicebot.speech.evaluate import line_audio

    fsdd = fsdd_dir()
    with open(fsdd / "speakers.csv", newline="") as fh:
        accent = {r["speaker"]: r["accent"] for r in csv.DictReader(fh)}
    out = []
    for path in sorted(fsdd.glob("*.wav")):
        m = re.match(r"(\d)_(\w+?)_(\d+)\.wav$", path.name)
        if not m or m[2] not in accent:
            continue
        split = "tune" if int(m[3]) in FSDD_SPLITS["tune"] else "held-out"
        line = line_audio(load_phone_audio(path), seed=zlib.crc32(path.name.encode()))
        out.append(dict(set="fsdd", split=split, group=accent[m[2]], turn="digit",
                        expect=DIGIT_WORDS[int(m[1])], pcm=utterance(line), name=path.name))
    with open(SENTENCES, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for split, voices in (("tune", TUNE_VOICES), ("held-out", HELD_VOICES)):
        for row in rows:
            for voice in voices:
                for speed in SPEEDS:
                    pcm = load_phone_audio(espeak(row["text"], voice, speed, espeak_cache))
                    line = line_audio(pcm, seed=zlib.crc32(f"{row['text']}{voice}".encode()))
                    out.append(dict(set="sentence", split=split, group=voice, turn=row["turn"],
                                    expect=row["meaning"], pcm=utterance(line),
                                    name=f"{row['text']} [{voice} {speed}]"))
    for kind, seed, pcm in noises():
        out.append(dict(set="noise", split="tune" if seed % 2 == 0 else "held-out",
                        group=kind, turn="menu", expect="none", pcm=pcm,
                        name=f"{kind} {seed}"))
    return out


# ------------------------------------------------------------------------ the flow's view


_FLOW = None


def listens() -> dict:
    """The default flow's Listen per turn kind, and a FlowSession factory at each."""
    from voicebot.flow.events import Digits, Listen
    from voicebot.flow.interpreter import FlowSession
    from voicebot.flow.loader import load_flow

    global _FLOW
    if _FLOW is None:
        _FLOW = load_flow(ROOT / "call_flows" / "support.yaml")

    def at(turn: str):
        session = FlowSession(_FLOW)
        actions = session.start()
        if turn in ("digits", "confirm"):
            actions = session.handle(Digits("1"))
        if turn == "confirm":
            actions = session.handle(Digits("4512"))
        return session, next(a for a in actions if isinstance(a, Listen))

    return {turn: at for turn in ("menu", "digits", "confirm")}


def grammar_for(turn: str):
    from voicebot.speech.turn_end import turn_grammar
    from voicebot.speech.types import Grammar

    if turn == "digit":
        return Grammar(phrases=tuple(DIGIT_WORDS) + tuple(DIGIT_ALIASES))
    _session, listen = listens()[turn](turn)
    return turn_grammar(listen)


def outcome(turn: str, text: str, confidence: float = 1.0, in_grammar: bool = True) -> str:
    """What the default flow does with this turn: escape, intent:NAME, digits:NNNN, yes, no,
    or none (it asks again)."""
    from voicebot.flow.events import Recognized

    if not text:
        return "none"
    if turn == "digit":  # bench_digits' grammar: no flow, the default threshold
        if confidence < 0.5:
            return "none"
        return f"digits:{DIGIT_WORDS.index(text)}" if text in DIGIT_WORDS else "other"
    session, _listen = listens()[turn](turn)
    session.handle(Recognized(text, confidence, in_grammar))
    last = session.turns[-1] if session.turns else {}
    result = last.get("result")
    if result == "escape":
        return "escape"
    if result == "matched":
        return f"intent:{last.get('intent')}"
    if result in ("to_confirm", "collected"):
        value = session._pending if result == "to_confirm" else None  # noqa: SLF001
        return f"digits:{value}"
    return {"confirmed": "yes", "rejected": "no"}.get(result, "none")


def expected(item: dict) -> str:
    return f"digits:{DIGIT_WORDS.index(item['expect'])}" if item["turn"] == "digit" \
        else item["expect"]


# ------------------------------------------------------------------------ decoding


_engines: dict = {}


def _init(overrides: dict) -> None:
    from voicebot.speech.engines.pocketsphinx_engine import PocketsphinxEngine
    from voicebot.speech.engines.whisper_decode import WhisperOptions
    from voicebot.speech.engines.whisper_engine import WhisperEngine
    from voicebot.speech.whisper_models import choose

    found = choose(ROOT / "models")
    _engines["ps"] = PocketsphinxEngine(workers=0)
    _engines["whisper"] = WhisperEngine(found.path, parallel=1,
                                        options=replace(WhisperOptions(), **overrides))


def _decode(job: tuple[int, str, bytes]) -> dict:
    index, turn, pcm = job
    grammar = grammar_for(turn)
    out = {"i": index}
    for key, engine in _engines.items():
        if not pcm:
            out[key] = None
            continue
        rec = engine.recognizer(grammar)
        rec.accept(pcm)
        t0 = time.process_time()
        hyp = rec.finish()
        out[key] = dict(hyp=hyp, cpu=time.process_time() - t0,
                        result=getattr(rec, "result", None))
    out["audio_s"] = len(pcm) / 16000
    return out


def decode_all(its: list[dict], overrides: dict, workers: int) -> list[dict]:
    jobs = [(i, it["turn"], it["pcm"]) for i, it in enumerate(its)]
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(overrides,)) as ex:
        rows = list(ex.map(_decode, jobs, chunksize=8))
    for row, it in zip(rows, its, strict=True):
        row.update({k: it[k] for k in ("set", "split", "group", "turn", "expect", "name")})
    return rows


# ------------------------------------------------------------------------ analyses


def whisper_hyp(row: dict):
    """Whisper's hypothesis for a row from its raw decode, with calibration.py as it is now
    (so a refit shows without decoding again)."""
    from voicebot.speech.engines.whisper_engine import hypothesis

    w = row["whisper"]
    return None if w is None or w["result"] is None else hypothesis(w["result"])


def threshold_for(turn: str, text: str) -> float:
    got = outcome(turn, text)
    return 0.25 if got == "escape" else 0.5


def taken(turn: str, hyp) -> str:
    """What the flow does with a hypothesis (thresholds applied): the outcome, or none."""
    if hyp is None or not hyp.text:
        return "none"
    return outcome(turn, hyp.text, hyp.confidence, hyp.in_grammar)


def score(rows: list[dict], pick, label: str) -> None:
    """Per set and turn kind: right and taken, wrong but taken (harmful), reprompts."""
    cells = defaultdict(lambda: [0, 0, 0])
    cpu = []
    for row in rows:
        hyp, spent = pick(row)
        cpu.append(spent)
        got = taken(row["turn"], hyp)
        want = expected(row)
        kind = "escape" if want == "escape" else "none" if want == "none" else "answer"
        key = row["set"] if row["set"] != "sentence" else f"{row['turn']}/{kind}"
        c = cells[key]
        c[0] += 1
        c[1] += got == want and got != "none"
        c[2] += got != want and got != "none"
    parts = []
    for key in sorted(cells):
        n, right, wrong = cells[key]
        if key in ("noise",) or key.endswith("/none"):
            parts.append(f"{key} {n}: taken {wrong}")
        else:
            parts.append(f"{key} {n}: {100 * right / n:.1f}% (wrong {wrong})")
    print(f"  {label:26} " + " | ".join(parts) + f" | CPU/turn {np.mean(cpu):.3f} s")


def each_engine(part: list[dict]) -> None:
    """The two engines alone: grammar only (what shipped before) and whisper only."""
    score(part, lambda r: (r["ps"]["hyp"] if r["ps"] else None,
                           r["ps"]["cpu"] if r["ps"] else 0), "grammar only (ps)")
    score(part, lambda r: (whisper_hyp(r), r["whisper"]["cpu"] if r["whisper"] else 0),
          "whisper only")


def tables(rows: list[dict]) -> None:
    for split in ("tune", "held-out"):
        part = [r for r in rows if r["split"] == split]
        print(f"\n{split} split ({len(part)} items): right and taken (wrong and taken)")
        each_engine(part)
        fsdd = [r for r in part if r["set"] == "fsdd"]
        by = defaultdict(list)
        for r in fsdd:
            by[r["group"]].append(bool(r["whisper"]) and r["whisper"]["result"].text == r["expect"])
        print("  whisper FSDD per accent (right before thresholds): " + ", ".join(
            f"{g} {100 * np.mean(v):.1f}%" for g, v in sorted(by.items())))
        by = defaultdict(list)
        for r in part:
            if r["set"] == "sentence":
                by[r["group"]].append(taken(r["turn"], whisper_hyp(r)) == expected(r))
        print("  whisper sentences per voice (right and taken): " + ", ".join(
            f"{g} {100 * np.mean(v):.0f}%" for g, v in sorted(by.items())))


def features(res) -> list[float]:
    """What whisper_engine.confidence weighs, in calibration.py's order."""
    return [res.avg_logprob, res.no_speech_prob]


def _decided(rows: list[dict], split: str) -> tuple[np.ndarray, np.ndarray]:
    """(features, right) of the split's decodes that a threshold decides on: text that
    means something at its node (or any text from noise), not rejected by the guards."""
    from voicebot.speech.engines import calibration

    x, y = [], []
    for row in rows:
        w = row["whisper"]
        res = w["result"] if w else None
        if row["split"] != split or res is None or res.foreign or not res.text \
                or res.no_speech_prob >= calibration.WHISPER_NO_SPEECH_REJECT:
            continue
        got = outcome(row["turn"], res.text)
        if got == "none" and row["set"] != "noise":
            continue  # no meaning at this node: no threshold to decide
        x.append(features(res))
        y.append(float(got == expected(row) and row["set"] != "noise"))
    return np.array(x), np.array(y)


def fit(rows: list[dict]) -> None:
    """Logistic regression (maximum likelihood) of "the flow gets it right" on the decode's
    figures, over the tuning split's decodes a threshold decides on (see _decided)."""
    x, y = _decided(rows, "tune")
    w = logistic_fit(x, y)
    names = ("WHISPER_LOGPROB_SLOPE", "WHISPER_NO_SPEECH_SLOPE", "WHISPER_BIAS")
    print(f"\nwhisper confidence, tuning split: {int(y.sum())} right, {int((1 - y).sum())} "
          "wrong (decodes with a meaning at their node, not rejected by the guards)")
    for name, value in zip(names, w, strict=True):
        print(f"  {name} = {value:.3f}")
    for split in ("tune", "held-out"):
        xs, ys = _decided(rows, split)
        ps = 1 / (1 + np.exp(-(np.hstack([xs, np.ones((len(xs), 1))]) @ w)))
        print(f"  {split}: right answers >= 0.5: {np.mean(ps[ys == 1] >= 0.5):.1%}, wrong "
              f">= 0.5: {np.mean(ps[ys == 0] >= 0.5):.1%}, wrong >= 0.25: "
              f"{np.mean(ps[ys == 0] >= 0.25):.1%} (n right {int(ys.sum())}, wrong "
              f"{int((1 - ys).sum())})")


def rules(rows: list[dict]) -> None:
    from voicebot.speech.engines.cascade import choose, fast_first, needs_fast

    grammars: dict = {}

    def cascade(take: float | None):
        """The cascade's rule (take None) or fast-first at `take`; CPU of both engines where
        both decode (fast-first: every turn; the cascade: when Whisper's number is short)."""
        def pick(row):
            f, w = row["ps"], row["whisper"]
            if f is None or w is None:
                return None, 0.0
            g = grammars.setdefault(row["turn"], grammar_for(row["turn"]))
            slow = whisper_hyp(row)
            if take is not None:
                return fast_first(f["hyp"], slow, take), w["cpu"] + f["cpu"]
            if not needs_fast(slow, g):
                return slow, w["cpu"]
            return choose(f["hyp"], slow, g), w["cpu"] + f["cpu"]
        return pick

    for split in ("tune", "held-out"):
        part = [r for r in rows if r["split"] == split]
        print(f"\n{split} split: cascade rules")
        each_engine(part)
        score(part, cascade(None), "cascade (the default)")
        for t in (0.5, 0.7, 0.9):
            score(part, cascade(t), f"fast-first at {t}")


def window(workers: int) -> None:
    """FSDD tuning clips with the whole 30 s window against short spliced windows."""
    its = [it for it in items(Path("/tmp")) if it["set"] == "fsdd" and it["split"] == "tune"]
    for label, overrides in (("30 s window (no splice)", {"splice": False}),
                             ("utterance + 1 s, 1 s steps", {"window_margin_s": 1.0,
                                                              "window_step_s": 1.0}),
                             ("utterance + 2 s, 2 s steps", {}),
                             ("utterance + 3 s, 2 s steps", {"window_margin_s": 3.0})):
        rows = decode_all(its, overrides, workers)
        right = np.mean([bool(r["whisper"]) and r["whisper"]["result"].text == r["expect"]
                         for r in rows])
        cpu = np.mean([r["whisper"]["cpu"] for r in rows if r["whisper"]])
        print(f"  {label:30} {100 * right:.1f}% right, CPU/turn {cpu:.3f} s")


def stall(repeats: int = 6) -> None:
    """Does decoding in a thread stall the others (a call's media thread)? A thread wakes
    every 20 ms, as media frames come, and notes how late it is, while another thread
    decodes the 15-digit recording again and again: with Whisper (CTranslate2 releases the
    GIL) and with pocketsphinx in the calling thread (workers=0, which holds it)."""
    import threading

    from voicebot.speech.audio import load_phone_audio
    from voicebot.speech.engines import load_engine
    from voicebot.speech.engines.pocketsphinx_engine import PocketsphinxEngine
    from voicebot.speech.evaluate import line_audio
    from voicebot.speech.types import Grammar

    audio = line_audio(load_phone_audio(fsdd_dir().parent / "recordings" / "digits_16k.wav"))
    grammar = Grammar(phrases=("yes", "no", "agent"), allow_digits=True)

    def run(engine, label: str, n: int) -> None:
        stop, late = threading.Event(), []

        def media() -> None:
            due = time.perf_counter()
            while not stop.is_set():
                due += 0.02
                time.sleep(max(0.0, due - time.perf_counter()))
                late.append(time.perf_counter() - due)
                sum(range(2000))  # a frame's worth of Python work

        thread = threading.Thread(target=media)
        thread.start()
        t0 = time.perf_counter()
        for _ in range(n):
            if engine is None:
                time.sleep(0.3)
                continue
            rec = engine.recognizer(grammar)
            rec.accept(audio)
            rec.finish()
        spent = (time.perf_counter() - t0) / n
        stop.set()
        thread.join()
        ms = np.array(late) * 1000
        print(f"  {label:40} media frame lateness p50 {np.median(ms):.1f} ms, p99 "
              f"{np.percentile(ms, 99):.1f} ms, max {ms.max():.1f} ms ({spent:.2f} s/decode)")

    print(f"media thread while decoding {len(audio) / 16000:.1f} s of audio in another thread")
    run(None, "nothing decoding", repeats)
    run(load_engine("whisper", whisper_threads=1), "whisper", repeats)
    run(PocketsphinxEngine(workers=0), "pocketsphinx in the thread (workers=0)", 2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, help="decode once into this file, reuse after")
    ap.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                    help="a WhisperOptions field, e.g. beam_size=5")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--fit", action="store_true", help="refit the whisper calibration")
    ap.add_argument("--rules", action="store_true", help="compare cascade rules")
    ap.add_argument("--window", action="store_true", help="window sizes on FSDD tuning")
    ap.add_argument("--errors", action="store_true", help="list whisper's wrong answers")
    ap.add_argument("--stall", action="store_true",
                    help="does a decode in one thread stall another (media) thread?")
    args = ap.parse_args()
    overrides = {k: ast.literal_eval(v) for k, _, v in (s.partition("=") for s in args.set)}
    if args.window:
        window(args.workers)
        return 0
    if args.stall:
        stall()
        return 0
    if args.cache and args.cache.exists():
        rows = pickle.loads(args.cache.read_bytes())
    else:
        cache = Path(os.environ.get("TMPDIR", "/tmp")) / "voicebot-espeak"
        cache.mkdir(exist_ok=True)
        t0 = time.time()
        rows = decode_all(items(cache), overrides, args.workers)
        print(f"decoded {len(rows)} items in {time.time() - t0:.0f} s")
        if args.cache:
            args.cache.write_bytes(pickle.dumps(rows))
    if args.fit:
        fit(rows)
    elif args.rules:
        rules(rows)
    else:
        tables(rows)
    if args.errors:
        for r in rows:
            hyp = whisper_hyp(r)
            got = taken(r["turn"], hyp)
            if got != expected(r):
                res = r["whisper"]["result"] if r["whisper"] else None
                print(f"  {r['split']:8} {r['name'][:60]:60} -> {res.raw if res else ''!r} "
                      f"({got}, {hyp.confidence if hyp else 0:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
