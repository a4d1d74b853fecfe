"""Offline recognition engines behind one small interface (see voicebot.speech.types).

`load_engine("auto", model_dir=...)` takes Vosk when a Vosk model is installed (or named with
`vosk_model`), else the embedded pocketsphinx, and logs which one it took and why. Load it
once per process: engines are shared by every call.
"""

from __future__ import annotations

import logging
from pathlib import Path

from voicebot.logs import log_event
from voicebot.speech.engines.common import DEFAULT_THRESHOLD, EngineError
from voicebot.speech.engines.pocketsphinx_engine import PocketsphinxEngine
from voicebot.speech.engines.vosk_engine import VoskEngine
from voicebot.speech.models import ModelError, check_model_dir, choose_vosk_model
from voicebot.speech.types import Engine

__all__ = ["DEFAULT_THRESHOLD", "EngineError", "load_engine"]

KINDS = ("auto", "vosk", "pocketsphinx")
log = logging.getLogger(__name__)


def load_engine(kind: str = "auto", model_dir: Path | str | None = None,
                vosk_model: Path | str | None = None, workers: int | None = None,
                decode_deadline_s: float | None = None) -> Engine:
    """The engine to share across calls; raises EngineError when the choice can't be met.

    workers: pocketsphinx decoder processes (None: one per CPU; 0: decode in the calling
    thread, holding the GIL). decode_deadline_s: the longest a decode in those workers may
    take, waiting for a free one included (None: the engine's default)."""
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
        why = f"{why}; using the embedded pocketsphinx US English model"
    else:
        why = "requested"

    engine = PocketsphinxEngine(workers=workers, deadline_s=decode_deadline_s)
    log_event(log, "speech.engine.loaded", engine="pocketsphinx", model=engine.model,
              requested=kind, why=why, decoder_workers=engine.workers)
    return engine
