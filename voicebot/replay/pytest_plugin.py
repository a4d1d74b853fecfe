"""Scenario files as pytest tests: `pytest tests/scenarios/` collects every scenario YAML as
a test item and replays it offline, so a scenario suite shows in the same report (and the
same JUnit XML) as the unit tests, with the call's timeline when it fails.

Installed with the package (entry point `pytest11`); a checkout without the installed entry
point loads it with `-p voicebot.replay.pytest_plugin` or `pytest_plugins` in a conftest.
A YAML file is a scenario when it has a top-level `turns:` and no `nodes:` (so flows and
other YAML beside the tests are left alone).

Settings (command line, or ini keys in pytest.ini / pyproject's [tool.pytest.ini_options]):

    --audio-dir DIR / voicebot_audio_dirs   where recordings are also looked for (as
                                            `voicebot replay --audio-dir`); ini paths are
                                            relative to the ini file
    --voicebot-engine / voicebot_engine     recognition engine (default: VOICEBOT_ENGINE)

A conftest may add audio directories made during the run with the hook
`pytest_voicebot_audio_dirs(config)`, called once before the first scenario runs (e.g. to
render the suite's recordings with `voicebot synth`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy
import pytest

_ENGINE_HELP = "recognition engine for scenario files (default: VOICEBOT_ENGINE, else auto)"
_SCENARIO_RE = re.compile(r"^turns\s*:", re.MULTILINE)
_FLOW_RE = re.compile(r"^nodes\s*:", re.MULTILINE)
hookspec = pluggy.HookspecMarker("pytest")


class Hooks:
    @hookspec
    def pytest_voicebot_audio_dirs(self, config: pytest.Config) -> list[Path]:
        """Directories of recordings for the scenario files (made once, when first needed)."""
        return []


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(Hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("voicebot", "voicebot call scenarios")
    group.addoption("--audio-dir", action="append", default=[], metavar="DIR",
                    dest="voicebot_audio_dirs",
                    help="also look for scenario recordings in DIR (repeatable)")
    group.addoption("--voicebot-engine", default=None, metavar="ENGINE", help=_ENGINE_HELP)
    parser.addini("voicebot_audio_dirs", type="paths", default=[],
                  help="directories of scenario recordings (relative to the ini file)")
    parser.addini("voicebot_engine", default="", help=_ENGINE_HELP)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.File | None:
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    try:
        text = file_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if _SCENARIO_RE.search(text) and not _FLOW_RE.search(text):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self):
        yield ScenarioItem.from_parent(self, name=self.path.stem)


class ScenarioFailed(Exception):
    """An expectation did not hold; carries the replay result for the report."""

    def __init__(self, result: Any) -> None:
        super().__init__(result.scenario.name)
        self.result = result


class ScenarioItem(pytest.Item):
    def runtest(self) -> None:
        from voicebot.replay.scenario import load_scenario

        runner = _runner(self.config)
        result = runner.env.run(load_scenario(self.path, audio_dirs=runner.audio_dirs))
        if not result.passed:
            raise ScenarioFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style=None) -> str:
        from voicebot.errors import VoicebotError
        from voicebot.replay.report import timeline

        if isinstance(excinfo.value, ScenarioFailed):
            return timeline(excinfo.value.result)
        if isinstance(excinfo.value, VoicebotError):  # a bad scenario, flow or setting
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario {self.name}"


@dataclass
class _Runner:
    env: Any  # voicebot.replay.offline.ReplayEnv
    audio_dirs: list[Path]


_RUNNER = pytest.StashKey[_Runner]()


def _runner(config: pytest.Config) -> _Runner:
    """One engine and one set of audio directories for every scenario of the run."""
    if _RUNNER in config.stash:
        return config.stash[_RUNNER]
    from voicebot.replay.offline import ReplayEnv
    from voicebot.settings import Settings

    settings = Settings.from_env()
    engine = config.getoption("voicebot_engine") or config.getini("voicebot_engine") \
        or settings.engine
    dirs = [Path(d).resolve() for d in config.getoption("voicebot_audio_dirs")]
    dirs += [Path(d) for d in config.getini("voicebot_audio_dirs")]
    for made in config.hook.pytest_voicebot_audio_dirs(config=config):
        dirs += [Path(d) for d in made]
    env = ReplayEnv.create(engine, settings=settings)
    config.add_cleanup(env.close)
    config.stash[_RUNNER] = _Runner(env, dirs)
    return config.stash[_RUNNER]
