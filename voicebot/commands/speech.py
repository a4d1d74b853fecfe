"""Sub-commands of the speech area: `voicebot models ...` and `voicebot evaluate ...`."""

from __future__ import annotations

import argparse

from voicebot.commands import models
from voicebot.speech import evaluate


def register(sub: argparse._SubParsersAction) -> None:
    models.register(sub)
    evaluate.register(sub)
