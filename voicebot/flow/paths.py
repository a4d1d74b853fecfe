"""What is set on every path to a node: the check that a prompt's {slot} or {result.field}
has a value whenever the prompt is said.

A template naming a slot that some path to the node never collects (or a lookup result on a
path where no lookup found a record) is said with a hole on that path ("Goodbye, enjoy your
."), so the validator reports it with one such path. The analysis is the classic "must be
set" data flow over the flow's graph: what is set on entering a node is what every way into
it sets, from nothing at the start; a collect node sets its slot on the way to `next`, a
lookup its result on the way to `found`, and a branch whose condition needs a slot to have
a value sets it on that branch's way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

from voicebot.flow.model import Flow, Node

Names = frozenset[str] | None  # None: anything may be set (a node set aside by a schema error)


def sets_unknown(flow: Flow, node: Node) -> bool:
    """Whether a schema error set aside what says which names `node` sets (its kind, slot
    or result): it may then set any."""
    return flow.is_broken("nodes", node.id) and (
        node.kind is None or any(flow.is_broken("nodes", node.id, key)
                                 for key in ("kind", "slot", "result")))


def ways_on(flow: Flow, node: Node) -> Iterator[tuple[str, Names]]:
    """(target, names set on the way) for every way on from `node` (escalations aside)."""
    if sets_unknown(flow, node):
        for _, target in node.edges():
            yield target, None
        return
    none: frozenset[str] = frozenset()
    for intent in node.intents:
        yield intent.next, none
    for br in node.branches:
        yield br.next, frozenset(c.slot.split(".")[0] for c in br.when if not c.holds(None))
    if node.default:
        yield node.default, none
    if node.next:
        sets = frozenset({node.slot}) if node.kind == "collect" and node.slot else none
        yield node.next, sets
    if node.found:
        yield node.found, frozenset({node.result})
    for target in (node.not_found, node.on_error, node.overflow):
        if target:
            yield target, none


def set_on_entry(flow: Flow) -> dict[str, Names]:
    """Per reachable node, the names set on every path from the start into it."""
    if flow.start not in flow.nodes:
        return {}
    entry: dict[str, Names] = {flow.start: frozenset()}
    todo = deque([flow.start])
    while todo:
        nid = todo.popleft()
        here = entry[nid]
        for target, sets in ways_on(flow, flow.nodes[nid]):
            if target not in flow.nodes:
                continue
            out = None if here is None or sets is None else here | sets
            if target not in entry or entry[target] is None:
                new = out
            else:
                new = entry[target] if out is None else entry[target] & out
            if target not in entry or new != entry[target]:
                entry[target] = new
                todo.append(target)
    return entry


def path_without(flow: Flow, name: str, to: str) -> list[str]:
    """A shortest path of node ids from the start to `to` on which nothing sets `name`."""
    back: dict[str, str | None] = {flow.start: None}
    todo = deque([flow.start])
    while todo:
        nid = todo.popleft()
        if nid == to:
            break
        for target, sets in ways_on(flow, flow.nodes[nid]):
            if target in flow.nodes and target not in back and sets is not None \
                    and name not in sets:
                back[target] = nid
                todo.append(target)
    if to not in back:
        return []
    path: list[str] = []
    at: str | None = to
    while at is not None:
        path.append(at)
        at = back[at]
    return path[::-1]


def reach(flow: Flow, starts: list[str]) -> set[str]:
    """Every node reachable from `starts` (them included)."""
    seen: set[str] = set()
    todo = [s for s in starts if s in flow.nodes]
    while todo:
        nid = todo.pop()
        if nid in seen:
            continue
        seen.add(nid)
        todo.extend(t for _, t in flow.nodes[nid].edges() if t in flow.nodes)
    return seen


def cycles(flow: Flow, keep: Callable[[Node], bool]) -> list[set[str]]:
    """Strongly connected components (with a cycle) of the nodes for which keep(node)."""
    graph = {nid: [t for _, t in n.edges() if t in flow.nodes and keep(flow.nodes[t])]
             for nid, n in flow.nodes.items() if keep(n)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[set[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp: set[str] = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph[v]:
                out.append(comp)

    for v in graph:
        if v not in index:
            visit(v)
    return out
