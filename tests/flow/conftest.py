"""Helpers for the flow tests: write small flows to files and load them the real way."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from voicebot.flow.loader import load_flow
from voicebot.flow.model import Flow

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = ROOT / "call_flows" / "support.yaml"

# A small flow with every node kind; tests load it or variants of it.
KITCHEN_SINK = """\
name: sink
start: menu
disclosure: >
  You're talking to an automated assistant. I can check orders.
  Say agent or press 0 at any time for a person.
queues:
  support: our support team
  sales: our sales team
policy:
  max_no_match: 2
  max_no_input: 2
  max_low_confidence: 2
nodes:
  menu:
    kind: menu
    prompt: Say order or press 1. Say sales or press 2. Say survey or press 3.
    max_visits: 3
    intents:
      order:
        phrases: [order, order status, where is my order]
        dtmf: 1
        next: get_order
      sales:
        phrases: [sales, buy something]
        dtmf: 2
        next: to_sales
      survey:
        phrases: [survey]
        dtmf: 3
        next: ask_rating
  get_order:
    kind: collect
    slot: order_number
    type: digits
    length: 4
    store: clear
    prompt: Say or key your four digit order number.
    confirm: true
    next: find
  find:
    kind: lookup
    source: {file: orders.csv, key: order_number}
    result: order
    found: check_status
    not_found: not_found
  check_status:
    kind: branch
    branches:
      - when: {slot: order.status, equals: delivered}
        next: delivered
      - when: [{slot: order.status, in: [shipped, delayed]}, {slot: order_number, set: true}]
        next: on_the_way
    default: other_status
  delivered:
    kind: say
    prompt: Order {order_number} was delivered.
    next: bye
  on_the_way:
    kind: say
    prompt: Order {order_number} is {order.status}.
    next: bye
  other_status:
    kind: say
    prompt: Order {order_number} has status {order.status}.
    next: bye
  not_found:
    kind: transfer
    queue: support
    prompt: I couldn't find that order, so I'm connecting you to our support team.
    summary: "Order {order_number} not found."
  ask_rating:
    kind: collect
    slot: rating
    type: number
    min: 1
    max: 5
    prompt: On a scale of one to five, how did we do?
    next: ask_comment
  ask_comment:
    kind: collect
    slot: comment
    type: free
    store: redacted
    prompt: Anything you'd like to add?
    next: ask_contact
  ask_contact:
    kind: collect
    slot: contact_ok
    type: yes_no
    prompt: May we contact you about it?
    next: thanks
  thanks:
    kind: say
    prompt: Thanks, you rated us {rating}.
    next: bye
  to_sales:
    kind: transfer
    queue: sales
    summary: "Sales enquiry."
  bye:
    kind: hangup
"""

ORDERS_CSV = """\
order_number,status
4512,shipped
2468,delivered
1234,processing
"""


@pytest.fixture
def write_flow(tmp_path: Path) -> Callable[..., Path]:
    """write_flow(yaml_text, name="flow.yaml") -> path (with orders.csv beside it)."""

    def write(text: str, name: str = "flow.yaml") -> Path:
        (tmp_path / "orders.csv").write_text(ORDERS_CSV, encoding="utf-8")
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def sink(write_flow: Callable[..., Path]) -> Flow:
    return load_flow(write_flow(KITCHEN_SINK))
