"""What a decoder worker process runs (a voicebot.speech.workers worker): one DecodeCore,
with its own compiled-grammar cache, answering the engine's requests."""

from __future__ import annotations

from typing import Any

from voicebot.speech.engines.pocketsphinx_decode import DecodeCore, PocketsphinxOptions

INITIALIZER = "voicebot.speech.engines.decode_worker:init"
HANDLER = "voicebot.speech.engines.decode_worker:handle"


def init(options: PocketsphinxOptions) -> DecodeCore:
    return DecodeCore(options)


def handle(core: DecodeCore, request: tuple[Any, ...]) -> Any:
    """("decode" | "grammar" | "phone" | "warm", *args) -> what DecodeCore answers."""
    op, *args = request
    if op == "decode":
        return core.decode(*args)
    if op == "grammar":
        return core.grammar_part(*args)
    if op == "phone":
        return core.phone_score(*args)
    if op == "warm":
        core.warm(*args)
        return None
    raise ValueError(f"unknown decoder request {op!r}")
