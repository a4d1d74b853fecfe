"""The console through the running service, on both backends: its session cookie, CSRF,
what each role may open, readable error pages, escaping of what callers said, and the audit
of every read of a call's contents. (tests/service/test_console_browser.py drives it in a
real browser.)"""

from __future__ import annotations

import pytest
from flask import Flask
from markupsafe import escape

from tests.service.console_client import ConsoleUser, make_token, write_call
from voicebot.records.access import AccessStore
from voicebot.records.reviews import ReviewStore
from voicebot.service.console.access import configure

HOSTILE_HEARD = "<script>document.title='pwned'</script>"
HOSTILE_SUMMARY = '"><img src=x onerror="alert(1)">'


@pytest.fixture(scope="module")
def tokens(shared_service) -> dict[str, str]:
    return {role: make_token(shared_service, role, f"console-{role}")
            for role in ("agent", "supervisor")}


@pytest.fixture
def supervisor(shared_service, tokens) -> ConsoleUser:
    user = ConsoleUser(shared_service.base_url)
    assert user.log_in(tokens["supervisor"]).status_code == 302
    return user


def audit_actions(service, call_sid: str) -> list[tuple[str, str]]:
    assert service.store.flush(5)
    entries = AccessStore(service.store.store.database).audit_entries(call_sid=call_sid)
    return sorted((e.action, e.actor) for e in entries)


def test_the_login_sets_a_safe_cookie_and_a_revoked_token_ends_the_session(shared_service):
    user = ConsoleUser(shared_service.base_url)
    first = user.get("/console/calls")
    assert first.status_code == 302 and "/console/login?next=/console/calls" in \
        first.headers["Location"]
    wrong = user.http.post(shared_service.base_url + "/console/login",
                           data={"csrf_token": user.csrf(), "token": "vb_not-a-token"})
    assert wrong.status_code == 401 and "not known here, or it was revoked" in wrong.text
    token = make_token(shared_service, "supervisor", "console-leaver")
    done = user.log_in(token)
    assert done.status_code == 302 and done.headers["Location"].endswith("/console/")
    cookie = done.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert token not in cookie  # only who, never the token
    assert user.get("/console/calls").status_code == 200

    AccessStore(shared_service.store.store.database).revoke_token("console-leaver")
    shared_service.service.auth.refresh()  # what every host sees within seconds
    after = user.get("/console/calls")
    assert after.status_code == 302 and "/console/login" in after.headers["Location"]

    https = Flask("x")
    configure(https, b"k", "https://bot.example.com")
    assert https.config["SESSION_COOKIE_SECURE"]


def test_forms_need_their_csrf_token_and_this_origin(shared_service, supervisor):
    write_call(shared_service, "CAcsrf", waiting=False)
    path = "/console/calls/CAcsrf/review"
    missing = supervisor.post(path, {"verdict": "handled_well"})
    assert missing.status_code == 400 and "expired or did not come from this console" in \
        missing.text
    good = supervisor.csrf("/console/calls/CAcsrf")
    elsewhere = supervisor.post(path, {"verdict": "handled_well", "csrf_token": good},
                                headers={"Origin": "https://evil.example"})
    assert elsewhere.status_code == 400 and "sent from another site" in elsewhere.text
    assert ReviewStore(shared_service.store.store.database).for_call("CAcsrf") == []
    bad_verdict = supervisor.post(path, {"verdict": "great", "csrf_token": good})
    assert bad_verdict.status_code == 400 and "unknown verdict" in bad_verdict.text
    saved = supervisor.post(path, {"verdict": "misheard", "note": "said 4512, heard 4518",
                                   "csrf_token": good},
                            headers={"Origin": shared_service.base_url})
    assert saved.status_code == 302
    [review] = ReviewStore(shared_service.store.store.database).for_call("CAcsrf")
    assert (review.verdict, review.reviewer, review.note) == (
        "misheard", "console-supervisor", "said 4512, heard 4518")


def test_an_agent_sees_the_queues_but_not_calls_reviews_or_kpis(shared_service, tokens):
    write_call(shared_service, "CAagent1", summary="First in line.", heard="my order")
    write_call(shared_service, "CAagent2", summary="Second in line.", heard="refund")
    agent = ConsoleUser(shared_service.base_url)
    assert agent.log_in(tokens["agent"]).status_code == 302
    live = agent.get("/console/")
    assert live.status_code == 200
    assert "First in line." in live.text and "Second in line." not in live.text
    for path in ("/console/calls", "/console/calls/CAagent1", "/console/review",
                 "/console/kpis", "/console/calls/CAagent1/scenario.yaml"):
        page = agent.get(path)
        assert page.status_code == 403, path
        assert "<h1>Not for your role</h1>" in page.text
        assert "The agent role may not open this page: it needs supervisor or admin" in page.text
    refused = agent.post("/console/calls/CAagent1/review",
                         {"verdict": "handled_well", "csrf_token": agent.csrf("/console/")})
    assert refused.status_code == 403
    assert "KPIs</a>" not in live.text  # the menu shows what the role may open


def test_what_callers_said_is_escaped_on_every_page(shared_service, supervisor):
    write_call(shared_service, "CAhostile", heard=HOSTILE_HEARD, summary=HOSTILE_SUMMARY,
               slots={"order_number": "<b>4512</b>"})
    csrf = supervisor.csrf("/console/calls/CAhostile")
    supervisor.post("/console/calls/CAhostile/review",
                    {"verdict": "other", "note": "<script>alert('note')</script>",
                     "csrf_token": csrf})
    for path in ("/console/calls/CAhostile", "/console/", "/console/live/part",
                 "/console/calls", "/console/review"):
        page = supervisor.get(path)
        assert page.status_code == 200, path
        for raw in (HOSTILE_HEARD, HOSTILE_SUMMARY, "<b>4512</b>", "<script>alert"):
            assert raw not in page.text, (path, raw)
        assert "Content-Security-Policy" in page.headers and \
            "script-src 'self'" in page.headers["Content-Security-Policy"]
    call_page = supervisor.get("/console/calls/CAhostile").text
    assert str(escape(HOSTILE_HEARD)) in call_page
    assert "&lt;script&gt;alert(&#39;note&#39;)&lt;/script&gt;" in call_page
    live = supervisor.get("/console/").text
    assert str(escape(HOSTILE_SUMMARY)) in live and "&lt;b&gt;4512&lt;/b&gt;" in live


def test_missing_pages_and_calls_are_pages_a_person_can_read(shared_service, supervisor):
    no_call = supervisor.get("/console/calls/CAnothere")
    assert no_call.status_code == 404 and "There is no call CAnothere in the records" in \
        no_call.text and no_call.headers["Content-Type"].startswith("text/html")
    no_page = supervisor.get("/console/dashbord")
    assert no_page.status_code == 404 and "There is no console page at /console/dashbord" in \
        no_page.text
    home = supervisor.get("/")
    assert home.status_code == 302 and home.headers["Location"].endswith("/console/")
    api = supervisor.get("/calls/CAnothere")  # the records API stays JSON
    assert api.status_code == 401 and api.json()["status"] == 401


def test_reading_downloading_and_reviewing_a_call_are_audited(shared_service, supervisor):
    write_call(shared_service, "CAaudit", heard="billing please")
    supervisor.get("/console/calls/CAaudit")
    scenario = supervisor.get("/console/calls/CAaudit/scenario.yaml")
    assert scenario.status_code == 200
    assert scenario.headers["Content-Disposition"] == 'attachment; filename="CAaudit.yaml"'
    assert 'the bot heard "billing please"' in scenario.text
    assert "outcome: transfer" in scenario.text
    supervisor.post("/console/calls/CAaudit/review",
                    {"verdict": "handled_well", "csrf_token": supervisor.csrf("/console/")})
    supervisor.get("/console/")
    supervisor.get("/console/live/part")  # the refresh: no second entry for the same call
    assert audit_actions(shared_service, "CAaudit") == [
        ("export_scenario", "console-supervisor"), ("live_view", "console-supervisor"),
        ("read_call", "console-supervisor"), ("review_call", "console-supervisor")]
    assert supervisor.get("/console/calls?reviewed=handled_well").text.count(
        'data-call="CAaudit"') == 1
