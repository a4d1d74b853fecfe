"""/metrics after real calls through the running service (both backends): what the edges
of a call emit (the timed driver: calls, turns, turn gaps; the engine: decode times), the
routes' refused signatures, and the queue lengths read from the shared database."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.engines import FaultInjectionEngine
from tests.service.conftest import dtmf
from tests.service.console_client import write_call

pytestmark = pytest.mark.slow  # calls in real time against a live service


def scrape(service) -> dict[tuple[str, tuple], float]:
    text = requests.get(service.base_url + "/metrics", timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_count_what_calls_do(shared_service, say):
    spoken = shared_service.standin().run([say("billing")])
    keyed = shared_service.standin().run([dtmf("0")])
    assert (spoken.transcript.reason, keyed.transcript.reason) == ("flow", "dtmf")
    turn = spoken.transcript.turns[0]  # its reply left after the decode and the render
    assert turn.t_reply > turn.t_end and turn.result == "matched"
    refused = requests.post(shared_service.webhook_url, data={"CallSid": "CAforged"},
                            timeout=10)
    assert refused.status_code == 403
    write_call(shared_service, "CAwaiting", queue="billing")

    m = scrape(shared_service)
    assert m[("voicebot_calls_started_total", (("flow", "support"), ("variant", "")))] == 2
    assert m[("voicebot_calls_ended_total", (("outcome", "transfer"), ("reason", "flow")))] == 1
    assert m[("voicebot_calls_ended_total", (("outcome", "transfer"), ("reason", "dtmf")))] == 1
    assert m[("voicebot_calls_active", ())] == 0
    assert m[("voicebot_turns_total", (("node", "main_menu"), ("result", "matched")))] == 1
    assert m[("voicebot_turns_total", (("node", "main_menu"), ("result", "escape")))] == 1
    assert m[("voicebot_turn_gap_seconds_count", ())] == 2
    assert 0 < m[("voicebot_turn_gap_seconds_sum", ())] < 5
    assert m[("voicebot_decode_seconds_count", ())] >= 1  # the spoken turn's decode
    assert m[("voicebot_webhook_signature_failures_total", (("route", "/voice"),))] == 1
    assert m[("voicebot_queue_waiting", (("queue", "billing"),))] == 1
    assert m[("voicebot_records_up", ())] == 1


def test_engine_failures_are_counted_by_stage(start_service, engine, say):
    service = start_service(engine_override=FaultInjectionEngine(engine))
    result = service.standin().run([say("order status")])
    assert (result.transcript.outcome, result.transcript.reason) == ("transfer", "error")
    m = scrape(service)
    failed = {labels: v for (name, labels), v in m.items()
              if name == "voicebot_engine_errors_total"}
    assert failed == {(("stage", "accept"),): 1.0}  # the first audio of the first turn
    assert m[("voicebot_calls_ended_total", (("outcome", "transfer"), ("reason", "error")))] == 1
