"""`voicebot demo-data`: a demo database a new user can open the console on (every kind of
call, both variants, survey answers, reviews, calls going on now, a supervisor token), and
one that never mixes with real records."""

from __future__ import annotations

import re

from voicebot.cli import main
from voicebot.records.access import AccessStore
from voicebot.records.browse import CallFilter, list_calls
from voicebot.records.kpi_data import Scope
from voicebot.records.kpis import report
from voicebot.records.store import CallStore

SEEDED = re.compile(r"(\d+) calls over 3 days .* (\d+) reviews, (\d+) calls going on and "
                    r"(\d+) callers waiting now")


def test_demo_data_seeds_a_populated_console(tmp_path, capsys, restore_logging):
    db = tmp_path / "demo.sqlite3"
    assert main(["demo-data", "--db", str(db), "--calls", "60", "--days", "3"]) == 0
    out = capsys.readouterr().out
    calls, reviews, live, waiting = map(int, SEEDED.search(out).groups())
    assert calls == 60 and reviews > 0 and live == 3 and waiting > 0
    token = out.strip().splitlines()[-1]
    store = CallStore(db, "unused: the demo's key is beside the file")
    try:
        [demo] = AccessStore(store.database).active_tokens()
        assert token.startswith("vb_") and demo.role == "supervisor"
        figures = report(store.database, Scope.parse("30d")).to_dict()
        assert figures["calls"] == calls + waiting and figures["in_progress"] == live
        assert figures["contained"] > 0 and figures["handed_over"] > 0
        assert figures["abandoned"] > 0 and figures["csat"]["answers"] > 0
        assert {v["variant"] for v in figures["variants"]} == {"A", "B"}
        reviewed = list_calls(store.database, CallFilter(reviewed="yes"))[1]
        assert reviewed == reviews
    finally:
        store.close()

    assert main(["demo-data", "--db", str(db), "--calls", "5", "--days", "3"]) == 2
    assert f"already holds {calls + waiting + live} calls: demo calls go into a database " \
        "of their own" in capsys.readouterr().err
