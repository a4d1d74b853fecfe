"""Vosk models in the model directory: download, check, unpack, choose (the `voicebot models`
command around this is voicebot/commands/models.py; the Whisper weights: whisper_models.py).

    voicebot models download vosk-model-small-en-us-0.15      # fetch, check, unpack
    voicebot models download NAME --archive ~/Downloads/NAME.zip   # offline install
    voicebot models list                                     # what is there, what auto takes

Why so careful: a model archive is tens to hundreds of MB fetched over flaky links, and an
unpacked half-model makes Vosk crash in native code at start-up. So the download resumes
(`.part` file + HTTP Range), the archive is checked (length, zip CRCs, sha256 when known),
unpacked safely (no absolute paths, `..` or links) into a temporary directory, checked for the
Vosk layout, and only then renamed into place.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import stat
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import requests

from voicebot.errors import VoicebotError
from voicebot.httpclient import reason, retrying_session

DEFAULT_URL_BASE = "https://alphacephei.com/vosk/models"
MODELS_PAGE = "https://alphacephei.com/vosk/models"
SUGGESTED = "vosk-model-small-en-us-0.15"
# sha256 of official archives we have verified; others are checked by length and zip CRCs.
KNOWN_SHA256: dict[str, str] = {}
MAX_UNPACKED_BYTES = 20 * 1024**3  # refuse zip bombs
CHUNK = 1 << 16
# Before the archive starts flowing: connection failures, lost answers and 502/503/504 are
# tried again (0, 0.5, 1 s apart); a transfer that breaks off later resumes on the next run.
RETRIES = 3
RETRY_BACKOFF_S = 0.25
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
REQUIRED = ("am/final.mdl", "conf")  # what every Vosk model directory has


class ModelError(VoicebotError):
    """A model cannot be downloaded, checked or installed."""


@dataclass(frozen=True)
class InstalledModel:
    name: str
    path: Path
    size_bytes: int
    valid: bool
    problem: str = ""

    @property
    def english(self) -> bool:
        return bool(re.search(r"(^|-)en(-|$)", self.name))


# ------------------------------------------------------------------------ looking at models


def check_model_dir(path: Path) -> str:
    """'' when `path` looks like a Vosk model directory, else what is missing."""
    if not path.is_dir():
        return "not a directory"
    missing = [p for p in REQUIRED if not (path / p).exists()]
    if missing:
        return "missing " + ", ".join(missing)
    if not (path / "graph").is_dir() and not any(path.glob("*.fst")):
        return "missing graph/"
    return ""


def installed_models(model_dir: Path) -> list[InstalledModel]:
    """Every directory in `model_dir` (hidden ones, i.e. unfinished installs, are skipped)."""
    if not model_dir.is_dir():
        return []
    out = []
    for path in sorted(model_dir.iterdir()):
        if not path.is_dir() or path.name.startswith("."):
            continue
        problem = check_model_dir(path)
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        out.append(InstalledModel(path.name, path, size, not problem, problem))
    return out


def choose_vosk_model(model_dir: Path, explicit: Path | None = None) -> tuple[Path | None, str]:
    """The Vosk model `auto` takes, and why (for the log); (None, why) means pocketsphinx.

    An explicit directory (VOICEBOT_VOSK_MODEL) wins; otherwise the valid models in
    `model_dir`, English first, full models before `small` ones, then the highest version.
    """
    if explicit is not None:
        problem = check_model_dir(explicit)
        if problem:
            raise ModelError(f"VOICEBOT_VOSK_MODEL={explicit}: not a Vosk model ({problem})")
        return explicit, "set by VOICEBOT_VOSK_MODEL"
    valid = [m for m in installed_models(model_dir) if m.valid]
    if not valid:
        return None, f"no Vosk model installed in {model_dir}"

    def rank(m: InstalledModel) -> tuple:
        version = tuple(int(n) for n in re.findall(r"\d+", m.name))
        return (m.english, "small" not in m.name, version, m.name)

    best = max(valid, key=rank)
    why = f"best of {len(valid)} installed in {model_dir} (English, larger, newer first)"
    return best.path, why


# ------------------------------------------------------------------------ downloading


def download(name: str, model_dir: Path, *, url_base: str = DEFAULT_URL_BASE,
             sha256: str | None = None, archive: Path | None = None, force: bool = False,
             progress: bool | None = None, timeout: float = 30.0) -> Path:
    """Fetch (or take `archive`), check and unpack model `name` into model_dir/name."""
    if not _NAME.match(name):
        raise ModelError(f"{name!r} is not a model name (e.g. {SUGGESTED}; see {MODELS_PAGE})")
    target = model_dir / name
    if target.exists() and not force:
        if not check_model_dir(target):
            raise ModelError(f"{name} is already installed in {target} (--force reinstalls)")
        raise ModelError(f"{target} exists but is not a complete model; remove it or use "
                         "--force")
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create {model_dir}: {exc.strerror or exc}") from None
    progress = sys.stderr.isatty() if progress is None else progress
    expected_sha = (sha256 or KNOWN_SHA256.get(name) or "").lower() or None

    if archive is not None:
        if not archive.is_file():
            raise ModelError(f"{archive}: no such archive")
        zip_path = archive
    else:
        url = f"{url_base.rstrip('/')}/{name}.zip"
        zip_path = model_dir / f".{name}.zip"
        fetch(url, zip_path, progress=progress, timeout=timeout,
              missing=f"no such model archive; names are listed at {MODELS_PAGE}")
    try:
        _verify_archive(zip_path, expected_sha)
        _install(zip_path, target, force=force)
    except ModelError:
        if archive is None:
            zip_path.unlink(missing_ok=True)  # a bad download must not be resumed
        raise
    if archive is None:
        zip_path.unlink(missing_ok=True)
    return target


def fetch(url: str, dest: Path, *, progress: bool, timeout: float, missing: str) -> None:
    """Download `url` into `dest`, resuming from `dest`.part; atomic rename when complete.
    `missing` says what an HTTP 404 means for this file."""
    if dest.is_file():
        return  # complete from an earlier run (renamed only when whole)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    # identity: the archive's own bytes, so a Range continues exactly where .part ends
    headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={have}-"} if have else {})}
    http = retrying_session(connect=RETRIES, read=RETRIES, status=RETRIES,
                            backoff_s=RETRY_BACKOFF_S, user_agent="voicebot-models")
    try:
        response = http.get(url, headers=headers, timeout=timeout, stream=True)
    except (requests.RequestException, ValueError) as exc:
        raise ModelError(f"cannot reach {url} ({reason(exc)}); download the archive elsewhere "
                         "and use --archive FILE") from None
    with http, response:
        if response.status_code == 416 and have:  # nothing left to fetch: .part is whole
            part.replace(dest)
            return
        if response.status_code == 404:
            raise ModelError(f"{url}: HTTP 404, {missing}")
        if response.status_code >= 400:
            raise ModelError(f"cannot download {url}: HTTP {response.status_code} "
                             f"{response.reason}")
        got, total = _save(response, part, have, url, progress)
    if total is not None and got != total:
        raise ModelError(f"download of {url} is incomplete ({got} of {total} bytes); run the "
                         "same command again to resume")
    part.replace(dest)


def _save(response: requests.Response, part: Path, have: int, url: str,
          progress: bool) -> tuple[int, int | None]:
    """Write the body to `part` (appended to when the server resumed); (bytes in `part`,
    the whole archive's length when the server said it)."""
    if response.status_code == 206 and have:
        mode = "ab"
        total = _total_from_content_range(response.headers.get("Content-Range"), have)
    else:
        mode, have = "wb", 0
        total = _int_or_none(response.headers.get("Content-Length"))
    bar = _progress_bar(total, have, url, progress)
    got = have
    # A body cut short ends the loop (instead of raising and losing the last chunk read), so
    # all that came is kept for resuming; the caller compares `got` with the length.
    response.raw.enforce_content_length = False
    try:
        with open(part, mode) as out:
            for chunk in response.iter_content(CHUNK):
                out.write(chunk)
                got += len(chunk)
                bar.update(len(chunk))
    except (OSError, requests.RequestException) as exc:
        raise ModelError(f"download of {url} broke off after {got} bytes ({reason(exc)}); run "
                         "the same command again to resume") from None
    finally:
        bar.close()
    return got, total


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _total_from_content_range(value: str | None, have: int) -> int | None:
    match = re.match(r"bytes (\d+)-\d+/(\d+)", value or "")
    if not match or int(match.group(1)) != have:
        return None
    return int(match.group(2))


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int | None, initial: int, url: str, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
                desc=url.rsplit("/", 1)[-1], file=sys.stderr)


def _verify_archive(zip_path: Path, sha256: str | None) -> None:
    if sha256:
        digest = hashlib.sha256()
        with open(zip_path, "rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
        if digest.hexdigest() != sha256:
            raise ModelError(f"{zip_path.name}: sha256 is {digest.hexdigest()}, expected "
                             f"{sha256}: the archive is damaged or not the official one")
    try:
        with zipfile.ZipFile(zip_path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise ModelError(f"{zip_path}: not a valid zip archive ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - zlib errors of damaged members
        raise ModelError(f"{zip_path}: damaged zip archive ({exc})") from None
    if bad is not None:
        raise ModelError(f"{zip_path}: damaged zip archive (bad CRC in {bad})")


def _safe_members(zf: zipfile.ZipFile, zip_path: Path) -> tuple[list[zipfile.ZipInfo], str]:
    """Members to extract and the single top-level folder to strip ('' when there is none)."""
    members = zf.infolist()
    total = 0
    for info in members:
        parts = PurePosixPath(info.filename.replace("\\", "/")).parts
        if (info.filename.startswith(("/", "\\")) or ".." in parts
                or (parts and re.match(r"^[A-Za-z]:", parts[0]))):
            raise ModelError(f"{zip_path}: refusing unsafe path {info.filename!r} in archive")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ModelError(f"{zip_path}: refusing symbolic link {info.filename!r} in archive")
        total += info.file_size
    if total > MAX_UNPACKED_BYTES:
        raise ModelError(f"{zip_path}: unpacks to {total} bytes, more than any model")
    tops = {PurePosixPath(i.filename).parts[0] for i in members if i.filename.strip("/")}
    nested = len(tops) == 1 and all("/" in i.filename.strip("/") or i.is_dir() for i in members)
    return members, (tops.pop() if nested else "")


def _install(zip_path: Path, target: Path, *, force: bool) -> None:
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with zipfile.ZipFile(zip_path) as zf:
            members, top = _safe_members(zf, zip_path)
            for info in members:
                rel = PurePosixPath(info.filename.replace("\\", "/"))
                if top:
                    rel = PurePosixPath(*rel.parts[1:])
                if not rel.parts:
                    continue
                dest = staging.joinpath(*rel.parts)
                if not dest.resolve().is_relative_to(staging.resolve()):
                    raise ModelError(f"{zip_path}: refusing unsafe path {info.filename!r}")
                if info.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
        problem = check_model_dir(staging)
        if problem:
            raise ModelError(f"{zip_path}: not a Vosk model archive ({problem}; a model has "
                             "am/, conf/ and graph/)")
        if target.exists() and force:
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        staging.rename(target)
    except OSError as exc:
        raise ModelError(f"cannot install into {target}: {exc.strerror or exc}") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
