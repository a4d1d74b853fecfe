"""The KPIs of a support line over a period: one module for the console's KPI page and for
`voicebot report`, so both always show the same figures.

Definitions (every rate is over the finished calls of the period, `calls`):
- contained: the bot ended the call with the caller's business done (it reached a goodbye,
  or the caller hung up during the closing survey); handed over: to a person, by reason
  and by the node the caller was at; abandoned: the caller hung up before either.
- per node: the caller turns there and the share that were no match, heard with too little
  confidence, or silence (what the flow made of each turn).
- bot handling time: the call's start to the end of its stream (the bot's part); queue
  wait: how long callers taken by an agent waited (Twilio's QueueTime).
- turn gap: the end of a caller's turn to the bot's first audio back, p50/p95 (the
  service's side; the endpointer's trailing silence comes before it).
- confidence: spoken turns by recognition confidence, in tenths.
- repeat callers: calls whose caller (by keyed hash) called again within 7 days; a
  first-contact-resolution proxy (calls in the last week may still be repeated).
- CSAT: answers to the survey node (1-5): their mean and the share of 4s and 5s.
- per flow version, per variant (containment, with a two-proportion test against the
  first variant, see voicebot.records.stats), and per day.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from voicebot.records.database import Database, now_iso
from voicebot.records.kpi_data import REPEAT_WINDOW_S, CallFacts, Facts, Scope, read_facts
from voicebot.records.stats import compare, mean, percentile, rate

BEFORE_FIRST_NODE = "(before the first node)"
CONFIDENCE_BINS = 10


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _spread(values: list[float], digits: int = 1, scale: float = 1.0) -> dict[str, Any]:
    scaled = [v * scale for v in values]
    return {"n": len(values), "mean": _r(mean(scaled), digits),
            "p50": _r(percentile(scaled, 50), digits), "p95": _r(percentile(scaled, 95), digits)}


@dataclass(frozen=True)
class Kpis:
    """The figures of one report (`to_dict()` is what `voicebot report --json` prints)."""

    scope: Scope
    figures: dict[str, Any]
    generated: str

    def __getitem__(self, key: str) -> Any:
        return self.figures[key]

    def to_dict(self) -> dict[str, Any]:
        return {"scope": self.scope.to_dict(), "generated": self.generated, **self.figures}


def report(db: Database, scope: Scope) -> Kpis:
    """The KPIs of the calls in `scope`, from the database."""
    return compute(read_facts(db, scope), scope)


def compute(facts: Facts, scope: Scope, now: float | None = None) -> Kpis:
    """The KPIs from the facts (pure: the tests give hand-counted facts)."""
    finished = [c for c in facts.calls if c.result != "in_progress"]
    n = len(finished)
    results = Counter(c.result for c in finished)
    kept = {c.call_sid for c in finished}
    turn_facts = [t for t in facts.turns if t.call_sid in kept]
    figures: dict[str, Any] = {
        "calls": n, "in_progress": len(facts.calls) - n,
        **{key: results[key] for key in ("contained", "handed_over", "abandoned")},
        "containment": _r(rate(results["contained"], n)),
        "handover_rate": _r(rate(results["handed_over"], n)),
        "abandon_rate": _r(rate(results["abandoned"], n)),
        "handovers_by_reason": _by_reason(finished, n),
        "handovers_by_node": _by_node(finished),
        "nodes": _nodes(turn_facts),
        "bot_time_s": _spread([c.bot_s for c in finished if c.bot_s is not None]),
        "queue_wait_s": _spread([c.queue_wait_s for c in finished
                                 if c.queue_wait_s is not None]),
        "turn_gap_ms": _spread([t.gap_s for t in turn_facts if t.gap_s is not None],
                               digits=0, scale=1000.0),
        "confidence": _confidence([t.confidence for t in turn_facts
                                   if t.kind == "speech" and t.confidence is not None]),
        "repeat_callers": _repeats(finished, facts.contacts),
        "csat": _csat([c.csat for c in finished if c.csat is not None]),
        "by_version": _by_version(finished),
        "variants": _variants(finished),
        "by_day": _by_day(finished),
    }
    return Kpis(scope, figures, now_iso(time.time() if now is None else now))


def _by_reason(finished: list[CallFacts], n: int) -> dict[str, dict[str, Any]]:
    counts = Counter(c.reason or "?" for c in finished if c.result == "handed_over")
    return {reason: {"calls": k, "rate": _r(rate(k, n))}
            for reason, k in counts.most_common()}


def _by_node(finished: list[CallFacts]) -> dict[str, dict[str, Any]]:
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for c in finished:
        if c.result == "handed_over":
            per[c.last_node or BEFORE_FIRST_NODE][c.reason or "?"] += 1
    rows = {node: {"calls": sum(r.values()), "reasons": dict(r.most_common())}
            for node, r in per.items()}
    return dict(sorted(rows.items(), key=lambda kv: (-kv[1]["calls"], kv[0])))


def _nodes(turn_facts: list[Any]) -> dict[str, dict[str, Any]]:
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for t in turn_facts:
        per[t.node]["turns"] += 1
        if t.result in ("no_match", "low_confidence", "no_input"):
            per[t.node][t.result] += 1
    out = {}
    for node, k in sorted(per.items()):
        out[node] = {"turns": k["turns"], "no_match": k["no_match"],
                     "low_confidence": k["low_confidence"], "no_input": k["no_input"],
                     "no_match_rate": _r(rate(k["no_match"], k["turns"])),
                     "low_confidence_rate": _r(rate(k["low_confidence"], k["turns"])),
                     "no_input_rate": _r(rate(k["no_input"], k["turns"]))}
    return out


def _confidence(values: list[float]) -> dict[str, Any]:
    bins = [0] * CONFIDENCE_BINS
    for v in values:
        bins[min(CONFIDENCE_BINS - 1, max(0, int(v * CONFIDENCE_BINS)))] += 1
    low = sum(1 for v in values if v < 0.5)
    return {"turns": len(values), "mean": _r(mean(values), 3), "bins": bins,
            "below_half": _r(rate(low, len(values)))}


def _repeats(finished: list[CallFacts], contacts: dict[str, list[float]]) -> dict[str, Any]:
    known = [c for c in finished if c.caller_hash]
    repeated = sum(1 for c in known if any(
        c.started < t <= c.started + REPEAT_WINDOW_S for t in contacts.get(c.caller_hash, [])))
    return {"window_days": REPEAT_WINDOW_S // 86400, "calls": len(known),
            "repeated": repeated, "rate": _r(rate(repeated, len(known)))}


def _csat(scores: list[int]) -> dict[str, Any]:
    counts = Counter(scores)
    return {"answers": len(scores), "mean": _r(mean(scores), 2),
            "satisfied": _r(rate(counts[4] + counts[5], len(scores))),
            "scores": {str(s): counts[s] for s in range(1, 6)}}


def _share(group: list[CallFacts]) -> dict[str, Any]:
    contained = sum(1 for c in group if c.result == "contained")
    handed = sum(1 for c in group if c.result == "handed_over")
    return {"calls": len(group), "contained": contained,
            "containment": _r(rate(contained, len(group))), "handed_over": handed,
            "handover_rate": _r(rate(handed, len(group)))}


def _by_version(finished: list[CallFacts]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[CallFacts]] = defaultdict(list)
    for c in finished:
        groups[(c.flow, c.version)].append(c)
    return [{"flow": flow, "version": version, **_share(group)}
            for (flow, version), group in sorted(groups.items())]


def _variants(finished: list[CallFacts]) -> list[dict[str, Any]]:
    """Per flow with variants, each variant's containment, and each against the first."""
    groups: dict[str, dict[str, list[CallFacts]]] = defaultdict(lambda: defaultdict(list))
    for c in finished:
        if c.variant:
            groups[c.flow][c.variant].append(c)
    out = []
    for flow, variants in sorted(groups.items()):
        names = sorted(variants)
        base = _share(variants[names[0]])
        for name in names:
            row = {"flow": flow, "variant": name, **_share(variants[name]), "versus": None}
            if name != names[0]:
                test = compare(name, row["contained"], row["calls"], names[0],
                               base["contained"], base["calls"], comparisons=len(names) - 1)
                row["versus"] = test.to_dict() | {"text": test.describe()} if test else None
            out.append(row)
    return out


def _by_day(finished: list[CallFacts]) -> list[dict[str, Any]]:
    days: dict[str, list[CallFacts]] = defaultdict(list)
    for c in finished:
        days[now_iso(c.started)[:10]].append(c)
    return [{"day": day, **_share(group)} for day, group in sorted(days.items())]
