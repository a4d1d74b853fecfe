"""Prometheus metrics of the service (`GET /metrics`), with prometheus_client.

Metrics are typed events, as LiveKit Agents does it: the edges that see something happen
emit one (the timed wrapper the WebSocket loop drives each call through, the engine the
calls use, the routes; voicebot.service.metered), and `Metrics.emit` turns each into
Prometheus series. The pure core (flow, session, driver) knows nothing of it.

Series (every host reports its own; counters and histograms add up across hosts):
- voicebot_calls_started_total{flow,variant}, voicebot_calls_ended_total{outcome,reason}
- voicebot_calls_active: calls this process is on now
- voicebot_turns_total{node,result}: what the flow made of each caller turn
- voicebot_turn_gap_seconds: end of a caller's turn to the bot's reply leaving the socket
- voicebot_decode_seconds: how long a turn's end waited for its decode
- voicebot_engine_errors_total{stage}: the speech engine failed (recognizer, accept, ...)
- voicebot_webhook_signature_failures_total{route}: requests refused as not from Twilio
- voicebot_queue_waiting{queue}: callers waiting for a person, read from the shared
  database at each scrape (every host reports the same value: take max(), not sum())

One registry per app (tests run several apps in one process). The service runs as one
process with threads, so no multiprocess collector is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
GAP_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
DECODE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 3.0)


@dataclass(frozen=True)
class CallStarted:
    flow: str
    variant: str | None


@dataclass(frozen=True)
class CallEnded:
    outcome: str
    reason: str


@dataclass(frozen=True)
class TurnTaken:
    node: str
    result: str | None
    gap_s: float | None


@dataclass(frozen=True)
class Decoded:
    seconds: float


@dataclass(frozen=True)
class EngineFailed:
    stage: str  # recognizer | accept | prefetch | peek | finish


@dataclass(frozen=True)
class SignatureRejected:
    route: str


MetricEvent = CallStarted | CallEnded | TurnTaken | Decoded | EngineFailed | SignatureRejected


class _QueueCollector(Collector):
    """voicebot_queue_waiting from the shared database, read when scraped."""

    def __init__(self, read: Callable[[], dict[str, int]]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("voicebot_queue_waiting",
                                   "Callers waiting for a person, per queue (shared database)",
                                   labels=["queue"])
        up = GaugeMetricFamily("voicebot_records_up",
                               "1 when the call records answered this scrape")
        try:
            lengths = self._read()
        except Exception:  # noqa: BLE001 - a scrape must not fail because the database did
            up.add_metric([], 0)
        else:
            up.add_metric([], 1)
            for queue, waiting in sorted(lengths.items()):
                family.add_metric([queue], waiting)
        yield family
        yield up


class Metrics:
    """The app's Prometheus registry, fed by typed events (see the module doc)."""

    def __init__(self, queue_lengths: Callable[[], dict[str, int]] | None = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.started = Counter("voicebot_calls_started", "Calls whose stream started",
                               ["flow", "variant"], registry=r)
        self.ended = Counter("voicebot_calls_ended", "Calls ended, by outcome and reason",
                             ["outcome", "reason"], registry=r)
        self.active = Gauge("voicebot_calls_active", "Calls this process is on now",
                            registry=r)
        self.turns = Counter("voicebot_turns", "Caller turns, by node and by what the flow "
                             "made of them", ["node", "result"], registry=r)
        self.turn_gap = Histogram("voicebot_turn_gap_seconds", "End of a caller's turn to "
                                  "the bot's first audio back", buckets=GAP_BUCKETS, registry=r)
        self.decode = Histogram("voicebot_decode_seconds", "How long the end of a turn "
                                "waited for its decode", buckets=DECODE_BUCKETS, registry=r)
        self.engine_errors = Counter("voicebot_engine_errors", "Speech engine failures, by "
                                     "stage", ["stage"], registry=r)
        self.signature_failures = Counter(
            "voicebot_webhook_signature_failures", "Requests refused because Twilio's "
            "signature was missing or wrong", ["route"], registry=r)
        if queue_lengths is not None:
            r.register(_QueueCollector(queue_lengths))

    def emit(self, event: MetricEvent) -> None:
        match event:
            case CallStarted(flow=flow, variant=variant):
                self.started.labels(flow, variant or "").inc()
                self.active.inc()
            case CallEnded(outcome=outcome, reason=reason):
                self.ended.labels(outcome, reason).inc()
                self.active.dec()
            case TurnTaken(node=node, result=result, gap_s=gap):
                self.turns.labels(node, result or "none").inc()
                if gap is not None:
                    self.turn_gap.observe(gap)
            case Decoded(seconds=seconds):
                self.decode.observe(seconds)
            case EngineFailed(stage=stage):
                self.engine_errors.labels(stage).inc()
            case SignatureRejected(route=route):
                self.signature_failures.labels(route).inc()

    def exposition(self) -> bytes:
        """The Prometheus text format of every series."""
        return generate_latest(self.registry)
