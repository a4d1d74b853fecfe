"""FlowSession: every node kind and every escalation reason, through its public events."""

from __future__ import annotations

import pytest

from tests.flow.conftest import KITCHEN_SINK, SUPPORT
from voicebot.flow.events import (
    Digits,
    Fault,
    Hangup,
    Listen,
    LookupDone,
    NoInput,
    PerformLookup,
    Recognized,
    Say,
    ServiceStopping,
    Transfer,
)
from voicebot.flow.interpreter import FlowSession
from voicebot.flow.loader import build_flow, load_flow, parse_yaml
from voicebot.flow.lookup import perform
from voicebot.flow.reasons import ESCALATION_REASONS

ORDERS = SUPPORT.parent / "data" / "orders.csv"


def said(actions) -> list[str]:
    return [a.text for a in actions if isinstance(a, Say)]


def of(actions, cls):
    found = [a for a in actions if isinstance(a, cls)]
    return found[-1] if found else None


def run_lookups(session: FlowSession, actions):
    """Perform lookups for real (CSV beside the flow), like the driver does."""
    out = list(actions)
    while (req := of(out, PerformLookup)) is not None and not session.ended and \
            session._awaiting == "lookup":
        more = session.handle(perform(req))
        out = [a for a in out if a is not req] + more
    return out


def test_start_says_the_disclosure_first_and_cannot_be_skipped(sink):
    s = FlowSession(sink)
    actions = s.start()
    first = actions[0]
    assert isinstance(first, Say) and first.kind == "disclosure" and not first.interruptible
    assert "automated assistant" in first.text
    assert isinstance(actions[1], Say) and actions[1].node == "menu"
    listen = actions[-1]
    assert isinstance(listen, Listen) and listen.node == "menu"
    assert s.start() == []  # only once


def test_menu_listen_carries_grammar_keys_and_policy(sink):
    listen = FlowSession(sink).start()[-1]
    assert "order status" in listen.grammar and "sales" in listen.grammar
    assert "agent" in listen.grammar and "speak to someone" in listen.grammar
    assert "one" in listen.grammar  # a menu key may be spoken
    assert listen.dtmf_max == 1
    assert listen.confidence_threshold == 0.5
    assert listen.no_input_timeout == 5.0


def test_order_found_path_branch_say_hangup(sink):
    s = FlowSession(sink)
    s.start()
    acts = s.handle(Recognized("where is my order please", 0.9))
    assert s.intent == "order" and s.node == "get_order"
    listen = of(acts, Listen)
    assert listen.slot == "order_number" and listen.slot_kind == "digits" and listen.dtmf_max == 4
    acts = s.handle(Recognized("four five one two", 0.8))
    assert said(acts) == ["I heard 4 5 1 2. Is that right?"]
    assert of(acts, Listen).slot_kind == "yes_no" and "yes" in of(acts, Listen).grammar
    acts = s.handle(Recognized("yes that's right", 0.9))
    req = of(acts, PerformLookup)
    assert req.params == {"order_number": "4512"} and req.source["file"].endswith("orders.csv")
    acts = s.handle(perform(req))
    assert said(acts)[0] == "Order 4 5 1 2 is shipped."
    assert isinstance(acts[-1], Hangup) and acts[-2].kind == "goodbye"
    assert s.ended and s.outcome == "hangup"
    assert s.path == ["menu", "get_order", "find", "check_status", "on_the_way", "bye"]
    assert s.slots["order"]["status"] == "shipped"


def test_branch_picks_first_matching_condition_and_default(sink):
    for number, node in (("2468", "delivered"), ("1234", "other_status")):
        s = FlowSession(sink)
        s.start()
        s.handle(Digits("1"))
        s.handle(Digits(number + "#"))
        acts = run_lookups(s, s.handle(Digits("1")))  # 1 = yes at the confirmation
        assert node in s.path, s.path
        assert said(acts)[-2].startswith(f"Order {' '.join(number)}")


def test_lookup_not_found_goes_to_named_node_with_summary(sink):
    s = FlowSession(sink)
    s.start()
    s.handle(Digits("1"))
    s.handle(Recognized("nine nine nine nine", 0.9))
    acts = run_lookups(s, s.handle(Recognized("yes", 0.9)))
    t = of(acts, Transfer)
    assert t.queue == "support" and t.reason == "flow"
    assert t.summary == "Order 9999 not found."
    assert said(acts)[-1] == \
        "I couldn't find that order, so I'm connecting you to our support team."


def test_lookup_failure_without_on_error_hands_over_with_reason_error(sink):
    s = FlowSession(sink)
    s.start()
    s.handle(Digits("1"))
    s.handle(Digits("4512"))
    s.handle(Digits("1"))
    acts = s.handle(LookupDone(ok=False, error="timeout after 3s"))
    t = of(acts, Transfer)
    assert t.reason == "error" and t.queue == "support"
    assert "something went wrong" in said(acts)[0] and "our support team" in said(acts)[0]


def test_confirmation_no_asks_again_then_hands_over(sink):
    s = FlowSession(sink)
    s.start()
    s.handle(Digits("1"))
    s.handle(Digits("4512"))
    acts = s.handle(Recognized("no", 0.9))
    assert said(acts) == ["Okay, let's try again. Say or key your four digit order number."]
    assert of(acts, Listen).slot_kind == "digits"
    s.handle(Recognized("four five one three", 0.9))
    acts = s.handle(Recognized("no that's wrong", 0.9))
    assert of(acts, Transfer).reason == "no_match"


def test_collect_digits_rejects_wrong_length_and_words(sink):
    s = FlowSession(sink)
    s.start()
    s.handle(Digits("1"))
    acts = s.handle(Recognized("four five", 0.9))
    assert of(acts, Say).kind == "reprompt" and "order_number" not in s.slots
    assert s.turns[-1]["result"] == "no_match"


def test_collect_number_free_and_yes_no(sink):
    s = FlowSession(sink)
    s.start()
    s.handle(Recognized("survey", 0.9))
    acts = s.handle(Recognized("seven", 0.9))  # out of range 1..5
    assert of(acts, Say).kind == "reprompt"
    s.handle(Recognized("four", 0.9))
    assert s.slots["rating"] == 4
    assert of(FlowSession(sink).start(), Listen).slot_kind is None
    acts = s.handle(Recognized("the hold music was lovely", 0.9))
    assert s.slots["comment"] == "the hold music was lovely"
    assert of(acts, Listen).slot_kind == "yes_no"
    acts = s.handle(Digits("2"))  # 2 = no
    assert s.slots["contact_ok"] == "no"
    assert said(acts)[0] == "Thanks, you rated us 4."
    assert isinstance(acts[-1], Hangup)


def test_free_speech_listen_has_open_grammar(sink):
    s = FlowSession(sink)
    s.start()
    s.handle(Digits("3"))
    acts = s.handle(Digits("5"))
    listen = of(acts, Listen)
    assert listen.grammar == () and listen.slot_kind == "free" and listen.dtmf_max == 0


# ----------------------------------------------------------------- escalation reasons


def test_keyword_escape_in_every_listening_node_and_during_lookup(sink):
    for setup in ([], [Digits("1")], [Digits("1"), Digits("4512")], [Digits("3")]):
        s = FlowSession(sink)
        s.start()
        for ev in setup:
            s.handle(ev)
        acts = s.handle(Recognized("can I speak to someone please", 0.8))
        t = of(acts, Transfer)
        assert t is not None and t.reason == "keyword" and t.queue == "support", setup
        handover = acts[0]
        assert handover.kind == "handover" and "asked for a person" in handover.text
        assert "our support team" in handover.text
    s = FlowSession(sink)
    s.start()
    s.handle(Digits("1"))
    s.handle(Digits("4512"))
    s.handle(Digits("1"))
    assert s._awaiting == "lookup"
    assert s.handle(Recognized("hello?", 0.9)) == []  # only the escape counts while waiting
    assert of(s.handle(Recognized("agent", 0.9)), Transfer).reason == "keyword"


def test_dtmf_escape_and_the_digit_collect_exception(sink):
    s = FlowSession(sink)
    s.start()
    acts = s.handle(Digits("0"))
    t = of(acts, Transfer)
    assert t.reason == "dtmf" and acts[0].kind == "handover" and "key for a person" in acts[0].text
    # While keying an order number, 0 is a digit; a lone 0 is the way out.
    s = FlowSession(sink)
    s.start()
    s.handle(Digits("1"))
    assert not s.is_escape_digit("0")
    s.handle(Digits("1023"))
    assert s.slots == {} and s._pending == "1023"
    s = FlowSession(sink)
    s.start()
    s.handle(Digits("1"))
    assert of(s.handle(Digits("0#")), Transfer).reason == "dtmf"


def test_low_confidence_twice_hands_over(sink):
    s = FlowSession(sink)
    s.start()
    acts = s.handle(Recognized("order", 0.3))
    assert of(acts, Say).kind == "reprompt" and s.intent is None
    acts = s.handle(Recognized("order", 0.2))
    t = of(acts, Transfer)
    assert t.reason == "low_confidence" and "trouble understanding" in acts[0].text


def test_escape_phrase_needs_less_confidence_than_an_answer(sink):
    # A needless hand-over costs a short wait; a missed "agent" traps the caller.
    s = FlowSession(sink)
    s.start()
    t = of(s.handle(Recognized("agent", 0.3)), Transfer)
    assert t is not None and t.reason == "keyword"
    s = FlowSession(sink)
    s.start()
    acts = s.handle(Recognized("agent", 0.1))
    assert of(acts, Transfer) is None and of(acts, Say).kind == "reprompt"


def _at_anything_else(flow) -> FlowSession:
    s = FlowSession(flow)
    s.start()
    s.handle(Digits("1"))
    s.handle(Digits("4512"))
    run_lookups(s, s.handle(Recognized("yes", 0.9)))
    assert s.node == "anything_else"
    return s


def test_an_answer_that_ends_the_call_needs_more_confidence():
    # A caller hung up on cannot correct the bot ("actually, there's a charge I don't
    # recognise" heard as "actually no"); one asked again just answers again.
    s = _at_anything_else(load_flow(SUPPORT))
    acts = s.handle(Recognized("no thanks", 0.7))
    assert not s.ended and of(acts, Say).kind == "reprompt"
    assert s.turns[-1]["result"] == "low_confidence" and s.turns[-1]["intent"] is None
    acts = s.handle(Recognized("no thanks", 0.9))
    assert s.ended and s.outcome == "hangup" and isinstance(acts[-1], Hangup)
    s = _at_anything_else(load_flow(SUPPORT))  # other answers keep the usual threshold
    s.handle(Recognized("yes please", 0.7))
    assert s.node == "main_menu" and s.intent == "more"
    s = _at_anything_else(load_flow(SUPPORT))  # and a key is a key
    assert isinstance(s.handle(Digits("9"))[-1], Hangup)


def test_end_threshold_follows_say_nodes_and_is_set_per_flow(write_flow):
    # In the kitchen sink, "sales" leads through a transfer, "survey" to a survey: neither
    # ends the call, so 0.6 is enough for them.
    flow = load_flow(write_flow(KITCHEN_SINK))
    assert flow.ends_call("delivered") and flow.ends_call("bye")
    assert flow.ends_call("check_status")  # a branch with a way to a goodbye
    assert not flow.ends_call("menu") and not flow.ends_call("to_sales")
    assert not flow.ends_call("find") and not flow.ends_call("no_such_node")
    assert flow.policy.end_threshold == 0.75
    s = _at_anything_else(load_flow(write_flow(_support_with("end_confidence_threshold: 0.6"))))
    s.handle(Recognized("no thanks", 0.7))
    assert s.ended and s.outcome == "hangup"
    unsure = _support_with("end_confidence_threshold: 0.6").replace(
        "confidence_threshold: 0.5", "confidence_threshold: 0.9")
    assert load_flow(write_flow(unsure)).policy.end_threshold == 0.9  # never under an answer's


def _support_with(policy_line: str) -> str:
    """The default flow with one more policy line, its orders file where it is."""
    return SUPPORT.read_text().replace("file: data/orders.csv", f"file: {ORDERS}").replace(
        "  confidence_threshold: 0.5\n", f"  confidence_threshold: 0.5\n  {policy_line}\n")


def test_no_match_twice_hands_over_and_reprompts_change(sink):
    s = FlowSession(sink)
    s.start()
    first = s.handle(Recognized("bananas", 0.9))
    assert of(first, Say).kind == "reprompt" and "didn't catch that" in of(first, Say).text
    second = s.handle(Recognized("pineapples", 0.9, in_grammar=False))
    t = of(second, Transfer)
    assert t.reason == "no_match"
    assert "couldn't work out what you need" in second[0].text
    assert t.context["turns"][-1]["heard"] == "pineapples"


def test_no_input_twice_hands_over_with_changing_reprompts(sink):
    s = FlowSession(sink)
    s.start()
    s.handle(Digits("1"))
    a = s.handle(NoInput())
    assert "didn't hear anything" in a[0].text
    b = s.handle(NoInput())
    assert of(b, Transfer).reason == "no_input"
    assert "I didn't hear anything, so I'm connecting you to our support team" in b[0].text


def test_node_reprompts_are_used_in_order(write_flow):
    text = KITCHEN_SINK.replace(
        "    prompt: Say or key your four digit order number.\n",
        "    prompt: Say or key your four digit order number.\n"
        "    reprompts: [First retry., Second retry.]\n").replace(
        "  max_no_match: 2\n", "  max_no_match: 3\n")
    s = FlowSession(load_flow(write_flow(text)))
    s.start()
    s.handle(Digits("1"))
    assert said(s.handle(Recognized("blue", 0.9))) == ["First retry."]
    assert said(s.handle(Recognized("green", 0.9))) == ["Second retry."]


def test_transfer_node_reason_flow(sink):
    s = FlowSession(sink)
    s.start()
    acts = s.handle(Recognized("I want to buy something", 0.9))
    t = of(acts, Transfer)
    assert (t.queue, t.reason, t.summary) == ("sales", "flow", "Sales enquiry.")
    assert acts[0].kind == "handover" and acts[0].text == \
        "I'm connecting you to our sales team. Please hold."
    assert t.context["intent"] == "sales" and t.context["path"] == ["menu", "to_sales"]


def test_fault_hands_over_with_reason_error(sink):
    s = FlowSession(sink)
    s.start()
    acts = s.handle(Fault("engine crashed"))
    assert [type(a) for a in acts] == [Say, Transfer]
    assert acts[1].reason == "error" and acts[1].queue == "support"
    assert s.handle(Recognized("order", 0.9)) == []  # ended


def test_every_escalation_reason_is_reachable(sink):
    seen = set()
    scripts = {
        "keyword": [Recognized("agent", 0.9)],
        "dtmf": [Digits("0")],
        "low_confidence": [Recognized("x", 0.1), Recognized("x", 0.1)],
        "no_match": [Recognized("x", 0.9), Recognized("y", 0.9)],
        "no_input": [NoInput(), NoInput()],
        "flow": [Digits("2")],
        "error": [Fault("boom")],
        "service": [ServiceStopping()],
    }
    for reason, events in scripts.items():
        s = FlowSession(sink)
        acts = s.start()
        for ev in events:
            acts = s.handle(ev)
        assert of(acts, Transfer).reason == reason
        seen.add(reason)
    assert seen == set(ESCALATION_REASONS)


def test_summary_context_has_intent_slots_and_turns(sink):
    s = FlowSession(sink)
    s.start()
    s.handle(Recognized("order status", 0.92))
    s.handle(Digits("4512"))
    ctx = s.summary_context()
    assert ctx["intent"] == "order"
    assert ctx["turns"][0] == {"node": "menu", "kind": "speech", "heard": "order status",
                               "confidence": 0.92, "intent": "order", "result": "matched"}
    assert ctx["turns"][1]["kind"] == "dtmf"
    assert ctx["path"] == ["menu", "get_order"]


def test_escape_checks_do_not_change_state(sink):
    s = FlowSession(sink)
    s.start()
    assert s.is_escape_text("I'd like a representative")
    assert not s.is_escape_text("order status")
    assert s.is_escape_digit("0") and not s.is_escape_digit("1")
    assert s.node == "menu" and not s.ended and s.turns == []


def test_anything_else_loop_is_bounded(sink):
    """menu has max_visits 3 without overflow: the fourth visit hands over (reason flow)."""
    flow = load_flow(SUPPORT)
    s = FlowSession(flow)
    s.start()
    visits = 0
    acts: list = []
    for _ in range(10):
        acts = s.handle(Digits("1"))
        if s.ended:
            break
        acts = s.handle(Digits("4512"))
        acts = run_lookups(s, s.handle(Recognized("yes", 0.9)))
        if s.ended:
            break
        assert s.node == "anything_else"
        visits += 1
        acts = s.handle(Recognized("yes", 0.9))  # "more" -> main menu
        if s.ended:
            break
    assert s.ended and visits == 3
    t = of(acts, Transfer)
    assert t.reason == "flow" and t.queue == "support"
    assert t.summary.startswith("Caller came back to 'anything_else' more than 3 times.")
    assert said(acts)[-1] == "We seem to be going round in circles, so I'm connecting you to " \
                             "our support team. Please hold."


def test_say_loop_guard_never_traps_a_caller(tmp_path):
    """A flow the validator rejects (say loop) still cannot trap a caller in the interpreter."""
    text = """\
start: a
disclosure: I'm an automated assistant. Say agent for a person.
queues: {support: our support team}
nodes:
  a: {kind: say, prompt: One., next: b}
  b: {kind: say, prompt: Two., next: a}
"""
    data, marks, problems = parse_yaml(text, "loop.yaml")
    assert problems == []
    flow = build_flow(data, marks, tmp_path / "loop.yaml", text)
    acts = FlowSession(flow).start()
    assert isinstance(acts[-1], Transfer) and acts[-1].reason == "error"


@pytest.mark.parametrize("reason", ESCALATION_REASONS)
def test_handover_text_is_configurable_per_reason(write_flow, reason):
    text = KITCHEN_SINK.replace(
        "policy:\n",
        f"policy:\n  handover:\n    {reason}: Custom {reason} hand-over to {{queue}}.\n")
    flow = load_flow(write_flow(text))
    assert flow.policy.handover[reason] == f"Custom {reason} hand-over to {{queue}}."
    assert f"Custom {reason} hand-over to our support team." in flow.static_prompts()


def test_node_policy_overrides_flow_policy(write_flow):
    text = KITCHEN_SINK.replace(
        "    prompt: Say or key your four digit order number.\n",
        "    prompt: Say or key your four digit order number.\n"
        "    policy: {max_no_match: 1, escape_queue: sales, no_input_timeout: 9,"
        " escape_phrases: [help me]}\n")
    flow = load_flow(write_flow(text))
    s = FlowSession(flow)
    s.start()
    listen = of(s.handle(Digits("1")), Listen)
    assert listen.no_input_timeout == 9.0 and "help me" in listen.grammar
    assert "agent" not in listen.grammar
    acts = s.handle(Recognized("purple", 0.9))  # one no-match is enough here
    t = of(acts, Transfer)
    assert t.reason == "no_match" and t.queue == "sales" and "our sales team" in acts[0].text
    s = FlowSession(flow)
    s.start()
    assert s.is_escape_text("agent")  # the flow's phrases still work at the menu
    s.handle(Digits("1"))
    assert not s.is_escape_text("agent") and s.is_escape_text("please help me")


def test_default_reprompts_change_on_each_retry(write_flow):
    flow = load_flow(write_flow(KITCHEN_SINK.replace("  max_no_match: 2\n", "  max_no_match: 3\n")))
    s = FlowSession(flow)
    s.start()
    first = said(s.handle(Recognized("purple", 0.9)))[0]
    second = said(s.handle(Recognized("green", 0.9)))[0]
    assert first.startswith("Sorry, I didn't catch that. Say order or press 1.")
    assert second.startswith("Sorry, I still didn't get that. Say order or press 1.")
    assert first in flow.static_prompts() and second in flow.static_prompts()


def test_hangup_without_prompt_says_default_goodbye(sink):
    s = FlowSession(sink)
    s.start()
    s.handle(Digits("3"))
    s.handle(Recognized("five", 0.9))
    s.handle(Recognized("great service", 0.9))
    acts = s.handle(Recognized("yes", 0.9))
    assert [(a.kind, a.text) for a in acts if isinstance(a, Say)][-1] == \
        ("goodbye", "Thank you for calling. Goodbye.")
    assert acts[-1] == Hangup("completed") and s.slots["contact_ok"] == "yes"
