"""`voicebot models download|list`: install and list speech models (Vosk models, and the
Whisper weights whisper-tiny.en)."""

from __future__ import annotations

import argparse
from pathlib import Path

from voicebot.settings import Settings
from voicebot.speech import whisper_models
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
    if name == whisper_models.NAME:
        if args.archive or args.sha256:
            raise ModelError(f"{name} is fetched file by file and checked against pinned "
                             "hashes: --archive and --sha256 are for Vosk models")
        path = whisper_models.download(model_dir, force=args.force,
                                       url_base=args.url_base or whisper_models.URL_BASE)
        print(f"installed {name} in {path}")
        return 0
    if name is None:
        if args.archive is None:
            raise ModelError("give a model NAME (e.g. " + SUGGESTED + ") or --archive FILE")
        name = args.archive.name.removesuffix(".zip")
    path = download(name, model_dir, url_base=args.url_base or DEFAULT_URL_BASE,
                    sha256=args.sha256, archive=args.archive, force=args.force)
    print(f"installed {name} in {path}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    model_dir = args.dir or _default_model_dir()
    explicit = whisper_explicit = None
    if args.dir is None:
        settings = Settings.from_env()
        explicit, whisper_explicit = settings.vosk_model, settings.whisper_model
    models = installed_models(model_dir)
    packaged = whisper_models.packaged_dir()
    if not models and packaged is None:
        print(f"no models in {model_dir}")
    for m in models:
        if whisper_models.is_whisper_dir(m.path):
            state = f"whisper: {whisper_models.state(m.path)}"
        else:
            state = "ok" if m.valid else f"INCOMPLETE: {m.problem}"
        print(f"{m.name:40} {_human(m.size_bytes):>10}  {state}")
    if packaged is not None:
        size = sum(f.stat().st_size for f in packaged.iterdir() if f.is_file())
        print(f"{whisper_models.NAME + ' (packaged)':40} {_human(size):>10}  whisper: "
              f"{whisper_models.state(packaged)}")
    chosen, why = choose_vosk_model(model_dir, explicit)
    if chosen is not None:
        print(f"engine auto: vosk with {chosen} ({why})")
        return 0
    from voicebot.speech.engines import AUTO_WITH_WHISPER

    try:
        whisper = whisper_models.choose(model_dir, whisper_explicit)
    except ModelError as exc:
        print(f"engine auto: fails to start - {exc}")
        return 1
    if whisper is None:
        print(f"engine auto: pocketsphinx (US English, built in) - {why}; install one with "
              f"`voicebot models download {SUGGESTED}` or `voicebot models download "
              f"{whisper_models.NAME}`")
    else:
        print(f"engine auto: {AUTO_WITH_WHISPER} with Whisper from {whisper.path} "
              f"({whisper.why})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `voicebot models download|list` to the `voicebot` parser."""
    parser = sub.add_parser("models", help="install and list speech models (Vosk, Whisper)",
                            description="Install and list speech models: Vosk models, and "
                                        "whisper-tiny.en for the whisper engine.")
    parser.set_defaults(func=lambda _args: parser.print_help() or 2)
    models_sub = parser.add_subparsers(dest="models_command", metavar="ACTION")

    dl = models_sub.add_parser(
        "download", help="fetch an official model, check it and install it",
        description=f"Fetch NAME.zip from {DEFAULT_URL_BASE} (names: {MODELS_PAGE}), check "
                    "it, and unpack it into the model directory; or whisper-tiny.en, the "
                    "Whisper weights of the faster-whisper project (each file checked against "
                    "its pinned sha256). Resumes a broken download.")
    dl.add_argument("name", nargs="?", metavar="NAME",
                    help=f"model name, e.g. {SUGGESTED} or {whisper_models.NAME}")
    dl.add_argument("--dir", type=Path, help="model directory (default: VOICEBOT_MODEL_DIR "
                    "or models/)")
    dl.add_argument("--url-base", metavar="URL",
                    help="where the files are fetched from (a mirror)")
    dl.add_argument("--archive", type=Path, metavar="FILE",
                    help="install from a zip downloaded elsewhere (no network)")
    dl.add_argument("--sha256", metavar="HEX", help="expected sha256 of the archive")
    dl.add_argument("--force", action="store_true", help="replace an installed model")
    dl.set_defaults(func=cmd_download)

    ls = models_sub.add_parser("list", help="installed models and the one engine auto takes")
    ls.add_argument("--dir", type=Path, help="model directory (default: VOICEBOT_MODEL_DIR "
                    "or models/)")
    ls.set_defaults(func=cmd_list)

