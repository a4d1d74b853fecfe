"""The bot's voice: prompts rendered with pyttsx3 (espeak-ng) to 8 kHz mu-law, cached on disk.

pyttsx3 runs in one worker process (tts_worker.py, through speech/workers.py: see there why),
which renders one prompt at a time; a thread in the service feeds it from a queue, with a
deadline per prompt after which the worker is killed and replaced. A caller of `render`
blocks only itself, only when its prompt is not cached yet, and at most about the deadline;
concurrent requests for the same text share one render.

The cache is a directory of `<sha256>.ulaw` files keyed by (text, voice, rate, renderer
version), written atomically (temp file + rename), so several service processes can share it.
Prompts known at start-up (`prewarm`: the flow's fixed prompts, every hand-over text) are
also kept in memory, so the bot can always say why it hands over: with the speech worker
hung, or the cache directory gone (it is made again; a cache that cannot be written only
costs renders, never a prompt).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import tempfile
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future
from pathlib import Path

from voicebot.errors import VoicebotError
from voicebot.logs import log_event
from voicebot.speech import tts_worker
from voicebot.speech.audio import (
    AudioError,
    pcm16_to_ulaw,
    read_wav,
    resample,
    ulaw_duration,
)
from voicebot.speech.types import PHONE_RATE
from voicebot.speech.voices import rate_problem
from voicebot.speech.workers import (
    PoolHealth,
    WorkerCrashed,
    WorkerError,
    WorkerPool,
    WorkerSpec,
    WorkerStartError,
)

__all__ = ["PromptRenderer", "TtsError", "RENDERER_VERSION", "ulaw_duration"]

log = logging.getLogger(__name__)

# Bump when the rendering changes (engine options, conversion), so old cache entries are unused.
RENDERER_VERSION = "pyttsx3-espeak-1"
RENDER_TIMEOUT_S = 3.0  # settings: VOICEBOT_TTS_DEADLINE_S
RENDER_GRACE_S = 0.5  # render() waits the deadline plus this for the worker thread's answer
START_TIMEOUT_S = 30.0
ESPEAK_HINT = " (is espeak-ng installed? Debian/Ubuntu: apt-get install espeak-ng)"


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
        if (problem := rate_problem(self.rate)) is not None:
            raise TtsError(problem)
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TtsError(f"cannot create the prompt cache {self.cache_dir}: "
                           f"{exc.strerror or exc}") from None
        self.render_timeout = render_timeout
        self._kept: dict[str, bytes] = {}  # cache key -> audio of the prompts kept in memory
        self.renders = 0  # prompts synthesised by this renderer (the rest came from the cache)
        self.cache_hits = 0
        self.render_seconds = 0.0  # total synthesis + conversion time, for figures
        self._lock = threading.Lock()
        self._pending: dict[str, Future[bytes]] = {}
        self._jobs: queue.Queue[tuple[str, str, Future[bytes]] | None] = queue.Queue()
        resample(b"\x00\x00" * 441, 22050, PHONE_RATE)  # imports scipy now, not in a call
        spec = WorkerSpec(tts_worker.INITIALIZER, tts_worker.HANDLER,
                          {"voice": self.voice, "rate": self.rate}, quiet=True)
        try:  # a missing espeak-ng or a misspelt voice fails now
            self._pool = WorkerPool(spec, 1, name="speech", deadline_s=render_timeout,
                                    start_timeout_s=START_TIMEOUT_S)
            self.voice_id = self._pool.call(("voice",))
        except WorkerStartError as exc:
            raise TtsError(str(exc) + ("" if exc.detail else ESPEAK_HINT)) from None
        except WorkerError as exc:
            raise TtsError(str(exc)) from None
        self._thread = threading.Thread(target=self._run, name="tts-worker", daemon=True)
        self._closed = False
        self._thread.start()
        log_event(log, "tts.ready", voice=self.voice_id, rate=self.rate,
                  cache=str(self.cache_dir))

    # ------------------------------------------------------------------ public

    def path_for(self, text: str) -> Path:
        """The cache file of a prompt (whitespace-normalised, as `render` keys it)."""
        return self.cache_dir / f"{cache_key(_normalise(text), self.voice, self.rate)}.ulaw"

    def is_cached(self, text: str) -> bool:
        return self.path_for(text).is_file()

    def render(self, text: str) -> bytes:
        """The prompt as 8 kHz mu-law; renders it (once, shared by concurrent callers) if
        needed. TtsError when it cannot, or when no audio came within the deadline (a
        render queued behind a hung one included)."""
        try:
            return self.submit(text).result(timeout=self.render_timeout + RENDER_GRACE_S)
        except TimeoutError:
            raise TtsError(f"no prompt audio within {self.render_timeout:g} s (the speech "
                           "worker took longer than the deadline)") from None

    def submit(self, text: str) -> Future[bytes]:
        """Start rendering `text` if needed; the Future gives the mu-law bytes or a TtsError."""
        text = _normalise(text)
        if not text:
            done: Future[bytes] = Future()
            done.set_result(b"")
            return done
        key = cache_key(text, self.voice, self.rate)
        cached = self._kept.get(key)
        if cached is None:
            cached = _read_cache(self.cache_dir / f"{key}.ulaw")
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
        """Render every text not in the cache yet (static prompts at start-up) and keep them
        all in memory; returns how many were rendered.

        Raises TtsError naming the first prompt that failed.
        """
        before = self.renders
        futures = {text: self.submit(text) for text in dict.fromkeys(texts)}
        for text, future in futures.items():
            try:
                audio = future.result()
            except TtsError as exc:
                raise TtsError(f"cannot render prompt {text[:60]!r}: {exc}") from None
            self._kept[cache_key(_normalise(text), self.voice, self.rate)] = audio
        return self.renders - before

    @property
    def kept_bytes(self) -> int:
        """Audio kept in memory (for figures and logs)."""
        return sum(len(audio) for audio in self._kept.values())

    def cache_problem(self) -> str | None:
        """Why the disk cache cannot be written now (made again if it is gone), or None."""
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return f"prompt cache {self.cache_dir} cannot be made: {exc.strerror or exc}"
        if not os.access(self.cache_dir, os.W_OK | os.X_OK):
            return f"prompt cache {self.cache_dir} is not writable"
        return None

    def close(self) -> None:
        """Stop the worker thread and process (pending renders fail with TtsError)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._jobs.put(None)
        self._thread.join(timeout=self._pool.deadline_s + 5)
        self._pool.close()

    @property
    def worker_pids(self) -> list[int]:
        """The speech worker's process id (for fault-injection tests and chaos scripts)."""
        return self._pool.pids

    def health(self) -> PoolHealth:
        return self._pool.health()

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
        problem = self.cache_problem()  # a removed cache directory is made again here
        work_dir = self.cache_dir if problem is None else Path(tempfile.gettempdir())
        fd, wav_name = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".wav", dir=work_dir)
        os.close(fd)
        wav = Path(wav_name)
        try:
            self._speak(text, wav)
            try:
                pcm, rate = read_wav(wav)
            except AudioError as exc:
                raise TtsError(f"espeak-ng produced no usable audio ({exc})") from None
            ulaw = pcm16_to_ulaw(resample(pcm, rate, PHONE_RATE))
            if problem is None:
                _write_atomic(path, ulaw)
            else:  # the caller still hears it; the next caller pays another render
                log_event(log, "tts.cache_unwritable", logging.WARNING, detail=problem)
        finally:
            wav.unlink(missing_ok=True)
        elapsed = time.perf_counter() - started
        with self._lock:
            self.renders += 1
            self.render_seconds += elapsed
        log_event(log, "tts.rendered", audio_s=round(ulaw_duration(ulaw), 2),
                  render_ms=round(elapsed * 1000), chars=len(text))
        return ulaw


    def _speak(self, text: str, out: Path) -> None:
        """Render `text` to a WAV file in the worker. A worker that died while idle takes
        the request down with it (and is replaced): that one is asked once more."""
        try:
            try:
                self._pool.call(("render", text, str(out)))
            except WorkerCrashed:
                self._pool.call(("render", text, str(out)))
        except WorkerError as exc:
            raise TtsError(str(exc)) from None


def _normalise(text: str) -> str:
    return " ".join(text.split())


def _read_cache(path: Path) -> bytes | None:
    """The cached prompt, or None; a cache that cannot be read is a miss (rendered again)."""
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        log_event(log, "tts.cache_unreadable", logging.WARNING, file=path.name,
                  error=exc.strerror or type(exc).__name__)
        return None


def _write_atomic(path: Path, data: bytes) -> None:
    """Write a cache entry; a failure is logged, never raised: the prompt was rendered."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem[:16]}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        log_event(log, "tts.cache_write_failed", logging.WARNING, error=exc.strerror or "")
        return
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        log_event(log, "tts.cache_write_failed", logging.WARNING, error=exc.strerror or "")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
