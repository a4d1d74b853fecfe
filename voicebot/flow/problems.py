"""Problems found in a flow file, each pinned to file:line:col so an editor can jump to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from voicebot.errors import VoicebotError

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    col: int
    severity: Severity
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.severity}: {self.message}"


class FlowError(VoicebotError):
    """A flow that must not load: str() is one `file:line:col: severity: message` per line."""

    exit_code = 1

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
