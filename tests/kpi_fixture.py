"""Calls whose KPIs were counted by hand (HAND_COUNTED), written through the store's API
with the times set afterwards, so the KPI tests (and the console's browser test) compare
what the code computes with what a person worked out on paper.

The period is the first week of March 2025. Eight calls finish in it (variants A and B of
flow support 1.0), one is still in progress, one is before it; a caller of the period calls
again two days after it, which makes a repeat within seven days.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voicebot.records.backdate import set_times
from voicebot.records.database import from_iso
from voicebot.records.store import CallStore
from voicebot.records.transcript import CallTranscript, TurnRecord

SINCE, UNTIL = "2025-03-01T00:00:00Z", "2025-03-08T00:00:00Z"
DAY = 86400.0
T0 = from_iso(SINCE)

# node, kind, result, confidence, gap in ms (end of turn -> first bot audio; None: none)
Turn = tuple[str, str, str, float | None, float | None]


@dataclass
class Call:
    sid: str
    variant: str | None
    caller: str | None
    start: float  # days after SINCE
    bot_s: float | None  # None: still in progress
    outcome: str | None
    reason: str | None
    path: list[str]
    turns: list[Turn] = field(default_factory=list)
    csat: int | None = None
    queue: str | None = None
    wait_s: float | None = None  # taken by an agent after this long


CALLS = [
    Call("CA1", "A", "+15550001", 0.42, 60, "hangup", "completed",
         ["main_menu", "ask_order_number", "find_order", "order_status", "goodbye"],
         [("main_menu", "speech", "matched", 0.9, 300),
          ("ask_order_number", "dtmf", "collected", None, 200)], csat=5),
    Call("CA2", "A", "+15550002", 0.46, 30, "transfer", "keyword", ["main_menu"],
         [("main_menu", "speech", "escape", 0.8, 400)], queue="support", wait_s=20),
    Call("CA3", "B", "+15550003", 1.375, 45, "transfer", "no_match", ["main_menu"],
         [("main_menu", "speech", "no_match", 0.6, 500),
          ("main_menu", "speech", "no_match", 0.7, 600)], queue="support"),
    Call("CA4", "B", "+15550001", 2.5, 90, "hangup", "completed",
         ["main_menu", "anything_else", "goodbye"],
         [("main_menu", "dtmf", "matched", None, 100),
          ("anything_else", "no_input", "no_input", None, 250)], csat=4),
    Call("CA5", "B", "+15550004", 2.6, 20, "hangup", "caller_hangup", ["main_menu"],
         [("main_menu", "speech", "low_confidence", 0.3, 350)]),
    Call("CA6", "A", None, 3.5, 50, "transfer", "dtmf", ["main_menu"],
         [("main_menu", "dtmf", "escape", None, 150)], queue="support", wait_s=40),
    Call("CA7", "B", "+15550005", 4.5, 70, "hangup", "completed", ["main_menu", "goodbye"],
         [("main_menu", "speech", "matched", 0.95, 320)], csat=2),
    Call("CA8", "A", "+15550006", 5.5, 40, "transfer", "flow", ["main_menu", "to_billing"],
         [("main_menu", "speech", "matched", 0.55, 280)], queue="billing", wait_s=60),
    # not counted: in progress, before the period, after it (a repeat of CA7's caller)
    Call("CA9", "A", "+15550007", 6.9, None, None, None, ["main_menu"],
         [("main_menu", "speech", "no_match", 0.2, 100)]),
    Call("CA0", "A", "+15550002", -1.0, 30, "hangup", "completed", ["main_menu", "goodbye"]),
    Call("CA10", "B", "+15550005", 9.0, 30, "hangup", "completed", ["main_menu", "goodbye"]),
]

HAND_COUNTED = {
    "calls": 8, "in_progress": 1, "contained": 3, "handed_over": 4, "abandoned": 1,
    "containment": 0.375, "handover_rate": 0.5, "abandon_rate": 0.125,
    "handovers_by_reason": {"keyword": {"calls": 1, "rate": 0.125},
                            "no_match": {"calls": 1, "rate": 0.125},
                            "dtmf": {"calls": 1, "rate": 0.125},
                            "flow": {"calls": 1, "rate": 0.125}},
    "handovers_by_node": {"main_menu": {"calls": 3, "reasons": {"keyword": 1, "no_match": 1,
                                                                "dtmf": 1}},
                          "to_billing": {"calls": 1, "reasons": {"flow": 1}}},
    "nodes": {
        "anything_else": {"turns": 1, "no_match": 0, "low_confidence": 0, "no_input": 1,
                          "no_match_rate": 0.0, "low_confidence_rate": 0.0,
                          "no_input_rate": 1.0},
        "ask_order_number": {"turns": 1, "no_match": 0, "low_confidence": 0, "no_input": 0,
                             "no_match_rate": 0.0, "low_confidence_rate": 0.0,
                             "no_input_rate": 0.0},
        "main_menu": {"turns": 9, "no_match": 2, "low_confidence": 1, "no_input": 0,
                      "no_match_rate": 0.2222, "low_confidence_rate": 0.1111,
                      "no_input_rate": 0.0},
    },
    # 20 30 40 45 50 60 70 90: mean 50.625, median (45+50)/2, p95 at rank 6.65: 70 + .65*20
    "bot_time_s": {"n": 8, "mean": 50.6, "p50": 47.5, "p95": 83.0},
    # 20 40 60: p95 at rank 1.9: 40 + .9*20
    "queue_wait_s": {"n": 3, "mean": 40.0, "p50": 40.0, "p95": 58.0},
    # 100 150 200 250 280 300 320 350 400 500 600: sum 3450 / 11; p95 at rank 9.5
    "turn_gap_ms": {"n": 11, "mean": 314.0, "p50": 300.0, "p95": 550.0},
    # .3 .55 .6 .7 .8 .9 .95: sum 4.8 / 7
    "confidence": {"turns": 7, "mean": 0.686, "bins": [0, 0, 0, 1, 0, 1, 1, 1, 1, 2],
                   "below_half": 0.1429},
    # seven calls with a caller; CA1's caller calls again (CA4), CA7's too (CA10)
    "repeat_callers": {"window_days": 7, "calls": 7, "repeated": 2, "rate": 0.2857},
    "csat": {"answers": 3, "mean": 3.67, "satisfied": 0.6667,
             "scores": {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}},
    "by_version": [{"flow": "support", "version": "1.0", "calls": 8, "contained": 3,
                    "containment": 0.375, "handed_over": 4, "handover_rate": 0.5}],
}
# A: CA1 contained, CA2 CA6 CA8 handed over; B: CA4 CA7 contained, CA3 handed over, CA5 not
VARIANTS = {"A": (4, 1), "B": (4, 2)}


def transcript(call: Call) -> CallTranscript:
    turns = []
    for i, (node, kind, result, confidence, gap_ms) in enumerate(call.turns):
        t_end = 5.0 + 6.0 * i
        turns.append(TurnRecord(
            node=node, kind=kind, heard="" if kind == "no_input" else f"turn {i}",
            confidence=confidence, t_start=t_end - 1.0, t_end=t_end, result=result,
            t_reply=None if gap_ms is None else t_end + gap_ms / 1000.0))
    return CallTranscript(call_sid=call.sid, flow_name="support", flow_version="1.0",
                          engine="test", turns=turns, path=list(call.path),
                          outcome=call.outcome, reason=call.reason, queue=call.queue,
                          summary=f"summary of {call.sid}", csat=call.csat,
                          flow_variant=call.variant)


def seed(store: CallStore) -> None:
    """Write every call of CALLS into `store`, at its times."""
    for call in CALLS:
        store.open_call(call.sid, from_number=call.caller, flow_name="support",
                        flow_version="1.0", variant=call.variant)
        store.save(transcript(call), from_number=call.caller, ended=call.bot_s is not None)
        started = T0 + call.start * DAY
        ended = None if call.bot_s is None else started + call.bot_s
        taken = None
        if call.outcome == "transfer":
            store.mark_enqueued(call.sid, call.queue or "support", summary_if_undecided="")
            store.close_call(call.sid, "completed")
            if call.wait_s is not None:
                store.record_handoff(f"AG{call.sid}", call.sid, "QU1", int(call.wait_s))
                taken = (ended or started) + call.wait_s
        elif call.bot_s is not None:
            store.close_call(call.sid, "completed")
        set_times(store.database, call.sid, started=started, ended=ended,
                  enqueued=ended if call.outcome == "transfer" else None, taken=taken)
