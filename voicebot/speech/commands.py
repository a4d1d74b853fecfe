"""Sub-commands of the speech area: `voicebot models ...` and `voicebot evaluate ...`."""

from __future__ import annotations

import argparse

from voicebot.speech import evaluate, models_command


def register(sub: argparse._SubParsersAction) -> None:
    models_command.register(sub)
    evaluate.register(sub)
