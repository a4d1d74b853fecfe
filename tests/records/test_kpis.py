"""The KPIs (voicebot.records.kpis), and `voicebot report`, against calls counted by hand
(tests/kpi_fixture.py), on both backends; the significance test against figures worked out
by hand."""

from __future__ import annotations

import json

import pytest

from tests.kpi_fixture import HAND_COUNTED, SINCE, UNTIL, VARIANTS, seed
from voicebot.cli import main
from voicebot.records.kpi_data import PeriodError, Scope
from voicebot.records.kpis import report
from voicebot.records.stats import compare
from voicebot.records.store import CallStore


@pytest.fixture
def seeded(store_backend, tmp_path):
    where = store_backend.new_location(tmp_path)
    store = CallStore(where, "k")
    seed(store)
    yield store_backend, where, store
    store.close()


def test_the_kpis_are_the_hand_counted_ones(seeded):
    _, _, store = seeded
    figures = report(store.database, Scope(SINCE, UNTIL)).to_dict()
    for key, expected in HAND_COUNTED.items():
        assert figures[key] == expected, key
    variants = {v["variant"]: (v["calls"], v["contained"]) for v in figures["variants"]}
    assert variants == VARIANTS
    b = figures["variants"][1]["versus"]
    assert b["variant"] == "B" and b["versus"] == "A" and b["difference"] == 0.25
    # 2 of 4 against 1 of 4: too few calls for the normal approximation
    assert b["test"] == "Fisher's exact test" and b["p_value"] == 1.0 and not b["significant"]
    assert [d["day"] for d in figures["by_day"]] == ["2025-03-01", "2025-03-02", "2025-03-03",
                                                     "2025-03-04", "2025-03-05", "2025-03-06"]


def test_a_scope_narrows_to_a_variant(seeded):
    _, _, store = seeded
    only_b = report(store.database, Scope(SINCE, UNTIL, flow="support", variant="B"))
    assert only_b["calls"] == 4 and only_b["contained"] == 2 and only_b["abandoned"] == 1
    assert report(store.database, Scope(SINCE, UNTIL, flow="other"))["calls"] == 0


def test_voicebot_report_prints_the_same_figures(seeded, monkeypatch, capsys, tmp_path,
                                                  restore_logging):
    backend, where, _ = seeded
    for name, value in backend.env(where).items():
        monkeypatch.setenv(name, value)
    assert main(["report", "--since", SINCE, "--until", UNTIL, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {k: printed[k] for k in HAND_COUNTED} == HAND_COUNTED
    assert printed["scope"]["since"] == "2025-03-01T00:00:00.000Z"
    assert main(["report", "--since", SINCE, "--until", UNTIL]) == 0
    text = capsys.readouterr().out
    assert "contained          3  37.5%" in text
    assert "B vs A: +25.0 points, p = 1.000 (Fisher's exact test, alpha 0.05): not " \
           "significant" in text
    html = tmp_path / "kpis.html"  # one file, nothing to fetch, the same figures
    assert main(["report", "--since", SINCE, "--until", UNTIL, "--html", str(html)]) == 0
    written = html.read_text(encoding="utf-8")
    assert 'data-kpi="containment" data-value="0.375"' in written
    assert 'data-kpi="handovers_by_reason.no_match.calls" data-value="1"' in written
    assert written.count("<svg") >= 5 and "<script" not in written and "<link" not in written


def test_a_period_that_cannot_be_read_is_one_clear_error(capsys, restore_logging):
    with pytest.raises(PeriodError, match="'yesterday' is not a period: give 7d"):
        Scope.parse("yesterday")
    assert main(["report", "--since", "2025-03-08", "--until", "2025-03-01"]) == 2
    assert "the period starts (2025-03-08T00:00:00.000Z) after it ends" in \
        capsys.readouterr().err
    assert Scope.parse("7d", now=7 * 86400.0).since == "1970-01-01T00:00:00.000Z"


def test_a_real_difference_in_containment_is_called_significant():
    # 60 of 100 against 40 of 100: pooled .5, se sqrt(.25 * .02) = .0707, z 2.83, p .0047
    test = compare("B", 60, 100, "A", 40, 100)
    assert test.test == "two-proportion z-test" and test.significant
    assert round(test.z, 2) == 2.83 and round(test.p_value, 4) == 0.0047
    # 45 of 100 against 40 of 100: z .72, p .47
    assert not compare("B", 45, 100, "A", 40, 100).significant
    # with three variants, each against the first at 5% / 2
    assert compare("C", 60, 100, "A", 45, 100, comparisons=2).alpha == 0.025
    assert compare("B", 1, 0, "A", 1, 10) is None
