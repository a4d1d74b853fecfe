"""Loader and validator: each kind of mistake is reported at the right file:line:col, an invalid
flow never loads, and the `voicebot validate` command prints and exits accordingly."""

from __future__ import annotations

import json

import jsonschema
import pytest

from tests.flow.conftest import KITCHEN_SINK, SUPPORT
from voicebot import cli
from voicebot.flow.loader import SCHEMA_PATH, FlowError, check_file, load_flow

BASE = """\
start: menu
disclosure: I'm an automated assistant. Say agent or press 0 for a person.
queues:
  support: our support team
nodes:
  menu:
    kind: menu
    prompt: Say help or press 1.
    intents:
      help:
        phrases: [help]
        dtmf: 1
        next: bye
  bye:
    kind: hangup
"""


def problems_of(write_flow, text):
    path = write_flow(text)
    flow, problems = check_file(path)
    return flow, problems, path


def only(problems, severity="error"):
    return [p for p in problems if p.severity == severity]


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_base_and_kitchen_sink_are_clean(write_flow):
    for text in (BASE, KITCHEN_SINK):
        flow, problems, _ = problems_of(write_flow, text)
        assert flow is not None and problems == []


def test_default_support_flow_is_valid_with_no_warnings():
    flow, problems = check_file(SUPPORT)
    assert problems == [] and flow is not None
    assert flow.name == "support" and flow.queues() == {"support", "billing"}
    assert flow.backup_channels == {"callback_number": "+1 555 0100",
                                    "email": "help@acme.example"}
    assert flow.policy.escape_dtmf == "0" and "agent" in flow.policy.escape_phrases
    assert flow.policy.confidence_threshold == 0.5
    statics = flow.static_prompts()
    assert flow.disclosure in statics
    assert "Please say or key in your four digit order number." in statics
    assert not any("{" in t for t in statics)


def test_yaml_syntax_error_names_line(write_flow):
    text = BASE.replace("  support: our support team", "  support: [our support team")
    flow, problems, path = problems_of(write_flow, text)
    assert flow is None and len(problems) == 1
    p = problems[0]
    assert p.file == str(path) and p.message.startswith("YAML syntax")
    assert p.line >= line_of(text, "support: [")


def test_unknown_key_with_suggestion(write_flow):
    text = BASE.replace("    prompt: Say help or press 1.", "    promt: Say help or press 1.")
    flow, problems, _ = problems_of(write_flow, text)
    errors = only(problems)
    msgs = [p.message for p in errors]
    assert flow is None
    assert any("unknown key 'promt'" in m and "did you mean 'prompt'" in m for m in msgs)
    bad = next(p for p in errors if "promt" in p.message)
    assert (bad.line, bad.col) == (line_of(text, "promt:"), 5)
    # one mistake, one message: the misspelt key is not also reported as missing
    assert msgs == [bad.message]

    missing = BASE.replace("    prompt: Say help or press 1.\n", "")
    _, problems, _ = problems_of(write_flow, missing)
    assert [p.message for p in only(problems)] == ["nodes.menu: missing required key 'prompt'"]


def test_wrong_type(write_flow):
    text = "rate: fast\n" + BASE
    _, problems, _ = problems_of(write_flow, text)
    p = only(problems)[0]
    assert p.message == "rate must be integer, not text" and (p.line, p.col) == (1, 1)


def test_missing_disclosure_is_an_error(write_flow):
    text = "\n".join(line for line in BASE.splitlines() if not line.startswith("disclosure"))
    flow, problems, _ = problems_of(write_flow, text)
    assert flow is None
    assert "missing 'disclosure'" in only(problems)[0].message
    assert "automated assistant" in only(problems)[0].message


def test_unknown_next_target(write_flow):
    text = BASE.replace("        next: bye", "        next: byee")
    flow, problems, _ = problems_of(write_flow, text)
    p = only(problems)[0]
    assert "unknown node 'byee'" in p.message and "did you mean 'bye'" in p.message
    assert p.line == line_of(text, "next: byee")


def test_unreachable_node_is_a_warning_and_still_loads(write_flow):
    text = BASE + "  orphan:\n    kind: say\n    prompt: Nobody hears this.\n    next: bye\n"
    flow, problems, _ = problems_of(write_flow, text)
    assert flow is not None and only(problems) == []
    w = only(problems, "warning")[0]
    assert "'orphan' is unreachable" in w.message and w.line == line_of(text, "orphan:")


def test_node_with_no_way_to_end_or_reach_a_person(write_flow):
    text = BASE.replace("        next: bye", "        next: loop_a") + """\
  loop_a:
    kind: say
    prompt: Round.
    next: loop_b
  loop_b:
    kind: say
    prompt: And round.
    next: loop_a
"""
    flow, problems, _ = problems_of(write_flow, text)
    msgs = [p.message for p in only(problems)]
    assert flow is None
    assert any("loop without waiting for the caller: loop_a, loop_b" in m for m in msgs)
    assert any("node 'loop_a' has no way to end the call or reach a person" in m for m in msgs)


def test_escape_cannot_be_switched_off_in_a_listening_node(write_flow):
    text = BASE.replace("    prompt: Say help or press 1.\n",
                        "    prompt: Say help or press 1.\n"
                        "    policy: {escape_phrases: [], escape_dtmf: null}\n")
    _, problems, _ = problems_of(write_flow, text)
    assert any("no way to reach a person here" in p.message for p in only(problems))


def test_same_phrase_or_key_in_two_intents(write_flow):
    text = BASE.replace("        next: bye\n", """\
        next: bye
      more_help:
        phrases: [more, Help!]
        dtmf: 1
        next: bye
""", 1)
    _, problems, _ = problems_of(write_flow, text)
    msgs = {p.message: p for p in only(problems)}
    phrase = next(p for m, p in msgs.items() if "phrase 'Help!' is in two intents" in m)
    key = next(p for m, p in msgs.items() if "DTMF key 1 is in two intents" in m)
    assert phrase.line == line_of(text, "phrases: [more, Help!]")
    assert key.line == line_of(text, "more_help:") + 2


def test_phrases_that_match_alike_in_two_intents(write_flow):
    # Inflections are folded when matching ("helps" = "help"), so this is one phrase twice.
    text = BASE.replace("        next: bye\n", """\
        next: bye
      more_help:
        phrases: [helps]
        dtmf: 2
        next: bye
""", 1)
    _, problems, _ = problems_of(write_flow, text)
    assert any("phrase 'helps' is in two intents" in p.message for p in only(problems))


def test_intent_key_cannot_be_the_escape_key(write_flow):
    _, problems, _ = problems_of(write_flow, BASE.replace("dtmf: 1", "dtmf: 0"))
    assert any("is the escape key" in p.message for p in only(problems))


def test_template_naming_a_slot_never_collected(write_flow):
    text = BASE.replace("    kind: hangup", "    kind: hangup\n    prompt: Bye {nmae}.")
    _, problems, _ = problems_of(write_flow, text)
    p = only(problems)[0]
    assert "'{nmae}' names a slot that is never collected" in p.message
    assert p.line == line_of(text, "Bye {nmae}")


def test_duplicate_yaml_key(write_flow):
    text = BASE + "  bye:\n    kind: hangup\n"
    _, problems, _ = problems_of(write_flow, text)
    assert any(p.message == "duplicate key 'bye'" for p in only(problems))


def test_unknown_queue_and_missing_lookup_file(write_flow):
    text = BASE.replace("        next: bye", "        next: find") + """\
  find:
    kind: lookup
    source: {file: nowhere.csv, key: id}
    found: bye
    not_found: to_x
  to_x:
    kind: transfer
    queue: sales
"""
    _, problems, _ = problems_of(write_flow, text)
    msgs = [p.message for p in only(problems)]
    assert any("queue 'sales' is not declared" in m for m in msgs)
    assert any(m.startswith("lookup file not found") for m in msgs)
    assert any("'{id}' names a slot that is never collected" in m for m in msgs)


def test_disclosure_must_say_automated_and_way_out(write_flow):
    text = BASE.replace("I'm an automated assistant. Say agent or press 0 for a person.",
                        "Welcome to Acme.")
    flow, problems, _ = problems_of(write_flow, text)
    warnings = [p.message for p in only(problems, "warning")]
    assert flow is not None
    assert any("automated assistant" in w for w in warnings)
    assert any("how to reach a person" in w for w in warnings)


def test_unbounded_loop_warns(write_flow):
    text = BASE.replace("        next: bye", "        next: menu_again") + """\
  menu_again:
    kind: say
    prompt: Again.
    next: menu
"""
    flow, problems, _ = problems_of(write_flow, text)
    assert flow is not None  # escape phrases keep it escapable, so only a warning
    assert any("has no bound" in p.message for p in only(problems, "warning"))


def test_yes_and_no_stay_words_not_booleans(write_flow):
    text = BASE.replace("phrases: [help]", "phrases: [yes, no, on, off]")
    flow, problems, _ = problems_of(write_flow, text)
    assert problems == [] and flow.nodes["menu"].intents[0].phrases == ("yes", "no", "on", "off")


def test_load_flow_raises_flow_error_with_all_problems(write_flow):
    path = write_flow("voice: 7\n" + BASE.replace("next: bye", "next: nowhere"))
    with pytest.raises(FlowError) as info:
        load_flow(path)
    err = info.value
    assert err.problems and all(p.severity == "error" for p in err.problems)
    assert str(err).startswith(f"{path}:")
    assert err.exit_code == 1


def test_missing_file_and_empty_file(write_flow, tmp_path):
    _, problems = check_file(tmp_path / "nope.yaml")
    assert problems[0].message == "no such file"
    _, problems, _ = problems_of(write_flow, "")
    assert problems[0].message == "the file is empty"
    _, problems, _ = problems_of(write_flow, "- a\n- b\n")
    assert "must be a mapping" in problems[0].message


def test_shipped_json_schema_is_draft_2020_12_and_accepts_the_default_flow():
    import yaml

    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert "yaml-language-server: $schema=" in SUPPORT.read_text()
    data = yaml.load(SUPPORT.read_text(), Loader=__import__(
        "voicebot.flow.loader", fromlist=["FlowYamlLoader"]).FlowYamlLoader)
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(data)) == []


# ----------------------------------------------------------------- voicebot validate


def test_validate_cli_ok_and_errors(write_flow, capsys):
    assert cli.main(["validate", str(SUPPORT)]) == 0
    out = capsys.readouterr()
    assert out.out == f"{SUPPORT}: ok: flow 'support' version 1.0, 10 nodes, 0 warning(s)\n"

    bad = write_flow(BASE.replace("next: bye", "next: byee"), name="bad.yaml")
    assert cli.main(["validate", str(SUPPORT), str(bad)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == [
        f"{bad}:{line_of(BASE, 'next: bye')}:15: error: 'next' goes to unknown node 'byee' "
        "(did you mean 'bye'?)",
        f"{bad}: 1 error(s), 0 warning(s)"]
    assert cli.main(["validate", "-q", str(bad)]) == 1
    assert capsys.readouterr().out.splitlines() == out[1:2]


def test_validate_cli_warnings_do_not_fail_unless_strict(write_flow, capsys):
    path = write_flow(BASE + "  orphan:\n    kind: hangup\n")
    assert cli.main(["validate", str(path)]) == 0
    assert ": warning: node 'orphan' is unreachable" in capsys.readouterr().out
    assert cli.main(["validate", "--strict", str(path)]) == 1


def test_unknown_node_kind_lists_the_kinds(write_flow):
    text = BASE.replace("    kind: hangup", "    kind: goodbye")
    _, problems, _ = problems_of(write_flow, text)
    p = only(problems)[0]
    assert p.message.startswith("nodes.bye.kind must be one of: say, ask, menu, collect, "
                                "survey, branch,")
    assert p.line == line_of(text, "kind: goodbye")


# ----------------------------------------------------------------- lookup headers

URL_LOOKUP = BASE.replace("        next: bye", "        next: get_order") + """\
  get_order:
    kind: collect
    slot: order_number
    type: digits
    length: 4
    store: clear
    prompt: Your order number?
    next: find
  find:
    kind: lookup
    source:
      url: https://orders.example.com/api/orders/{order_number}
      key: order_number
      headers:
        Authorization: Bearer ${ORDERS_API_TOKEN}
    found: bye
    not_found: bye
"""


def test_lookup_headers_with_a_set_variable_are_clean(write_flow, monkeypatch):
    monkeypatch.setenv("ORDERS_API_TOKEN", "s3cret")
    flow, problems, _ = problems_of(write_flow, URL_LOOKUP)
    assert problems == [] and flow is not None
    assert flow.nodes["find"].source["headers"] == {
        "Authorization": "Bearer ${ORDERS_API_TOKEN}"}  # substituted at lookup time only


def test_lookup_header_with_unset_variable_is_a_warning(write_flow, monkeypatch):
    monkeypatch.delenv("ORDERS_API_TOKEN", raising=False)
    flow, problems, _ = problems_of(write_flow, URL_LOOKUP)
    assert flow is not None and only(problems) == []
    w = only(problems, "warning")[0]
    assert "${ORDERS_API_TOKEN}" in w.message and "not set" in w.message
    assert (w.line, w.col) == (line_of(URL_LOOKUP, "Authorization:"), 24)


def test_lookup_headers_with_a_file_source_are_an_error(write_flow, monkeypatch):
    monkeypatch.setenv("ORDERS_API_TOKEN", "s3cret")
    text = URL_LOOKUP.replace(
        "      url: https://orders.example.com/api/orders/{order_number}", "      file: orders.csv")
    flow, problems, _ = problems_of(write_flow, text)
    assert flow is None
    p = only(problems)[0]
    assert p.message == "'headers' only apply to a url source, not to a file"
    assert (p.line, p.col) == (line_of(text, "headers:"), 7)


def test_lookup_header_values_and_names_that_http_cannot_send(write_flow, monkeypatch):
    monkeypatch.setenv("ORDERS_API_TOKEN", "s3cret")
    text = URL_LOOKUP.replace("        Authorization: Bearer ${ORDERS_API_TOKEN}\n",
                              '        X-Note: "abc123\\r\\nX-Injected: 1"\n'
                              "        X-Typo: Bearer ${ORDERS-API-TOKEN}\n")
    flow, problems, _ = problems_of(write_flow, text)
    assert flow is None
    errors = only(problems)
    crlf = next(p for p in errors if "X-Note" in p.message)
    assert "no line breaks" in crlf.message and crlf.line == line_of(text, "X-Note:")
    assert not any("abc123" in p.message or "Injected" in p.message for p in problems)
    typo = next(p for p in errors if "X-Typo" in p.message)
    assert "${NAME}" in typo.message and typo.line == line_of(text, "X-Typo:")

    bad_name = URL_LOOKUP.replace("Authorization:", "Auth Token:")
    flow, problems, _ = problems_of(write_flow, bad_name)
    assert flow is None
    assert "'Auth Token' is not a valid value here" in only(problems)[0].message
    not_text = URL_LOOKUP.replace("Bearer ${ORDERS_API_TOKEN}", "42")
    _, problems, _ = problems_of(write_flow, not_text)
    assert only(problems)[0].message == \
        "nodes.find.source.headers.Authorization must be string, not a whole number"


def test_a_spoken_number_without_an_upper_bound_is_a_warning(write_flow):
    text = URL_LOOKUP.replace("    length: 4\n", "    min_length: 4\n")
    flow, problems, _ = problems_of(write_flow, text)
    p = next(p for p in only(problems, "warning") if "no max_length" in p.message)
    assert p.line == line_of(text, "min_length: 4") and not only(problems)
    assert flow is not None  # a warning: the flow still loads


def test_an_end_of_call_threshold_under_the_answer_threshold_is_a_warning(write_flow):
    """It has no effect (an answer that ends the call takes the higher one): say so, at the
    key the designer wrote. Raising confidence_threshold alone warns of nothing."""
    policy = "policy:\n  confidence_threshold: 0.8\n  end_confidence_threshold: 0.6\n"
    text = BASE.replace("queues:\n", policy + "queues:\n")
    flow, problems, _ = problems_of(write_flow, text)
    warnings = only(problems, "warning")
    assert flow is not None and len(warnings) == 1
    assert "end_confidence_threshold 0.6 is under confidence_threshold 0.8" in \
        warnings[0].message
    assert warnings[0].line == line_of(text, "end_confidence_threshold")

    node = text.replace("  confidence_threshold: 0.8\n", "").replace(
        "    prompt: Say help or press 1.\n",
        "    prompt: Say help or press 1.\n    policy:\n      confidence_threshold: 0.7\n")
    _, problems, _ = problems_of(write_flow, node)
    assert [p.line for p in only(problems, "warning")] == [line_of(node, "    policy:")]

    raised = BASE.replace("queues:\n", "policy:\n  confidence_threshold: 0.8\nqueues:\n")
    assert only(problems_of(write_flow, raised)[1], "warning") == []
