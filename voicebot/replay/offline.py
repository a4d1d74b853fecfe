"""Offline replay: a scenario's caller against the real call driver, on a virtual clock.

No socket and no real time: the CallerSimulator's messages go straight into the same
CallDriver the live WebSocket route uses, and what the driver sends goes straight back, with
the clock advanced frame by frame (20 ms). The speech engine and the prompt renderer are the
real ones, loaded once per process (ReplayEnv) and shared by every scenario, so a suite runs
many times faster than real time while exercising exactly the code that serves callers.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicebot.flow.loader import load_flow
from voicebot.logs import log_event
from voicebot.records.recorder import NullRecorder
from voicebot.records.transcript import CallTranscript
from voicebot.replay.caller import CallerSimulator
from voicebot.replay.result import ReplayResult, evaluate
from voicebot.replay.scenario import Scenario, ScenarioError
from voicebot.replay.verdict import Check
from voicebot.settings import Settings
from voicebot.speech.engines import engine_from_settings
from voicebot.speech.tts import PromptRenderer
from voicebot.telephony.driver import CallDeps, CallDriver

logger = logging.getLogger(__name__)

ACCOUNT_SID = "AC" + "0" * 32
DEFAULT_MAX_CALL_S = 90.0

__all__ = ["ReplayEnv", "ReplayResult", "replay"]


def _sid(prefix: str, scenario: Scenario) -> str:
    digest = hashlib.sha1(str(scenario.path.resolve()).encode("utf-8")).hexdigest()
    return prefix + digest[:32]


def replay(scenario: Scenario, deps: Any, *, max_call_s: float = DEFAULT_MAX_CALL_S,
           call_sid: str | None = None) -> ReplayResult:
    """Run one scenario through `CallDriver(deps)` on a virtual clock and judge it.

    `deps` is a voicebot.telephony.driver.CallDeps. A crash inside the driver is reported
    as a failed check (with the exception), not raised, so one bad call does not stop a suite.
    """
    call_sid = call_sid or _sid("CA", scenario)
    params = {"flow": getattr(deps.flow, "name", "")}
    if scenario.from_number:
        params["from"] = scenario.from_number
    sim = CallerSimulator(list(scenario.turns), call_sid=call_sid,
                          stream_sid=_sid("MZ", scenario), account_sid=ACCOUNT_SID,
                          custom_parameters=params, from_number=scenario.from_number or "",
                          max_call_s=max_call_s)
    driver = CallDriver(deps, call_sid_hint=call_sid)
    started = time.perf_counter()
    clock = VirtualClock()
    crash: Exception | None = None
    try:
        _run_call(sim, driver, clock)
    except Exception as exc:  # noqa: BLE001 - reported in the verdict, see docstring
        crash = exc
        log_event(logger, "replay.crashed", logging.ERROR, call_sid=call_sid,
                  error=type(exc).__name__)
    wall = time.perf_counter() - started
    transcript: CallTranscript = driver.transcript
    result = evaluate(scenario, transcript, sim, mode="offline", call_s=clock.now,
                      wall_s=wall)
    if crash is not None:
        result.checks.insert(0, Check("replay ran", False, "no exception",
                                      f"{type(crash).__name__}: {crash}"))
    return result


@dataclass
class VirtualClock:
    now: float = 0.0  # seconds of call time


def _run_call(sim: CallerSimulator, driver: CallDriver, clock: VirtualClock) -> None:
    """Pass messages both ways, moving the clock to whenever the caller next has something."""
    for text in sim.opening():
        for out in driver.receive(text, clock.now):
            sim.on_message(out, clock.now)
    while not driver.finished and not sim.done:
        clock.now = now = sim.next_due()
        for text in sim.poll(now):
            for out in driver.receive(text, now):
                sim.on_message(out, now)
            if driver.finished:
                break
        if not driver.finished:
            for out in driver.tick(now):
                sim.on_message(out, now)
    if not driver.finished:  # the caller gave up: Twilio sends stop
        for text in sim.closing(clock.now):
            driver.receive(text, clock.now)


@dataclass
class ReplayEnv:
    """What every scenario of a run shares: one engine, renderers and loaded flows."""

    engine: Any
    tts_cache: Path
    settings: Settings = field(default_factory=Settings)
    default_flow: Path | None = None
    recorder: Any = None  # None: keep nothing (a CallStore writes the calls to SQLite)
    _flows: dict[Path, Any] = field(default_factory=dict)
    _renderers: dict[tuple[Any, Any], Any] = field(default_factory=dict)

    @classmethod
    def create(cls, engine: str = "auto", *, settings: Settings | None = None,
               tts_cache: Path | None = None, default_flow: Path | None = None) -> ReplayEnv:
        """Load the speech engine once (the slow part) for all the scenarios to come."""
        settings = settings or Settings.from_env()
        loaded = engine_from_settings(settings, engine, offline=True)
        return cls(engine=loaded, tts_cache=tts_cache or settings.tts_cache,
                   settings=settings, default_flow=default_flow)

    def flow_for(self, scenario: Scenario) -> Any:
        path = scenario.flow or self.default_flow or self.settings.flow_path
        path = Path(path).resolve()
        if path not in self._flows:
            if not path.is_file():
                raise ScenarioError([f"{scenario.path}: no flow file at {path} (give `flow:` "
                                     "in the scenario or --flow)"])
            self._flows[path] = load_flow(path)
        return self._flows[path]

    def renderer_for(self, flow: Any) -> Any:
        key = (getattr(flow, "voice", None), getattr(flow, "rate", None))
        if key not in self._renderers:
            self._renderers[key] = PromptRenderer(self.tts_cache, voice=key[0], rate=key[1],
                                                  render_timeout=self.settings.tts_deadline_s)
        return self._renderers[key]

    def deps_for(self, scenario: Scenario) -> Any:
        flow = self.flow_for(scenario)
        return CallDeps.create(flow, self.engine, self.renderer_for(flow),
                               recorder=self.recorder or NullRecorder(),
                               endpoint=self.settings.endpoint,
                               fallback_queue=self.settings.fallback_queue)

    def close(self) -> None:
        """Stop the renderers' TTS workers."""
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()

    def __enter__(self) -> ReplayEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, scenario: Scenario, *, max_call_s: float = DEFAULT_MAX_CALL_S
            ) -> ReplayResult:
        return replay(scenario, self.deps_for(scenario), max_call_s=max_call_s)
