"""The console's list of calls and its review queue (voicebot.records.browse) against the
hand-counted calls of tests/kpi_fixture.py, on both backends."""

from __future__ import annotations

import pytest

from tests.kpi_fixture import SINCE, UNTIL, seed
from voicebot.records.browse import CallFilter, list_calls, review_queue
from voicebot.records.reviews import ReviewStore
from voicebot.records.store import CallStore


@pytest.fixture
def db(store_backend, tmp_path):
    store = CallStore(store_backend.new_location(tmp_path), "k")
    seed(store)
    yield store.database
    store.close()


def sids(db, **narrow) -> list[str]:
    rows, total = list_calls(db, CallFilter(**narrow), per_page=100)
    assert total == len(rows)
    return [r.call_sid for r in rows]


def test_the_list_of_calls_narrows_and_pages(db):
    in_week = dict(since=SINCE, until=UNTIL)
    # newest first: CA9 (day 6.9, still going) ... CA1 (day 0.42)
    assert sids(db, **in_week) == ["CA9", "CA8", "CA7", "CA6", "CA5", "CA4", "CA3", "CA2",
                                   "CA1"]
    assert sids(db, result="handed_over", **in_week) == ["CA8", "CA6", "CA3", "CA2"]
    assert sids(db, result="contained", **in_week) == ["CA7", "CA4", "CA1"]
    assert sids(db, result="abandoned", **in_week) == ["CA5"]
    assert sids(db, result="in_progress") == ["CA9"]
    assert sids(db, reason="keyword") == ["CA2"]
    assert sids(db, variant="B", **in_week) == ["CA7", "CA5", "CA4", "CA3"]
    assert sids(db, queue="billing") == ["CA8"]
    assert sids(db, call_sid="CA1") == ["CA10", "CA1"]  # a prefix
    assert sids(db, call_sid="CA_") == []  # the prefix is literal, not a LIKE pattern
    assert sids(db, result="no such result") == []
    page, total = list_calls(db, CallFilter(**in_week), page=2, per_page=4)
    assert total == 9 and [r.call_sid for r in page] == ["CA5", "CA4", "CA3", "CA2"]
    [ca3] = list_calls(db, CallFilter(call_sid="CA3"))[0]
    assert (ca3.turns, ca3.duration_s, ca3.variant, ca3.queue) == (2, 45.0, "B", "support")


def test_the_review_queue_holds_the_calls_worth_a_look_until_reviewed(db):
    queue = review_queue(db, since=SINCE)
    # CA5: heard at 0.30 and hung up mid-flow; CA3: two no-matches at the menu; the rest
    # were heard at 0.55 or better, failed at most once per node, and all under 3 minutes
    assert [(w.call.call_sid, w.why) for w in queue] == [
        ("CA5", ("heard with confidence 0.30", "caller hung up mid-flow")),
        ("CA3", ("2 failed turns at main_menu",))]
    ReviewStore(db).add("CA5", reviewer="sam", role="supervisor", verdict="misheard")
    assert [w.call.call_sid for w in review_queue(db, since=SINCE)] == ["CA3"]
    assert sids(db, reviewed="misheard") == ["CA5"]
    assert "CA5" not in sids(db, reviewed="no") and sids(db, reviewed="yes") == ["CA5"]
