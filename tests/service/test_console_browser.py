"""The console in a real headless Chromium (Selenium driving Debian's chromium): a
supervisor watches a call placed with the Twilio stand-in come and go on the live page,
opens it, reviews it, downloads it as a scenario and replays that green; the KPI page shows
what `voicebot report --json` computes from the same database (the hand-counted fixture);
an agent is refused the review and KPI pages. On SQLite only: tests/service/test_console.py
checks the same pages over HTTP on both backends."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import By, WebDriverWait, chromium, ec, missing
from tests.kpi_fixture import HAND_COUNTED, SINCE, UNTIL, seed
from tests.service.conftest import RunningService
from tests.service.console_client import make_token
from voicebot.replay.caller import CallerTurn
from voicebot.replay.offline import replay
from voicebot.replay.scenario import load_scenario
from voicebot.speech.audio import load_phone_audio
from voicebot.telephony.driver import CallDeps

pytestmark = pytest.mark.slow  # a browser and a call in real time

WAIT_S = 60  # the longest any page may take to show what it should


@pytest.fixture(scope="module")
def service(tmp_path_factory, engine, renderer) -> Iterator[RunningService]:
    svc = RunningService(tmp_path_factory.mktemp("browser") / "calls.sqlite3",
                         engine=engine, renderer=renderer)
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads) -> Iterator[Any]:
    why = missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(why + " (CI must run the browser tests)")
        pytest.skip(why)
    driver = chromium(downloads=downloads)
    yield driver
    driver.quit()


def log_in(browser: Any, service: RunningService, role: str, path: str = "/console/") -> None:
    """Open `path` as a new person with a `role` token: the console asks for it first."""
    browser.delete_all_cookies()
    browser.get(service.base_url + path)
    assert "/console/login" in browser.current_url
    token = make_token(service, role, f"browser-{role}-{secrets.token_hex(3)}")
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.ID, "login").click()
    WebDriverWait(browser, WAIT_S).until(lambda b: "/console/login" not in b.current_url)


def shown(browser: Any, css: str) -> Any:
    return WebDriverWait(browser, WAIT_S).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def test_a_supervisor_watches_reviews_and_replays_a_call(service, browser, downloads, speech,
                                                         engine, renderer, flow, tmp_path):
    log_in(browser, service, "supervisor", "/console/?every=1")
    assert browser.current_url.endswith("/console/?every=1")
    wav = speech("billing", voice="en-us", speed=150, pad_s=0.3)
    sid = "CA" + secrets.token_hex(16)
    placed: dict[str, Any] = {}
    caller = threading.Thread(target=lambda: placed.update(result=service.standin(
        speed=1.0).run([CallerTurn("say", audio=load_phone_audio(wav), label="billing")],
                       call_sid=sid)))
    caller.start()
    try:  # the page refreshes itself: the call comes, then leaves the bot
        shown(browser, f'#live-calls tr[data-call="{sid}"]')
        WebDriverWait(browser, WAIT_S).until(lambda b: not b.find_elements(
            By.CSS_SELECTOR, f'#live-calls tr[data-call="{sid}"]'))
    finally:
        caller.join(timeout=120)
    transcript = placed["result"].transcript
    assert (transcript.outcome, transcript.reason, transcript.queue) == (
        "transfer", "flow", "billing")

    browser.find_element(By.LINK_TEXT, "Calls").click()
    shown(browser, f'tr[data-call="{sid}"] a').click()
    outcome = shown(browser, "#outcome").text
    assert outcome == "transfer (flow) → billing", outcome
    timeline = browser.find_element(By.ID, "timeline").text
    assert transcript.turns[0].heard in timeline and "Caller" in timeline

    browser.find_element(By.CSS_SELECTOR, 'input[name="verdict"][value="handled_well"]').click()
    browser.find_element(By.ID, "note").send_keys("Straight to billing.")
    browser.find_element(By.ID, "save-review").click()
    assert "Review saved." in shown(browser, ".saved").text
    assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".reviews .verdict")] == [
        "handled well"]

    browser.find_element(By.ID, "download").click()
    scenario = downloads / f"{sid}.yaml"
    WebDriverWait(browser, WAIT_S).until(lambda _: scenario.is_file())
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    shutil.copy(wav, recordings / f"{sid}-turn-1.wav")  # the audio the caller said
    result = replay(load_scenario(scenario, [tmp_path]),
                    CallDeps.create(flow, engine, renderer))
    assert result.passed, [c for c in result.checks if not c.passed]
    assert (result.transcript.outcome, result.transcript.queue) == ("transfer", "billing")


def flatten(figures: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; the list of variants is keyed by variant, as the page
    names them ("variants.B.containment")."""
    out: dict[str, Any] = {}
    for key, value in figures.items():
        if key == "variants" and isinstance(value, list):
            value = {v["variant"]: v for v in value}
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_the_kpi_page_shows_what_voicebot_report_computes(service, browser):
    seed(service.store.store)  # the calls of the first week of March 2025, counted by hand
    printed = subprocess.run(
        [sys.executable, "-m", "voicebot", "report", "--since", SINCE, "--until", UNTIL,
         "--json"], capture_output=True, text=True, timeout=120, check=True,
        env={**os.environ, "PYTHONPATH": os.getcwd(),
             "VOICEBOT_DB": service.settings.db_path.as_posix()})
    report = flatten(json.loads(printed.stdout))
    assert {k: v for k, v in report.items() if k in flatten(HAND_COUNTED)} == \
        flatten(HAND_COUNTED)

    log_in(browser, service, "supervisor", f"/console/kpis?since={SINCE}&until={UNTIL}")
    cards = browser.find_elements(By.CSS_SELECTOR, "[data-kpi]")
    on_page = {c.get_attribute("data-kpi"): json.loads(c.get_attribute("data-value"))
               for c in cards}
    assert len(on_page) >= 15
    assert on_page == {key: report[key] for key in on_page}
    assert on_page["calls"] == 8 and on_page["containment"] == 0.375
    charts = browser.find_elements(By.CSS_SELECTOR, ".charts svg")
    assert len(charts) >= 5 and all(c.size["width"] > 100 for c in charts)


def test_an_agent_cannot_open_the_review_or_kpi_pages(service, browser):
    log_in(browser, service, "agent")
    assert shown(browser, "h1").text == "Live"
    menu = browser.find_element(By.TAG_NAME, "nav").text
    assert "KPIs" not in menu and "Review" not in menu
    for path in ("/console/review", "/console/kpis", "/console/calls"):
        browser.get(service.base_url + path)
        assert browser.find_element(By.TAG_NAME, "h1").text == "Not for your role", path
        assert "The agent role may not open this page" in browser.page_source
