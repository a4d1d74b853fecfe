"""`voicebot report`: the line's KPIs over a period, offline from the call records (the same
figures as the console's KPI page: voicebot.records.kpis).

    voicebot report [--since 7d] [--until T] [--flow NAME] [--version V] [--variant X]
                    [--json | --html FILE] [--db FILE_OR_URL]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from voicebot import logs
from voicebot.records.database import Database
from voicebot.records.kpi_data import Scope
from voicebot.records.kpis import Kpis, report
from voicebot.records.opening import open_database
from voicebot.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    """Add `voicebot report` to the `voicebot` parser."""
    p = sub.add_parser(
        "report", help="the line's KPIs over a period (containment, hand-overs, CSAT, ...)",
        description="Containment, hand-overs by reason and node, no-match and no-input per "
                    "node, handling time, queue wait, turn gaps, confidence, repeat callers, "
                    "CSAT, per flow version and per variant (with a significance test), from "
                    "the call records: the console's KPI page, offline.")
    add_scope_arguments(p)
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the figures as JSON")
    out.add_argument("--html", type=Path, metavar="FILE",
                     help="write the KPI page, with its charts, to FILE (one file, no links)")
    p.add_argument("--db", help="a SQLite file or postgresql:// URL of call records "
                                "(default: VOICEBOT_DATABASE_URL, else VOICEBOT_DB)")
    p.set_defaults(func=cmd_report)


def add_scope_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", default="7d",
                   help="calls started since: 7d, 24h, 30m, 2w or an ISO date/time "
                        "(default 7d)")
    p.add_argument("--until", default=None, help="... and before (default: now)")
    p.add_argument("--flow", default="", help="only this flow (its name)")
    p.add_argument("--version", default="", help="only this version of the flow")
    p.add_argument("--variant", default="", help="only this variant of the flow")


@contextlib.contextmanager
def records_database(db: str | None) -> Iterator[Database]:
    """The call records' database from the settings (or `--db`), at this code's schema."""
    settings = Settings.from_env()
    logs.configure(settings.log_level, "text")  # waiting for the database is logged
    if db:
        field = "database_url" if db.startswith(("postgres://", "postgresql")) else "db_path"
        settings = dataclasses.replace(settings, **{field: db if field == "database_url"
                                                    else Path(db)})
    database = open_database(settings)
    try:
        yield database
    finally:
        database.close()


def cmd_report(args: argparse.Namespace) -> int:
    scope = Scope.parse(args.since, args.until, flow=args.flow, version=args.version,
                        variant=args.variant)
    with records_database(args.db) as db:
        kpis = report(db, scope)
    if args.json:
        print(json.dumps(kpis.to_dict(), indent=2))
    elif args.html:
        from voicebot.service.console.report_page import write_report

        write_report(kpis, args.html)
        print(f"wrote {args.html}")
    else:
        print(text_report(kpis))
    return 0


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _num(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:g}{unit}"


def text_report(kpis: Kpis) -> str:
    s, f = kpis.scope, kpis.figures
    where = ", ".join(f"{k} {v}" for k, v in (("flow", s.flow), ("version", s.version),
                                              ("variant", s.variant)) if v)
    lines = [f"calls started {s.since} to {s.until}" + (f" ({where})" if where else ""),
             f"  calls              {f['calls']} finished, {f['in_progress']} in progress"]
    if not f["calls"]:
        return "\n".join(lines + ["  no finished calls in this period"])
    reasons = ", ".join(f"{r} {v['calls']}" for r, v in f["handovers_by_reason"].items())
    bot, wait, gap = f["bot_time_s"], f["queue_wait_s"], f["turn_gap_ms"]
    conf, rep, csat = f["confidence"], f["repeat_callers"], f["csat"]
    lines += [
        f"  contained          {f['contained']}  {_pct(f['containment'])}",
        f"  handed over        {f['handed_over']}  {_pct(f['handover_rate'])}"
        + (f"  ({reasons})" if reasons else ""),
        f"  abandoned          {f['abandoned']}  {_pct(f['abandon_rate'])}",
        f"  bot handling time  mean {_num(bot['mean'], ' s')}, p50 {_num(bot['p50'], ' s')}, "
        f"p95 {_num(bot['p95'], ' s')}",
        f"  queue wait         p50 {_num(wait['p50'], ' s')}, p95 {_num(wait['p95'], ' s')} "
        f"({wait['n']} taken by an agent)",
        f"  turn gap           p50 {_num(gap['p50'], ' ms')}, p95 {_num(gap['p95'], ' ms')} "
        f"({gap['n']} turns)",
        f"  confidence         mean {_num(conf['mean'])}; under 0.5: "
        f"{_pct(conf['below_half'])} of {conf['turns']} spoken turns",
        f"  repeat callers     {rep['repeated']} of {rep['calls']} calls "
        f"({_pct(rep['rate'])}) called again within {rep['window_days']} days",
        f"  CSAT               mean {_num(csat['mean'])}, {_pct(csat['satisfied'])} "
        f"satisfied (4-5) of {csat['answers']} answers",
    ]
    lines += _table("hand-overs per node", ("node", "calls", "reasons"),
                    [(node, v["calls"], ", ".join(f"{r} {k}" for r, k in v["reasons"].items()))
                     for node, v in f["handovers_by_node"].items()])
    lines += _table("turns per node", ("node", "turns", "no match", "low conf.", "no input"),
                    [(node, v["turns"], _pct(v["no_match_rate"]),
                      _pct(v["low_confidence_rate"]), _pct(v["no_input_rate"]))
                     for node, v in f["nodes"].items()])
    lines += _table("per flow version", ("flow", "version", "calls", "containment"),
                    [(v["flow"], v["version"], v["calls"], _pct(v["containment"]))
                     for v in f["by_version"]])
    lines += _table("variants", ("flow", "variant", "calls", "containment"),
                    [(v["flow"], v["variant"], v["calls"], _pct(v["containment"]))
                     for v in f["variants"]])
    lines += [f"  {v['versus']['text']}" for v in f["variants"] if v["versus"]]
    return "\n".join(lines)


def _table(title: str, head: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    if not rows:
        return []
    cells = [tuple(str(c) for c in head)] + [tuple(str(c) for c in row) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]
    out = ["", title]
    out += ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in cells]
    return out
