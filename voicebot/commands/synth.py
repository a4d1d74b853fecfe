"""Testers' `voicebot synth FLOW`: test audio, an evaluate manifest and scenario skeletons
for any flow, in one command (see voicebot.replay.synth)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from voicebot.flow.loader import load_flow
from voicebot.replay.synth import DEFAULT_SPEEDS, DEFAULT_VOICES, synthesize
from voicebot.settings import Settings
from voicebot.speech.caller_audio import CallerAudio


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth", help="render test audio, an evaluate manifest and scenario skeletons for a flow",
        description="Render everything a caller of the flow may say (intent phrases, yes/no, "
                    "numbers for collect nodes, escape phrases, two mumbles) with espeak-ng in "
                    "several voices and speeds at 8 kHz, with DIR/manifest.csv for `voicebot "
                    "evaluate` and DIR/scenarios/*.yaml (one per intent) for `voicebot replay "
                    "--audio-dir DIR`. Recordings already there are kept.")
    p.add_argument("flow", type=Path, metavar="FLOW")
    p.add_argument("-o", "--output", type=Path, default=None, metavar="DIR",
                   help="output directory (default: ./<flow name>-audio)")
    p.add_argument("--voices", nargs="+", default=list(DEFAULT_VOICES), metavar="VOICE",
                   help=f"espeak-ng voices (default: {' '.join(DEFAULT_VOICES)}); the first "
                        "speaks the scenarios")
    p.add_argument("--speeds", nargs="+", type=int, default=list(DEFAULT_SPEEDS),
                   metavar="WPM", help="words a minute (default: "
                                       f"{' '.join(map(str, DEFAULT_SPEEDS))})")
    p.set_defaults(func=cmd_synth)


def cmd_synth(args: argparse.Namespace) -> int:
    flow = load_flow(args.flow)
    out = args.output or Path(f"{flow.name}-audio")
    settings = Settings.from_env()
    bar = tqdm(total=0, unit="rec", disable=not sys.stderr.isatty(), file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        with CallerAudio(settings.tts_cache, render_timeout=settings.tts_deadline_s) as audio:
            result = synthesize(flow, out, audio, voices=args.voices, speeds=args.speeds,
                                progress=progress)
    finally:
        bar.close()
    print(f"{result.recordings} recordings in {result.out}, manifest {result.manifest}, "
          f"{len(result.scenarios)} scenario skeletons in {result.out / 'scenarios'}")
    return 0
