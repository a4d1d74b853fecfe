"""Callers who speak sentences, in live calls: the real service on a real WebSocket, driven
by the Twilio stand-in, with the engine `auto` takes when the Whisper weights are installed
(the cascade of Whisper tiny.en and pocketsphinx, the real weights). The sentences are
espeak-ng renderings (no recording has them). On SQLite only: the store is not what these
check (tests/service/test_calls.py runs whole calls on both backends)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.conftest import RunningService

pytestmark = pytest.mark.slow  # calls in (5x) real time against a live service


@pytest.fixture(scope="module")
def cascade_service(tmp_path_factory: pytest.TempPathFactory, call_cascade, renderer
                    ) -> Iterator[RunningService]:
    db = tmp_path_factory.mktemp("sentence-calls") / "calls.sqlite3"
    svc = RunningService(Path(db), engine=call_cascade, renderer=renderer)
    yield svc
    svc.stop()


def test_asking_for_a_person_inside_a_sentence_transfers_with_keyword(cascade_service, say
                                                                       ) -> None:
    result = cascade_service.standin().run([say("Can I speak to a person, please?")])
    t = result.transcript
    assert (t.outcome, t.reason, t.queue) == ("transfer", "keyword", "support"), t.turns
    assert t.turns[0].node == "main_menu" and t.engine.startswith("cascade")
    assert ">support</Enqueue>" in result.twiml_after


def test_a_menu_request_inside_a_sentence_takes_its_branch(cascade_service, say) -> None:
    result = cascade_service.standin().run([say("I have a question about my bill.")])
    t = result.transcript
    assert (t.outcome, t.queue) == ("transfer", "billing"), t.turns
    assert t.path[:2] == ["main_menu", "to_billing"]
