"""CallSession on its own: timed events in, actions out, no sockets or clocks (real flow and
engine; keys and marks only, so nothing here depends on recognition)."""

from __future__ import annotations

from voicebot.flow.events import LookupDone
from voicebot.telephony.session import (
    CallSession,
    ClearAudio,
    CloseStream,
    KeyPressed,
    LookupFinished,
    MarkPlayed,
    PartFailed,
    PlayPrompt,
    PromptQueued,
    RunLookup,
    StreamStarted,
    Tick,
)


def started(support_flow, engine) -> tuple[CallSession, list]:
    session = CallSession(support_flow, engine)
    return session, session.handle(StreamStarted(100.0, "CAsession"))


def test_the_first_actions_are_the_disclosure_then_the_menu(support_flow, engine) -> None:
    session, actions = started(support_flow, engine)
    assert [type(a) for a in actions] == [PlayPrompt, PlayPrompt]
    disclosure, menu = actions
    assert disclosure.kind == "disclosure" and not disclosure.interruptible
    assert "automated assistant" in disclosure.text
    assert menu.interruptible and menu.mark != disclosure.mark
    # times in the transcript are stream seconds: the start event is 0
    assert session.transcript.prompts[0].t_sent == 0.0


def test_marks_in_order_and_unknown_marks(support_flow, engine) -> None:
    session, (disclosure, menu) = started(support_flow, engine)
    assert session.handle(MarkPlayed(101.0, "not-ours")) == []
    assert session.handle(MarkPlayed(112.0, disclosure.mark)) == []
    assert session.transcript.prompts[0].t_played == 12.0 and session.playing
    session.handle(MarkPlayed(117.0, menu.mark))
    assert not session.playing


def test_a_lookup_is_asked_for_and_its_answer_continues_the_flow(support_flow, engine) -> None:
    session, (_, menu) = started(support_flow, engine)
    session.handle(MarkPlayed(110.0, menu.mark))  # the menu mark implies the disclosure's
    actions = session.handle(KeyPressed(111.0, "1"))
    assert [a.kind for a in actions if isinstance(a, PlayPrompt)] == ["prompt"]
    for key, t in zip("4512", (112.0, 112.2, 112.4, 112.6), strict=True):
        actions = session.handle(KeyPressed(t, key))
    assert actions[-1].kind == "confirm"
    actions = session.handle(KeyPressed(113.0, "1"))
    lookup = next(a for a in actions if isinstance(a, RunLookup))
    assert lookup.lookup.params == {"order_number": "4512"}
    actions = session.handle(LookupFinished(113.1, LookupDone(ok=True, record={
        "order_number": "4512", "status": "shipped", "detail": "On its way."})))
    spoken = [a.text for a in actions if isinstance(a, PlayPrompt)]
    assert any("shipped" in text for text in spoken)


def test_a_failure_reported_by_the_driver_hands_over(support_flow, engine) -> None:
    session, _ = started(support_flow, engine)
    actions = session.handle(PartFailed(101.0, "lookup", "TimeoutError"))
    assert isinstance(actions[0], ClearAudio)  # stop the disclosure: something broke
    handover = actions[1]
    assert isinstance(handover, PlayPrompt) and handover.kind == "handover"
    assert (session.transcript.outcome, session.transcript.reason) == ("transfer", "error")
    session.handle(PromptQueued(101.0, handover.mark, 4.0))
    assert session.handle(Tick(103.0)) == []  # not closed before the caller heard why
    closing = session.handle(MarkPlayed(105.0, handover.mark))
    assert closing == [CloseStream("transfer", "error", "support")] and session.closed
