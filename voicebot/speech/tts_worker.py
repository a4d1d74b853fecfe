"""What the speech worker process runs (a voicebot.speech.workers worker): pyttsx3 with
espeak-ng, one prompt at a time, written to a WAV file the renderer reads back.

pyttsx3 is not thread-safe, espeak-ng keeps process-global state (voice, rate, output
buffer), and the pyttsx3 2.9x espeak driver prints to stdout and can hang in `runAndWait`:
so it lives in a process of its own, which the pool kills and replaces at its deadline.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voicebot.speech.voices import DEFAULT_RATE, installed, resolve_voice

INITIALIZER = "voicebot.speech.tts_worker:init"
HANDLER = "voicebot.speech.tts_worker:handle"


@dataclass
class Speaker:
    engine: Any  # the pyttsx3 engine
    voice: str | None
    rate: int | None


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


def init(arg: dict[str, Any]) -> Speaker:
    """Start pyttsx3 with the flow's voice and rate, and render one phrase to prove it works.

    Raises ValueError with a message for the operator (no espeak-ng, unknown voice)."""
    try:
        import pyttsx3

        engine = pyttsx3.init("espeak")
    except Exception as exc:  # noqa: BLE001 - missing library, broken install
        raise ValueError(f"pyttsx3 cannot start espeak-ng ({type(exc).__name__}: {exc}); "
                         "install it: apt-get install espeak-ng") from None
    voice = engine.getProperty("voice")
    if arg.get("voice"):
        voice = resolve_voice(arg["voice"], installed(initialize=False))
    speaker = Speaker(engine, voice, int(arg["rate"]) if arg.get("rate") else None)
    # One real synthesis now: proves espeak-ng works and loads its data (the first render
    # costs ~0.5 s), so neither surprise happens in the middle of a call.
    with tempfile.TemporaryDirectory() as tmp:
        if not _write(speaker, "Hello.", Path(tmp) / "probe.wav", 44):
            raise ValueError("espeak-ng produced no audio for a test phrase; check the "
                             "espeak-ng installation (espeak-ng 'hello')")
    return speaker


def _write(speaker: Speaker, text: str, out: Path, min_bytes: int) -> bool:
    """Render `text` to the WAV file `out`, in up to three tries: espeak-ng now and then
    writes an empty file (a service on a busy machine once failed to start on it)."""
    for _attempt in range(3):
        out.unlink(missing_ok=True)
        _apply_voice_and_rate(speaker.voice, speaker.rate)
        speaker.engine.save_to_file(text, str(out))
        speaker.engine.runAndWait()
        if out.is_file() and out.stat().st_size > min_bytes:
            return True
    return False


def handle(speaker: Speaker, request: tuple[Any, ...]) -> Any:
    """("voice",) -> the espeak-ng voice in use; ("render", text, wav_path) -> None."""
    if request[0] == "voice":
        return speaker.voice
    if request[0] != "render":
        raise ValueError(f"unknown speech request {request[0]!r}")
    _, text, out_name = request
    if not _write(speaker, text, Path(out_name), 44 + 800):
        raise RuntimeError("espeak-ng wrote no audio")
    return None
