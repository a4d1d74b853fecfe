"""`voicebot graph` and `voicebot chat` through the CLI, on the default support flow."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from tests.flow.conftest import SUPPORT
from voicebot import cli


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


# ----------------------------------------------------------------- graph


def test_graph_mermaid(capsys):
    code, out, _ = run_cli(capsys, "graph", str(SUPPORT), "--format", "mermaid")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "flowchart TD"
    assert "  disclosure --> n_main_menu" in lines
    assert any(line.startswith('  n_main_menu["menu: main_menu<br/>How can I help?')
               for line in lines)
    assert '  n_main_menu -->|"order_status [1]"| n_ask_order_number' in lines
    assert '  n_find_order -->|"not found"| n_order_not_found' in lines
    # escalation edges are dashed and go to a person node of the queue
    assert any(line.startswith("  n_main_menu -.->") and "agent / [0]" in line
               and line.endswith("person_support") for line in lines)
    assert "  n_to_billing ==> person_billing" in lines
    assert '  person_billing(("person<br/>queue billing"))' in lines


def test_graph_dot_to_file(capsys, tmp_path):
    target = tmp_path / "flow.dot"
    code, out, _ = run_cli(capsys, "graph", str(SUPPORT), "-f", "dot", "-o", str(target))
    assert code == 0 and out == ""
    dot = target.read_text()
    assert dot.startswith('digraph "support" {')
    assert '"main_menu" -> "ask_order_number" [label="order_status [1]"];' in dot
    assert '"ask_order_number" [shape=box, label="collect: ask_order_number\\n' \
           'order_number (digits x4, confirm)' in dot
    assert '-> "_person_support" [style=dashed' in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot not installed")
def test_graph_svg(capsys, tmp_path):
    target = tmp_path / "flow.svg"
    assert run_cli(capsys, "graph", str(SUPPORT), "-f", "svg", "-o", str(target))[0] == 0
    root = ET.fromstring(target.read_text())
    assert root.tag.endswith("svg")
    texts = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
    assert "menu: main_menu" in texts and "person (queue billing)" in texts


def test_graph_svg_without_graphviz_says_what_to_install(tmp_path):
    env = {"PATH": str(tmp_path), "PYTHONPATH": str(SUPPORT.parents[1])}
    proc = subprocess.run([sys.executable, "-m", "voicebot", "graph", str(SUPPORT), "-f", "svg"],
                          capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 2
    assert "Graphviz 'dot' is not installed: install graphviz" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_graph_of_invalid_flow_is_one_clear_error(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("start: a\n")
    code, _, err = run_cli(capsys, "graph", str(bad))
    assert code == 1 and f"{bad}:1:1: error: missing 'disclosure'" in err


# ----------------------------------------------------------------- chat


def chat(capsys, tmp_path, *lines: str) -> tuple[int, str]:
    script = tmp_path / "caller.txt"
    script.write_text("\n".join(lines) + "\n")
    code, out, _ = run_cli(capsys, "chat", str(SUPPORT), "--script", str(script))
    return code, out


def test_chat_order_found(capsys, tmp_path):
    code, out = chat(capsys, tmp_path, "# the caller speaks", "where is my order",
                     "four five one two", "yes", "no thanks")
    assert code == 0
    assert "bot [main_menu] (disclosure): Hello, you've reached Acme support. I'm an automated " \
           "assistant." in out
    assert "you: where is my order\n  -> intent: order_status\n" in out
    assert "bot [ask_order_number] (confirm): I heard 4 5 1 2. Is that right?" in out
    assert "  lookup [find_order] order_number=4512: found" in out
    assert "bot [order_status] (info): Order 4 5 1 2 is shipped. It left our warehouse" in out
    assert "you: no thanks\n  -> intent: done\n" in out
    assert out.rstrip().endswith(
        "== HANGUP (completed)\npath: main_menu > ask_order_number > find_order > order_status "
        "> anything_else > goodbye\nslots: order_number=4512")


def test_chat_order_not_found_offers_retry_then_transfers(capsys, tmp_path):
    code, out = chat(capsys, tmp_path, "order status", "nine nine nine nine", "yes",
                     "yes please", "#8888", "#1")
    assert code == 0
    assert "  lookup [find_order] order_number=9999: not found" in out
    assert "bot [order_not_found]: I couldn't find order 9 9 9 9. Would you like to try " \
           "another number?" in out
    assert "  lookup [find_order] order_number=8888: not found" in out
    assert "bot [not_found_transfer] (handover): I couldn't find that order, so I'm connecting " \
           "you to our support team." in out
    assert "== TRANSFER to queue 'support' (reason: flow)\n" \
           "   summary: Order not found. Last number tried: 8888." in out


def test_chat_agent_at_first_menu(capsys, tmp_path):
    _, out = chat(capsys, tmp_path, "I want to talk to an agent", "this line is never read")
    assert "  -> escape: the caller asked for a person" in out
    assert "bot [main_menu] (handover): Sure, you asked for a person. I'm connecting you to " \
           "our support team now. Please hold." in out
    assert "== TRANSFER to queue 'support' (reason: keyword)" in out
    assert "this line is never read" not in out


def test_chat_two_no_matches_in_a_row(capsys, tmp_path):
    _, out = chat(capsys, tmp_path, "what's the weather like", "tell me a joke")
    assert "you: what's the weather like\n  -> no match\nbot [main_menu] (reprompt): For the " \
           "status of an order, press 1. For billing, press 2. For a person, press 0." in out
    assert "you: tell me a joke\n  -> no match\nbot [main_menu] (handover): Sorry, I couldn't " \
           "work out what you need, so I'm connecting you to our support team." in out
    assert "== TRANSFER to queue 'support' (reason: no_match)" in out
    assert 'Last heard: "tell me a joke".' in out


def test_chat_dtmf_only_navigation(capsys, tmp_path):
    _, out = chat(capsys, tmp_path, "#1", "#2468#", "#1", "#2")
    assert "you: (keys 1)\n  -> intent: order_status" in out
    assert "bot [ask_order_number] (confirm): I heard 2 4 6 8. Is that right?" in out
    assert "Order 2 4 6 8 is delivered. It was delivered on Tuesday." in out
    assert "you: (keys 2)\n  -> intent: billing" in out
    assert "== TRANSFER to queue 'billing' (reason: flow)\n   summary: Billing question. " \
           "Intent: billing." in out


def test_chat_silence_low_confidence_and_fault(capsys, tmp_path):
    _, out = chat(capsys, tmp_path, "", "")
    assert "you: (silence)\n  -> no input\nbot [main_menu] (reprompt)" in out
    assert "== TRANSFER to queue 'support' (reason: no_input)" in out
    _, out = chat(capsys, tmp_path, "~0.2 order status", "~0.3 order status")
    assert "  -> low confidence" in out and "(reason: low_confidence)" in out
    _, out = chat(capsys, tmp_path, "!fault")
    assert "(reason: error)" in out


def test_chat_unfinished_script_says_where_the_call_is(capsys, tmp_path):
    _, out = chat(capsys, tmp_path, "billing or order? hmm", "my order please")
    assert "you: billing or order? hmm\n  -> no match" in out  # two intents: ambiguous
    assert "== (no more input; the call is still at node 'ask_order_number')" in out


def test_chat_reads_stdin_script():
    proc = subprocess.run([sys.executable, "-m", "voicebot", "chat", str(SUPPORT), "--script",
                           "-"], input="#0\n", capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    assert "== TRANSFER to queue 'support' (reason: dtmf)" in proc.stdout


def test_chat_missing_script_is_one_clear_error(capsys, tmp_path):
    code, _, err = run_cli(capsys, "chat", str(SUPPORT), "--script", str(tmp_path / "no.txt"))
    assert code == 2 and "cannot read script" in err and "Traceback" not in err


def test_graph_labels_branch_conditions_and_lookup_outcomes(sink):
    from voicebot.flow.graph import to_dot, to_mermaid

    mermaid = to_mermaid(sink)
    assert '  n_check_status -->|"order.status == delivered"| n_delivered' in mermaid
    assert "  n_check_status -->|\"order.status in ['shipped', 'delayed'] and order_number is " \
           "set\"| n_on_the_way" in mermaid
    assert '  n_check_status -->|"otherwise"| n_other_status' in mermaid
    assert '  n_find -.->|"lookup failed"| person_support' in mermaid
    dot = to_dot(sink)
    assert '"check_status" [shape=diamond, label="branch: check_status"];' in dot
    assert '"menu" -> "_person_support" [style=dashed' in dot and "after 3 visits" in dot
