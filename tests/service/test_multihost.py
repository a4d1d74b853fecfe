"""One support line on three hosts: `voicebot serve` x3 on loopback, one PostgreSQL, nginx in
front (deploy/nginx.conf: least connections, round-robin among equals). The stand-in plays
Twilio through the load balancer, so a call's webhook, stream, <Connect> action and agent
requests land on different instances; then one instance is killed with SIGKILL mid-call
and each of its callers must still reach a person, with what they had said.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator

import pytest
import requests

from tests.backends import TEST_CIPHER
from tests.multihost import API_TOKEN, AUTH_TOKEN, HASH_KEY, Hosts
from tests.service.conftest import dtmf
from tests.waiting import wait_until
from voicebot.records.store import CallStore
from voicebot.replay.standin import StandinResult, TwilioStandin, new_sid

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hosts(postgres, tmp_path_factory) -> Iterator[Hosts]:
    if shutil.which("nginx") is None:
        pytest.fail("nginx is not installed: `apt-get install nginx` (scripts/setup.sh does)")
    with Hosts(postgres, 3, tmp_path_factory.mktemp("hosts"),
               env={"VOICEBOT_WARM_RECOGNIZERS": "2"}) as running:
        yield running


def _standin(hosts: Hosts, speed: float) -> TwilioStandin:
    return TwilioStandin(hosts.lb_url + "/voice", auth_token=AUTH_TOKEN, api_token=API_TOKEN,
                         speed=speed, post_status=False, max_call_s=90)


def _get_json(url: str) -> dict:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {API_TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _one(instances: set[int]) -> int:
    assert len(instances) == 1, instances
    return next(iter(instances))


def _brief_and_take(hosts: Hosts, standin: TwilioStandin, agent_sid: str,
                    via: str | None = None) -> tuple[str, str]:
    """An agent dials the support queue (through the load balancer unless `via` names an
    instance) and takes the caller it was briefed about: (what the agent heard, the
    caller's CallSid or "")."""
    path, params = "/agent?queue=support", standin.call_params(agent_sid, "in-progress")
    if via is None:
        status, body = standin.post(hosts.lb_url + path, params)
    else:  # Twilio signs the public URL whichever instance the request then reaches
        resp = requests.post(via + path, data=params, timeout=10,
                             headers=standin.sign(hosts.lb_url + path, params))
        status, body = resp.status_code, resp.text
    assert status == 200
    said = ET.fromstring(body).find("Say").text
    events = [e for i in hosts.instances for e in i.events()
              if e.get("event") == "agent.dial_queue" and e.get("call_sid") == agent_sid]
    caller = events[-1].get("briefed_call_sid") or ""
    if caller:  # Twilio bridges them: the <Queue url> request for the caller's leg
        standin.post(hosts.lb_url + "/agent/whisper",
                     {**standin.call_params(caller, "in-progress"),
                      "DequeingCallSid": agent_sid, "QueueSid": "QU1", "QueueTime": "9"})
    return said, caller


def test_a_calls_steps_land_on_different_hosts_and_any_host_knows_the_call(hosts):
    standin = _standin(hosts, speed=4)
    result = standin.run([dtmf("1"), dtmf("0")])  # order status, then "a person"
    sid, t = result.call_sid, result.transcript
    assert (t.outcome, t.reason, t.queue) == ("transfer", "dtmf", "support")
    assert "<Enqueue" in result.twiml_after
    webhook = _one(hosts.served("call.incoming", sid))
    stream = _one(hosts.served("call.started", sid))
    action = _one(hosts.served("call.after_stream", sid))
    assert len({webhook, stream, action}) == 3  # round-robin: three instances, one call

    # An agent dialling another instance is briefed about the caller `action` enqueued,
    # and the pairing recorded by whichever instance Twilio's whisper request reaches
    # is what the agent's desktop reads from a third. The dial goes to that other instance
    # directly: through the balancer, which instance it reaches depends on what else is
    # connected at that moment (least connections), so it may be `action`'s own.
    other = next(i for i in hosts.instances if i.index != action)
    said, caller = _brief_and_take(hosts, standin, "CAagent1", via=other.url)
    assert caller == sid and t.summary in said and "pressed the key for a person" in said
    assert _one(hosts.served("agent.dial_queue", "CAagent1")) == other.index
    context = _get_json(f"{hosts.lb_url}/agents/CAagent1/context")
    assert context["call_sid"] == sid and context["summary"] == t.summary

    # The records and the API of every instance show the same call.
    for instance in hosts.instances:
        record = _get_json(f"{instance.url}/calls/{sid}")
        assert (record["outcome"], record["reason"], record["summary"]) == (
            "transfer", "dtmf", t.summary)
        assert [turn["heard"] for turn in record["turns"]] == ["1", "0"]


def test_callers_of_a_killed_host_reach_a_person_with_their_context(hosts):
    standin = _standin(hosts, speed=1)
    sids = [new_sid("CA") for _ in range(4)]
    results: dict[str, StandinResult] = {}
    failures: list[str] = []

    def call(sid: str) -> None:
        try:  # order status; then the caller listens (the bot asks for the order number)
            results[sid] = standin.run([dtmf("1")], call_sid=sid)
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(f"{sid}: {exc}")

    threads = [threading.Thread(target=call, args=(sid,)) for sid in sids]
    for thread in threads:
        thread.start()
        time.sleep(0.3)
    store = CallStore(hosts.database_url, HASH_KEY, cipher=TEST_CIPHER)
    wait_until(lambda: all((r := store.get(sid)) is not None and r.turns for sid in sids),
               60, "the calls' first turns", every_s=0.2)
    streams = {sid: _one(hosts.served("call.started", sid)) for sid in sids}
    victim = Counter(streams.values()).most_common(1)[0][0]
    hosts.kill(victim)  # mid-call: every one of them is waiting for an order number
    for thread in threads:
        thread.join(120)
    assert failures == []

    orphans = [sid for sid in sids if streams[sid] == victim]
    for sid in orphans:
        result = results[sid]
        assert ">support</Enqueue>" in result.twiml_after, result.twiml_after
        assert victim not in hosts.served("call.after_stream", sid)
        # Read back through the load balancer. The action's host writes the hand-over from
        # its write queue, and the read may reach another host first: wait for it there.
        def recorded(sid: str = sid):
            record = standin.fetch_transcript(sid)
            return record if record.outcome is not None else None

        t = result.transcript if result.transcript.outcome is not None else \
            wait_until(recorded, 15, "the hand-over's record", every_s=0.2)
        assert (t.outcome, t.reason, t.queue) == ("transfer", "error", "support")
        assert "stopped mid-call" in t.summary and "Intent: order status." in t.summary
        assert t.turns[0].heard == "1"
    for sid in set(sids) - set(orphans):  # the other hosts' calls went on to their end
        assert results[sid].transcript.outcome == "transfer"

    # Agents take every waiting caller, through the load balancer: each orphan is briefed
    # with its own summary, by instances that never served its stream.
    briefed: dict[str, str] = {}
    for n in range(len(sids) + 1):
        said, caller = _brief_and_take(hosts, standin, f"CAagent{n + 10}")
        if not caller:
            assert "next caller in the support queue" in said
            break
        briefed[caller] = said
    for sid in orphans:
        assert "handed over after a technical problem" in briefed[sid]
        assert results[sid].transcript.summary in briefed[sid]
    store.close()
    live = [i for i in hosts.instances if i.index != victim]
    assert all(i.alive for i in live)
    assert [line for line in hosts.error_lines() if not line.startswith(f"instance {victim}")
            ] == []
