"""`voicebot models download|list`: install and list Vosk speech models."""

from __future__ import annotations

import argparse
from pathlib import Path

from voicebot.settings import Settings
from voicebot.speech.models import (
    DEFAULT_URL_BASE,
    MODELS_PAGE,
    SUGGESTED,
    ModelError,
    choose_vosk_model,
    download,
    installed_models,
)


def _default_model_dir() -> Path:
    return Settings.from_env().model_dir


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def cmd_download(args: argparse.Namespace) -> int:
    model_dir = args.dir or _default_model_dir()
    name = args.name
    if name is None:
        if args.archive is None:
            raise ModelError("give a model NAME (e.g. " + SUGGESTED + ") or --archive FILE")
        name = args.archive.name.removesuffix(".zip")
    path = download(name, model_dir, url_base=args.url_base, sha256=args.sha256,
                    archive=args.archive, force=args.force)
    print(f"installed {name} in {path}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    model_dir = args.dir or _default_model_dir()
    explicit = None
    if args.dir is None:
        explicit = Settings.from_env().vosk_model
    models = installed_models(model_dir)
    if not models:
        print(f"no models in {model_dir}")
    for m in models:
        state = "ok" if m.valid else f"INCOMPLETE: {m.problem}"
        print(f"{m.name:40} {_human(m.size_bytes):>10}  {state}")
    chosen, why = choose_vosk_model(model_dir, explicit)
    if chosen is None:
        print(f"engine auto: pocketsphinx (US English, built in) - {why}; install one with "
              f"`voicebot models download {SUGGESTED}`")
    else:
        print(f"engine auto: vosk with {chosen} ({why})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `voicebot models download|list` to the `voicebot` parser."""
    parser = sub.add_parser("models", help="install and list Vosk speech models",
                            description="Install and list Vosk speech models.")
    parser.set_defaults(func=lambda _args: parser.print_help() or 2)
    models_sub = parser.add_subparsers(dest="models_command", metavar="ACTION")

    dl = models_sub.add_parser(
        "download", help="fetch an official Vosk model, check it and unpack it",
        description=f"Fetch NAME.zip from {DEFAULT_URL_BASE} (names: {MODELS_PAGE}), check "
                    "it, and unpack it into the model directory. Resumes a broken download.")
    dl.add_argument("name", nargs="?", metavar="NAME", help=f"model name, e.g. {SUGGESTED}")
    dl.add_argument("--dir", type=Path, help="model directory (default: VOICEBOT_MODEL_DIR "
                    "or models/)")
    dl.add_argument("--url-base", default=DEFAULT_URL_BASE, metavar="URL",
                    help="where NAME.zip is fetched from (a mirror)")
    dl.add_argument("--archive", type=Path, metavar="FILE",
                    help="install from a zip downloaded elsewhere (no network)")
    dl.add_argument("--sha256", metavar="HEX", help="expected sha256 of the archive")
    dl.add_argument("--force", action="store_true", help="replace an installed model")
    dl.set_defaults(func=cmd_download)

    ls = models_sub.add_parser("list", help="installed models and the one engine auto takes")
    ls.add_argument("--dir", type=Path, help="model directory (default: VOICEBOT_MODEL_DIR "
                    "or models/)")
    ls.set_defaults(func=cmd_list)

