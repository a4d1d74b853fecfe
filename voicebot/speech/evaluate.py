"""`voicebot evaluate MANIFEST.csv`: how well the speech path hears, per group of callers.

Each recording goes through what a phone call does to it: resampled to 8 kHz, mu-law encoded
and decoded, framed in low-level line noise (recordings are often trimmed to the first
sample of speech; a caller's line never is), cut by the endpointer, and recognised by the
engine with the given phrases as the turn's grammar. We report exact-match accuracy after
normalising case and punctuation, word error rate, accuracy per segment and the largest gap
between two segments (the fairness figure), the real-time factor of recognition, and the share
of results under the confidence threshold.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from voicebot.errors import VoicebotError
from voicebot.settings import EndpointSettings, Settings
from voicebot.speech.audio import frames, load_phone_audio
from voicebot.speech.endpoint import Endpointer
from voicebot.speech.engines import KINDS, load_engine
from voicebot.speech.engines.common import DEFAULT_THRESHOLD, normalize
from voicebot.speech.turn_end import complete_check_ms, decides
from voicebot.speech.types import (
    FRAME_BYTES,
    FRAME_MS,
    PHONE_RATE,
    EarlyDecoder,
    Engine,
    Grammar,
    Hypothesis,
)

LINE_PAD_S = 0.5  # line audio before and after each recording
LINE_NOISE_RMS = 8.0  # about -72 dBFS: a quiet line, below the endpointer's onset level
COLUMNS = ("audio", "expected", "segment")


class ManifestError(VoicebotError):
    """The manifest or one of the recordings it names is unusable."""


@dataclass(frozen=True)
class Item:
    audio: Path
    expected: str
    segment: str
    row: int  # line number in the manifest (header is line 1)
    manifest: Path | None = None


@dataclass
class Result:
    item: Item
    hypothesis: Hypothesis
    audio_s: float
    decode_s: float

    @property
    def correct(self) -> bool:
        return normalize(self.hypothesis.text) == normalize(self.item.expected)


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)
    threshold: float = DEFAULT_THRESHOLD

    def summary(self) -> dict:
        n = len(self.results)
        segments: dict[str, dict] = {}
        for r in self.results:
            seg = segments.setdefault(r.item.segment, {"n": 0, "correct": 0})
            seg["n"] += 1
            seg["correct"] += r.correct
        seg_out = {name: {"n": s["n"], "accuracy": s["correct"] / s["n"]}
                   for name, s in sorted(segments.items())}
        accs = [s["accuracy"] for s in seg_out.values()]
        errors = sum(word_errors(r.item.expected, r.hypothesis.text) for r in self.results)
        ref_words = sum(max(1, len(normalize(r.item.expected).split())) for r in self.results)
        audio = sum(r.audio_s for r in self.results)
        return {
            "n": n,
            "accuracy": sum(r.correct for r in self.results) / n if n else 0.0,
            "wer": errors / ref_words if n else 0.0,
            "rtf": sum(r.decode_s for r in self.results) / audio if audio else 0.0,
            "low_confidence_rate": (sum(r.hypothesis.confidence < self.threshold
                                        for r in self.results) / n) if n else 0.0,
            "max_gap": (max(accs) - min(accs)) if accs else 0.0,
            "segments": seg_out,
        }


# ------------------------------------------------------------------------ manifest


def load_manifest(path: Path) -> list[Item]:
    """Rows of audio,expected,segment; audio paths relative to the manifest. Checks files."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such manifest") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read the manifest ({exc})") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ManifestError(f"{path}:1: missing column(s) {', '.join(missing)} (need "
                            f"{','.join(COLUMNS)}; found {','.join(header) or 'nothing'})")
    items = []
    for i, row in enumerate(reader, start=2):
        if None in row:
            raise ManifestError(f"{path}:{i}: more fields than columns (quote values that "
                                'contain commas: "one, two")')
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        if not any(row.values()):
            continue
        if not row["audio"]:
            raise ManifestError(f"{path}:{i}: empty audio path")
        audio = (path.parent / row["audio"]).resolve()
        if not audio.is_file():
            raise ManifestError(f"{path}:{i}: audio file not found: {row['audio']}")
        items.append(Item(audio=audio, expected=row["expected"],
                          segment=row["segment"] or "(none)", row=i, manifest=path))
    if not items:
        raise ManifestError(f"{path}: the manifest has no rows")
    return items


def load_phrases(path: Path) -> tuple[str, ...]:
    """One phrase a line; blank lines and # comments ignored."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read the phrases ({exc})") from None
    phrases = tuple(s.strip() for s in lines if s.strip() and not s.strip().startswith("#"))
    if not phrases:
        raise ManifestError(f"{path}: no phrases in the file")
    return phrases


# ------------------------------------------------------------------------ phone path


def line_audio(pcm: bytes, pad_s: float = LINE_PAD_S, noise_rms: float = LINE_NOISE_RMS,
               seed: int = 0) -> bytes:
    """The recording as the line carries it: framed by pad_s of low-level noise each side."""
    x = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    n = int(pad_s * PHONE_RATE)
    x = np.concatenate([np.zeros(n), x, np.zeros(n)])
    if noise_rms:
        x = x + np.random.default_rng(seed).normal(0.0, noise_rms, x.size)
    return np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()


def recognize_turn(engine: Engine, grammar: Grammar, pcm: bytes,
                   endpoint: EndpointSettings | None = None) -> tuple[Hypothesis, float]:
    """Run 8 kHz line audio through the endpointer into one recognizer, as a call turn does.

    Everything from the first speech start to the last end of speech goes to the recognizer
    (a caller may pause inside a turn), unless, as in a call, a phrase that decides the turn
    was heard at the short silence (complete_end_ms): the turn ends there. Returns the
    hypothesis and the seconds the recognizer took (accept + finish), which is what the
    real-time factor counts.
    """
    settings = endpoint or EndpointSettings()
    ep = Endpointer(settings)
    ep.listen(0.0, None, check_ms=complete_check_ms(grammar, settings))
    rec = None
    spent = 0.0
    for i, frame in enumerate(frames(pcm, FRAME_BYTES)):
        result = ep.feed(frame, i * FRAME_MS / 1000)
        if result.audio:
            t0 = time.perf_counter()
            if rec is None:
                rec = engine.recognizer(grammar)
            rec.accept(result.audio)
            spent += time.perf_counter() - t0
        if rec is None:
            continue
        kinds = {e.kind: e for e in result.events}
        if "speech_pause" in kinds and isinstance(rec, EarlyDecoder):
            # As a call does: the decode starts at the pause.
            rec.prefetch(kinds["speech_pause"].tail_ms)
        if "end_check" in kinds and isinstance(rec, EarlyDecoder):
            t0 = time.perf_counter()
            early = rec.peek()
            spent += time.perf_counter() - t0
            if early is not None and decides(grammar, early, DEFAULT_THRESHOLD):
                break
    if rec is None:  # the endpointer heard no speech
        return Hypothesis(text="", confidence=0.0, in_grammar=False, engine=engine.name), 0.0
    t0 = time.perf_counter()
    hyp = rec.finish()
    return hyp, spent + time.perf_counter() - t0


def evaluate_items(engine: Engine, grammar: Grammar, items: Iterable[Item], *,
                   endpoint: EndpointSettings | None = None,
                   on_result: Callable[[Result], None] | None = None) -> Report:
    report = Report()
    for item in items:
        try:
            pcm = load_phone_audio(item.audio)
        except VoicebotError as exc:
            where = f"{item.manifest}:{item.row}" if item.manifest else f"row {item.row}"
            raise ManifestError(f"{where}: {item.audio.name}: {exc}") from None
        hyp, spent = recognize_turn(engine, grammar, line_audio(pcm, seed=item.row), endpoint)
        result = Result(item, hyp, len(pcm) / (2 * PHONE_RATE), spent)
        report.results.append(result)
        if on_result:
            on_result(result)
    return report


def word_errors(reference: str, hypothesis: str) -> int:
    """Levenshtein distance between the word sequences (substitutions, insertions, deletions)."""
    ref, hyp = normalize(reference).split(), normalize(hypothesis).split()
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, start=1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


# ------------------------------------------------------------------------ command


def format_report(summary: dict, engine: Engine) -> str:
    lines = [f"engine: {engine.name} ({engine.model})",
             f"{'segment':24} {'n':>5} {'accuracy':>9}"]
    for name, seg in summary["segments"].items():
        lines.append(f"{name:24} {seg['n']:5d} {seg['accuracy'] * 100:8.1f}%")
    lines += [
        f"{'overall':24} {summary['n']:5d} {summary['accuracy'] * 100:8.1f}%",
        f"word error rate:       {summary['wer'] * 100:.1f}%",
        f"largest segment gap:   {summary['max_gap'] * 100:.1f} points",
        f"low confidence (<{DEFAULT_THRESHOLD}): {summary['low_confidence_rate'] * 100:.1f}%",
        f"real-time factor:      {summary['rtf']:.3f}",
    ]
    return "\n".join(lines)


def cmd_evaluate(args: argparse.Namespace) -> int:
    items = load_manifest(args.manifest)
    phrases = load_phrases(args.phrases) if args.phrases else ()
    grammar = Grammar(phrases=phrases, allow_digits=not phrases)
    settings = Settings.from_env()
    engine = load_engine(args.engine or settings.engine, model_dir=settings.model_dir,
                         vosk_model=settings.vosk_model, whisper_model=settings.whisper_model,
                         whisper_threads=settings.whisper_threads)
    bar = tqdm(total=len(items), unit="rec", disable=not sys.stderr.isatty(),
               file=sys.stderr)
    try:
        report = evaluate_items(engine, grammar, items, endpoint=settings.endpoint,
                                on_result=lambda _r: bar.update(1))
    finally:
        bar.close()
    summary = report.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        print(format_report(summary, engine))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `voicebot evaluate` to the `voicebot` parser."""
    p = sub.add_parser(
        "evaluate", help="measure recognition accuracy on recordings (per segment)",
        description="Run recordings through the phone path (8 kHz, mu-law, endpointing, "
                    "engine) and report accuracy, WER, per-segment accuracy and the largest "
                    "gap between segments, real-time factor and the low-confidence share.")
    p.add_argument("manifest", type=Path, help="CSV with columns audio,expected,segment")
    p.add_argument("--phrases", type=Path,
                   help="grammar: one phrase a line (default: any string of digits)")
    p.add_argument("--engine", choices=KINDS,
                   help="recognition engine (default: VOICEBOT_ENGINE or auto)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)
