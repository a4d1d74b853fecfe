"""Sub-commands of the speech area: `voicebot models ...` and `voicebot evaluate ...`."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

from tqdm import tqdm

from voicebot.commands import models
from voicebot.settings import ENGINES, Settings
from voicebot.speech.engines import engine_from_settings
from voicebot.speech.evaluate import (
    Item,
    ManifestError,
    Report,
    evaluate_items,
    load_manifest,
    load_phrases,
    outside_grammar,
    turns_for,
)
from voicebot.speech.types import Engine

DETAIL_COLUMNS = ("audio", "expected", "heard", "confidence", "correct", "segment", "node")
EXAMPLES = 5  # expected texts named in the warning about the grammar


def register(sub: argparse._SubParsersAction) -> None:
    models.register(sub)
    p = sub.add_parser(
        "evaluate", help="measure recognition accuracy on recordings (per segment)",
        description="Run recordings through the phone path (8 kHz, mu-law, endpointing, "
                    "engine) and report accuracy, WER, per-segment accuracy and the largest "
                    "gap between segments, real-time factor and the low-confidence share. "
                    "A row naming a flow node is heard as a call's turn at that node (its "
                    "grammar, end silences and confidence); expected text may write digits "
                    "as figures or words.")
    p.add_argument("manifest", type=Path,
                   help="CSV with columns audio,expected,segment and optionally node,flow "
                        "(`voicebot synth` writes one)")
    p.add_argument("--phrases", type=Path,
                   help="grammar for rows without a node: one phrase a line (default: any "
                        "string of digits)")
    p.add_argument("--flow", type=Path, help="the flow of the rows' nodes (overrides the "
                                             "manifest's flow column)")
    p.add_argument("--engine", choices=ENGINES,
                   help="recognition engine (default: VOICEBOT_ENGINE or auto)")
    p.add_argument("--details", type=Path, metavar="FILE.csv",
                   help="also write one row per recording: " + ",".join(DETAIL_COLUMNS))
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    items = load_manifest(args.manifest)
    phrases = load_phrases(args.phrases) if args.phrases else ()
    turn_of = turns_for(items, phrases, args.flow)
    _warn_outside_grammar(outside_grammar(items, turn_of), len(items))
    settings = Settings.from_env()
    engine = engine_from_settings(settings, args.engine, offline=True)
    started = time.perf_counter()
    bar = tqdm(total=len(items), unit="rec", disable=not sys.stderr.isatty(), file=sys.stderr)
    try:
        report = evaluate_items(engine, turn_of, items, endpoint=settings.endpoint,
                                on_result=lambda _r: bar.update(1))
    finally:
        bar.close()
    if bar.disable:  # no bar on a pipe or in CI: one line instead
        audio_s = sum(r.audio_s for r in report.results)
        print(f"evaluated {len(report.results)} recordings ({audio_s:.0f} s of audio) in "
              f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    if args.details:
        write_details(report, args.details)
    summary = report.summary()
    print(json.dumps(summary) if args.json else format_report(summary, engine))
    return 0


def _warn_outside_grammar(items: list[Item], total: int) -> None:
    if not items:
        return
    shown = ", ".join(f"{i.expected!r} (row {i.row})" for i in items[:EXAMPLES])
    more = f" and {len(items) - EXAMPLES} more" if len(items) > EXAMPLES else ""
    print(f"warning: {len(items)} of {total} expected texts are not in what their turn "
          f"listens for, so they can never be heard as written: {shown}{more}; check the "
          "expected column, --phrases or the row's node", file=sys.stderr)


def write_details(report: Report, path: Path) -> None:
    """One row per recording, so the clips that failed can be found."""
    try:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            out.writerow(DETAIL_COLUMNS)
            for r in report.results:
                out.writerow([r.item.written or r.item.audio, r.item.expected, r.hypothesis.text,
                              f"{r.hypothesis.confidence:.3f}", str(r.correct).lower(),
                              r.item.segment, r.item.node or ""])
    except OSError as exc:
        raise ManifestError(f"cannot write {path}: {exc.strerror or exc}") from None


def format_report(summary: dict, engine: Engine) -> str:
    lines = [f"engine: {engine.name} ({engine.model})",
             f"{'segment':24} {'n':>5} {'accuracy':>9}"]
    for name, seg in summary["segments"].items():
        lines.append(f"{name:24} {seg['n']:5d} {seg['accuracy'] * 100:8.1f}%")
    lines += [
        f"{'overall':24} {summary['n']:5d} {summary['accuracy'] * 100:8.1f}%",
        f"word error rate:       {summary['wer'] * 100:.1f}%",
        f"largest segment gap:   {summary['max_gap'] * 100:.1f} points",
        f"low confidence:        {summary['low_confidence_rate'] * 100:.1f}% (under each "
        "turn's threshold)",
        f"real-time factor:      {summary['rtf']:.3f}",
    ]
    return "\n".join(lines)
