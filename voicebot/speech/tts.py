"""The bot's voice: prompts rendered with pyttsx3 (espeak-ng) to 8 kHz mu-law, cached on disk.

Why a worker process: pyttsx3 is not thread-safe, espeak-ng keeps process-global state (the
current voice, rate and output buffer), and the pyttsx3 2.9x espeak driver prints to stdout
and can hang in `runAndWait`. So one child process owns the engine and renders one prompt at a
time; a thread in the service feeds it from a queue, with a timeout per prompt after which the
child is killed and restarted. A caller of `render` blocks only itself, and only when its
prompt is not cached yet; concurrent requests for the same text share one render.

The cache is a directory of `<sha256>.ulaw` files keyed by (text, voice, rate, renderer
version), written atomically (temp file + rename), so several service processes can share it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future
from pathlib import Path

from voicebot.errors import VoicebotError
from voicebot.logs import log_event
from voicebot.speech.audio import (
    AudioError,
    pcm16_to_ulaw,
    read_wav,
    resample,
    ulaw_duration,
)
from voicebot.speech.types import PHONE_RATE

__all__ = ["PromptRenderer", "TtsError", "RENDERER_VERSION", "ulaw_duration"]

log = logging.getLogger(__name__)

# Bump when the rendering changes (engine options, conversion), so old cache entries are unused.
RENDERER_VERSION = "pyttsx3-espeak-1"
RENDER_TIMEOUT_S = 30.0
DEFAULT_RATE = 175  # words a minute when the flow sets none (espeak-ng's own default)
START_TIMEOUT_S = 30.0
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


class TtsError(VoicebotError):
    """Speech output cannot work: espeak-ng missing, unknown voice, a prompt failed to render."""


def cache_key(text: str, voice: str | None, rate: int | None) -> str:
    """The cache file name stem for a prompt: every input that changes the audio is in it."""
    blob = json.dumps([RENDERER_VERSION, text, voice or "", rate or 0], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class PromptRenderer:
    """Text -> 8 kHz mu-law bytes, cached on disk; safe to call from many threads.

    Starting it starts the pyttsx3 worker and checks the voice, so a missing espeak-ng or a
    misspelt voice is an error at start-up, not in the middle of a call.
    """

    def __init__(self, cache_dir: Path, voice: str | None = None, rate: int | None = None,
                 *, render_timeout: float = RENDER_TIMEOUT_S) -> None:
        self.cache_dir = Path(cache_dir)
        self.voice = voice or None
        self.rate = rate or None
        if self.rate is not None and not 40 <= self.rate <= 500:
            raise TtsError(f"speech rate {self.rate} is out of range (40..500 words a minute)")
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TtsError(f"cannot create the prompt cache {self.cache_dir}: "
                           f"{exc.strerror or exc}") from None
        self.renders = 0  # prompts synthesised by this renderer (the rest came from the cache)
        self.cache_hits = 0
        self.render_seconds = 0.0  # total synthesis + conversion time, for figures
        self._lock = threading.Lock()
        self._pending: dict[str, Future[bytes]] = {}
        self._jobs: queue.Queue[tuple[str, str, Future[bytes]] | None] = queue.Queue()
        resample(b"\x00\x00" * 441, 22050, PHONE_RATE)  # imports scipy now, not in a call
        self._speaker = _Speaker(self.voice, self.rate, render_timeout)
        self._speaker.start()  # raises TtsError when pyttsx3/espeak-ng cannot start
        self._thread = threading.Thread(target=self._run, name="tts-worker", daemon=True)
        self._closed = False
        self._thread.start()
        log_event(log, "tts.ready", voice=self._speaker.voice_id, rate=self.rate,
                  cache=str(self.cache_dir))

    # ------------------------------------------------------------------ public

    def path_for(self, text: str) -> Path:
        """The cache file of a prompt (whitespace-normalised, as `render` keys it)."""
        return self.cache_dir / f"{cache_key(_normalise(text), self.voice, self.rate)}.ulaw"

    def is_cached(self, text: str) -> bool:
        return self.path_for(text).is_file()

    def render(self, text: str) -> bytes:
        """The prompt as 8 kHz mu-law; renders it (once, shared by concurrent callers) if needed."""
        return self.submit(text).result()

    def submit(self, text: str) -> Future[bytes]:
        """Start rendering `text` if needed; the Future gives the mu-law bytes or a TtsError."""
        text = _normalise(text)
        if not text:
            done: Future[bytes] = Future()
            done.set_result(b"")
            return done
        key = cache_key(text, self.voice, self.rate)
        path = self.cache_dir / f"{key}.ulaw"
        cached = _read_cache(path)
        if cached is not None:
            with self._lock:
                self.cache_hits += 1
            done = Future()
            done.set_result(cached)
            return done
        with self._lock:
            if self._closed:
                raise TtsError("the prompt renderer is closed")
            future = self._pending.get(key)
            if future is None:
                future = Future()
                self._pending[key] = future
                self._jobs.put((key, text, future))
        return future

    def prewarm(self, texts: Iterable[str]) -> int:
        """Render every text not in the cache yet (static prompts at start-up); how many were.

        Raises TtsError naming the first prompt that failed.
        """
        before = self.renders
        futures = {text: self.submit(text) for text in dict.fromkeys(texts)}
        for text, future in futures.items():
            try:
                future.result()
            except TtsError as exc:
                raise TtsError(f"cannot render prompt {text[:60]!r}: {exc}") from None
        return self.renders - before

    def close(self) -> None:
        """Stop the worker thread and process (pending renders fail with TtsError)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._jobs.put(None)
        self._thread.join(timeout=RENDER_TIMEOUT_S + 5)
        self._speaker.stop()

    def __enter__(self) -> PromptRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ worker thread

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                break
            key, text, future = job
            try:
                future.set_result(self._render_one(key, text))
            except TtsError as exc:
                future.set_exception(exc)
            except Exception as exc:  # noqa: BLE001 - a render fault must reach the caller
                future.set_exception(TtsError(f"{type(exc).__name__}: {exc}"))
            finally:
                with self._lock:
                    self._pending.pop(key, None)
        with self._lock:
            leftovers = list(self._pending.values())
            self._pending.clear()
        for future in leftovers:
            if not future.done():
                future.set_exception(TtsError("the prompt renderer was closed"))

    def _render_one(self, key: str, text: str) -> bytes:
        path = self.cache_dir / f"{key}.ulaw"
        cached = _read_cache(path)  # another process may have rendered it meanwhile
        if cached is not None:
            return cached
        started = time.perf_counter()
        fd, wav_name = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".wav", dir=self.cache_dir)
        os.close(fd)
        wav = Path(wav_name)
        try:
            self._speaker.speak(text, wav)
            try:
                pcm, rate = read_wav(wav)
            except AudioError as exc:
                raise TtsError(f"espeak-ng produced no usable audio ({exc})") from None
            ulaw = pcm16_to_ulaw(resample(pcm, rate, PHONE_RATE))
            _write_atomic(path, ulaw)
        finally:
            wav.unlink(missing_ok=True)
        elapsed = time.perf_counter() - started
        with self._lock:
            self.renders += 1
            self.render_seconds += elapsed
        log_event(log, "tts.rendered", audio_s=round(ulaw_duration(ulaw), 2),
                  render_ms=round(elapsed * 1000), chars=len(text))
        return ulaw


def _normalise(text: str) -> str:
    return " ".join(text.split())


def _read_cache(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise TtsError(f"cannot read cached prompt {path}: {exc.strerror or exc}") from None


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem[:16]}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------- the worker process


class _Speaker:
    """Owns the child process running pyttsx3; used by one thread only."""

    def __init__(self, voice: str | None, rate: int | None, timeout: float) -> None:
        self.voice = voice
        self.rate = rate
        self.timeout = timeout
        self.voice_id: str | None = None
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(_PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", "from voicebot.speech.tts import worker_main; "
                 "worker_main()"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True, bufsize=1, env=env)
        except OSError as exc:
            raise TtsError(f"cannot start the speech worker: {exc}") from None
        reply = self._call({"op": "init", "voice": self.voice, "rate": self.rate},
                           START_TIMEOUT_S)
        self.voice_id = reply.get("voice")

    def speak(self, text: str, out: Path) -> None:
        """Render `text` to a WAV file; a worker found dead is restarted and tried once more."""
        for attempt in (1, 2):
            if self._proc is None or self._proc.poll() is not None:
                log_event(log, "tts.worker_restart", level=logging.WARNING)
                self.start()
            try:
                self._call({"op": "render", "text": text, "out": str(out)}, self.timeout)
                return
            except _WorkerDied:
                if attempt == 2:
                    raise

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin:
                proc.stdin.close()
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()

    def _call(self, request: dict, timeout: float) -> dict:
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], timeout)
            line = proc.stdout.readline() if ready else None
        except (OSError, ValueError):
            line = ""
        if line is None:
            self._kill()
            raise TtsError(f"speech synthesis took longer than {timeout:g} s; the worker "
                           "was restarted")
        if not line:
            self._kill()
            raise _WorkerDied("the speech worker stopped unexpectedly (is espeak-ng installed? "
                           "Debian/Ubuntu: apt-get install espeak-ng)")
        reply = json.loads(line)
        if not reply.get("ok"):
            if request["op"] == "init":
                self._kill()
            raise TtsError(reply.get("error") or "speech synthesis failed")
        return reply

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()


class _WorkerDied(TtsError):
    pass


def _resolve_voice(engine, wanted: str) -> str:
    """Map a flow's voice ("en-us", "en-gb+f2", "English (America)", "gmw/en-us") to an
    espeak-ng voice id, or raise ValueError listing some that exist: espeak-ng silently
    ignores names it does not know, which would make a typo go unnoticed."""
    base, plus, variant = wanted.strip().partition("+")
    base_l = base.lower()
    voices = engine.getProperty("voices")
    for v in voices:
        names = {v.id.lower(), v.id.lower().split("/")[-1], (v.name or "").lower()}
        names |= {lang.lower() for lang in (v.languages or [])}
        if base_l in names:
            if plus:
                variants = _variants()
                if variants and variant.lower() not in variants:
                    raise ValueError(f"unknown espeak-ng voice variant {variant!r} "
                                     f"(e.g. m1..m7, f1..f5)")
            return v.id + (f"+{variant}" if plus else "")
    english = sorted({(v.languages or [v.id])[0] for v in voices
                      if (v.languages or [""])[0].startswith("en")})
    raise ValueError(f"unknown voice {wanted!r}; English voices here: {', '.join(english)}")


def _variants() -> set[str]:
    for root in ("/usr/lib/x86_64-linux-gnu/espeak-ng-data", "/usr/lib/aarch64-linux-gnu/"
                 "espeak-ng-data", "/usr/share/espeak-ng-data", "/usr/local/share/espeak-ng-data"):
        directory = Path(root) / "voices" / "!v"
        if directory.is_dir():
            return {p.name.lower() for p in directory.iterdir()}
    return set()


def _apply_voice_and_rate(voice: str | None, rate: int | None) -> None:
    """Set voice and rate straight on espeak-ng and wait until they took effect.

    Through pyttsx3's queued setProperty, espeak-ng (in its asynchronous mode) ignored the
    rate in about one worker start of ten (measured); set directly and synchronised, never.
    """
    from pyttsx3.drivers import _espeak

    if voice:
        _espeak.SetVoiceByName(voice.encode("utf-8"))
    _espeak.SetParameter(_espeak.RATE, rate or DEFAULT_RATE, 0)
    _espeak.Synchronize()


def worker_main() -> None:
    """Entry point of the speech worker process: JSON requests on stdin, replies on stdout.

    pyttsx3 prints to stdout, so the reply channel is a private copy of the original stdout
    and fd 1 is pointed at stderr.
    """
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def reply(**fields) -> None:
        replies.write(json.dumps(fields) + "\n")

    engine = None
    voice: str | None = None
    request_rate: int | None = None
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if request["op"] == "init":
                try:
                    import pyttsx3

                    engine = pyttsx3.init("espeak")
                except Exception as exc:  # noqa: BLE001 - missing library, broken install
                    raise ValueError(
                        f"pyttsx3 cannot start espeak-ng ({type(exc).__name__}: {exc}); "
                        "install it: apt-get install espeak-ng") from None
                voice = engine.getProperty("voice")
                if request.get("voice"):
                    voice = _resolve_voice(engine, request["voice"])
                request_rate = int(request["rate"]) if request.get("rate") else None
                _apply_voice_and_rate(voice, request_rate)
                # One real synthesis now: proves espeak-ng works and loads its data (the first
                # render costs ~0.5 s), so neither surprise happens in the middle of a call.
                with tempfile.TemporaryDirectory() as tmp:
                    probe = Path(tmp) / "probe.wav"
                    engine.save_to_file("Hello.", str(probe))
                    engine.runAndWait()
                    if not probe.is_file() or probe.stat().st_size <= 44:
                        raise ValueError("espeak-ng produced no audio for a test phrase; check "
                                         "the espeak-ng installation (espeak-ng 'hello')")
                reply(ok=True, voice=voice)
            elif request["op"] == "render":
                assert engine is not None
                out = Path(request["out"])
                for _attempt in range(3):  # espeak-ng now and then writes an empty file
                    out.unlink(missing_ok=True)
                    _apply_voice_and_rate(voice, request_rate)
                    engine.save_to_file(request["text"], str(out))
                    engine.runAndWait()
                    if out.is_file() and out.stat().st_size > 44 + 800:
                        break
                else:
                    raise RuntimeError("espeak-ng wrote no audio")
                reply(ok=True)
        except Exception as exc:  # noqa: BLE001 - reported to the parent as text
            reply(ok=False, error=f"{type(exc).__name__}: {exc}" if not isinstance(
                exc, ValueError) else str(exc))
