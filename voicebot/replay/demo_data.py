"""A demo database: weeks of made-up calls of every outcome (voicebot.replay.demo_calls) on
a flow with a survey and two variants, agents taking callers from the queues, supervisors'
reviews, and a few calls going on and callers waiting right now, so a new user sees a
populated console (`voicebot demo-data`) and the README's screenshots have something to
show. Written through the store's API like real calls, then given their times.
"""

from __future__ import annotations

import random
import secrets
import time
from dataclasses import dataclass

from voicebot.flow.model import Flow
from voicebot.records.backdate import set_times
from voicebot.records.reviews import ReviewStore
from voicebot.records.store import CallStore
from voicebot.records.transcript import CallTranscript
from voicebot.replay.demo_calls import PLANS, PLANS_B, bot_seconds, simulate

REVIEWER = "demo-supervisor"
NOTES = {
    "handled_well": ["Quick and clear.", "", "Caller got the status first time."],
    "handover_sooner": ["Two reprompts before the hand-over; one would do.",
                        "Asked for a person in other words first."],
    "misheard": ["Order number misheard; confirmation caught it.",
                 "Menu answer heard with low confidence: check the grammar."],
    "wrong_answer": ["The caller wanted opening hours, which the flow cannot answer."],
    "other": ["Line noise throughout."],
}


@dataclass(frozen=True)
class DemoSummary:
    calls: int
    live: int
    waiting: int
    reviews: int


def seed_demo(store: CallStore, flow: Flow, *, calls: int = 400, days: int = 14,
              seed: int = 7, now: float | None = None) -> DemoSummary:
    """Write `calls` finished calls over the last `days`, reviews of some, and calls going
    on now, into `store`."""
    rng = random.Random(seed)
    now = time.time() if now is None else now
    callers = [f"+1555{rng.randrange(10**6, 10**7)}" for _ in range(max(20, calls * 2))]
    written: list[CallTranscript] = []
    for _ in range(calls):
        regulars = callers[: len(callers) // 20]  # some call often (repeat callers)
        caller = rng.choice(regulars if rng.random() < 0.12 else callers)
        started = _business_time(rng, now, days)
        written.append(_finished_call(store, flow, caller, started, rng))
    reviews = _reviews(store, written, rng, now)
    live = sum(_live_call(store, flow, rng, now) for _ in range(3))
    waiting = sum(_waiting_call(store, flow, rng, now, queue) for queue in
                  ("support", "support", "billing"))
    return DemoSummary(calls=len(written), live=live, waiting=waiting, reviews=reviews)


def _business_time(rng: random.Random, now: float, days: int) -> float:
    """A start in the last `days`, mostly in office hours (UTC), never in the future."""
    day = int(now // 86400) - rng.randrange(days)
    hour = rng.choices(range(24), weights=[1] * 7 + [4, 8, 10, 10, 9, 8, 9, 10, 9, 7, 5]
                       + [3, 2, 1, 1, 1, 1])[0]
    return min(now - 3600, day * 86400 + hour * 3600 + rng.uniform(0, 3600))


def _sid(prefix: str = "CA") -> str:
    return prefix + secrets.token_hex(16)


def _write(store: CallStore, flow: Flow, caller: str, transcript: CallTranscript, *,
           ended: bool) -> None:
    store.open_call(transcript.call_sid, from_number=caller, flow_name=flow.name,
                    flow_version=flow.version, variant=transcript.flow_variant)
    store.save(transcript, from_number=caller, ended=ended)


def _simulated(store: CallStore, flow: Flow, caller: str, rng: random.Random,
               kind: str | None = None) -> CallTranscript:
    variant = flow.assign_variant(store.caller_hash(caller))
    plans = PLANS_B if variant == "B" else PLANS
    kind = kind or rng.choices(list(plans), weights=list(plans.values()))[0]
    return simulate(flow.variant_named(variant), kind, _sid(), rng)


def _finished_call(store: CallStore, flow: Flow, caller: str, started: float,
                   rng: random.Random) -> CallTranscript:
    t = _simulated(store, flow, caller, rng)
    _write(store, flow, caller, t, ended=True)
    ended = started + bot_seconds(t)
    taken = None
    if t.outcome == "transfer":
        store.mark_enqueued(t.call_sid, t.queue or flow.fallback_queue,
                            summary_if_undecided="")
        if rng.random() < 0.85:  # an agent took the caller; else they gave up waiting
            wait = rng.choice([rng.uniform(8, 90), rng.uniform(60, 420)])
            store.record_handoff(_sid(), t.call_sid, _sid("QU"), int(wait))
            taken = ended + wait
    store.close_call(t.call_sid, "completed")
    set_times(store.database, t.call_sid, started=started, ended=ended,
              enqueued=ended if t.outcome == "transfer" else None, taken=taken)
    return t


def _verdict(t: CallTranscript, rng: random.Random) -> str:
    if t.reason in ("no_match", "low_confidence"):
        return rng.choice(["misheard", "handover_sooner"])
    if t.reason == "no_input" or t.reason == "caller_hangup":
        return rng.choice(["handover_sooner", "other"])
    if any(r.result == "no_match" for r in t.turns):
        return "wrong_answer"
    return "handled_well"


def _reviews(store: CallStore, written: list[CallTranscript], rng: random.Random,
             now: float) -> int:
    reviews = ReviewStore(store.database)
    chosen = rng.sample(written, k=min(len(written), max(3, len(written) // 12)))
    for t in chosen:
        verdict = _verdict(t, rng)
        reviews.add(t.call_sid, reviewer=REVIEWER, role="supervisor", verdict=verdict,
                    note=rng.choice(NOTES[verdict]))
    return len(chosen)


def _live_call(store: CallStore, flow: Flow, rng: random.Random, now: float) -> int:
    """A call the bot is on now: the first turns of an order-status call."""
    caller = f"+1555{rng.randrange(10**6, 10**7)}"
    t = _simulated(store, flow, caller, rng, "hang_up")  # cut where the caller is asked
    t.outcome = t.reason = None
    _write(store, flow, caller, t, ended=False)
    set_times(store.database, t.call_sid, started=now - rng.uniform(20, 150),
              updated=now - rng.uniform(1, 8))
    return 1


def _waiting_call(store: CallStore, flow: Flow, rng: random.Random, now: float,
                  queue: str) -> int:
    """A caller handed over a little while ago, waiting for an agent of `queue`."""
    caller = f"+1555{rng.randrange(10**6, 10**7)}"
    kind = "billing" if queue == "billing" else rng.choice(["keyword", "no_match",
                                                            "order_missing"])
    t = _simulated(store, flow, caller, rng, kind)
    _write(store, flow, caller, t, ended=True)
    store.mark_enqueued(t.call_sid, t.queue or queue, summary_if_undecided="")
    ended = now - rng.uniform(15, 240)
    set_times(store.database, t.call_sid, started=ended - bot_seconds(t), ended=ended,
              enqueued=ended)
    return 1
