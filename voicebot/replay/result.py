"""One scenario's run, offline or live: what happened, how the caller saw it, the verdict.

The live stand-in (`voicebot call --scenario`) builds the same ReplayResult with `evaluate`
from the transcript it reads back, so both print the same report and JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from voicebot.records.transcript import CallTranscript
from voicebot.replay.caller import CallerSimulator
from voicebot.replay.scenario import Scenario
from voicebot.replay.verdict import Check, check


@dataclass
class ReplayResult:
    scenario: Scenario
    transcript: CallTranscript
    checks: list[Check]
    caller: dict[str, Any] = field(default_factory=dict)  # CallerSimulator.summary()
    mode: str = "offline"  # offline | live
    call_s: float = 0.0  # call time (stream seconds)
    wall_s: float = 0.0  # how long the run took

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def speed(self) -> float | None:
        """How many times faster than real time the call ran."""
        return self.call_s / self.wall_s if self.wall_s > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.name,
            "file": str(self.scenario.path),
            "mode": self.mode,
            "passed": self.passed,
            "outcome": self.transcript.outcome,
            "reason": self.transcript.reason,
            "queue": self.transcript.queue,
            "path": list(self.transcript.path),
            "checks": [c.to_dict() for c in self.checks],
            "call_s": round(self.call_s, 3),
            "wall_s": round(self.wall_s, 3),
            "caller": self.caller,
            "transcript": self.transcript.to_dict(),
        }


def evaluate(scenario: Scenario, transcript: CallTranscript, sim: CallerSimulator, *,
             mode: str, call_s: float, wall_s: float) -> ReplayResult:
    """Judge a finished call against its scenario's expectations."""
    return ReplayResult(
        scenario=scenario,
        transcript=transcript,
        checks=check(scenario.expect, transcript, sim),
        caller=sim.summary(),
        mode=mode,
        call_s=call_s,
        wall_s=wall_s,
    )
