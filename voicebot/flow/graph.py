"""Diagrams of a flow (Mermaid, Graphviz DOT, SVG via the `dot` binary) for designers.

Every node shows its kind and prompt, every edge its intent (with key) or condition, and the
escalation edges (escape phrase/key, repeated failures, failed lookups, loop bounds) go
dashed to a "person" node, so a reviewer can see at a glance that no caller is trapped.
"""

from __future__ import annotations

import shutil
import subprocess

from voicebot.errors import VoicebotError
from voicebot.flow.model import Flow, Node

FORMATS = ("mermaid", "dot", "svg")
_MAX_LABEL = 60


class GraphError(VoicebotError):
    """The diagram could not be drawn (e.g. Graphviz missing)."""


def _short(text: str, limit: int = _MAX_LABEL) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _label(flow: Flow, node: Node) -> tuple[str, str]:
    """(title, detail) of a node for any diagram format."""
    title = f"{node.kind}: {node.id}"
    if node.kind == "collect":
        what = node.slot_type or ""
        if node.length:
            what += f" x{node.length}"
        detail = f"{node.slot} ({what}{', confirm' if node.confirm else ''})"
        if node.prompt:
            detail += f" - {node.prompt}"
    elif node.kind == "lookup":
        src = node.source.get("url") or node.source.get("file", "")
        detail = f"{src.rsplit('/', 1)[-1]} by {node.source.get('key')}"
    elif node.kind == "transfer":
        detail = f"queue {node.queue or flow.fallback_queue}"
    elif node.kind == "branch":
        detail = ""
    elif node.kind == "survey":
        detail = f"rating 1-5{f' -> {node.slot}' if node.slot else ''} - {node.prompt or ''}"
    else:
        detail = node.prompt or ""
    if node.max_visits:
        detail += f" (max {node.max_visits} visits)"
    return title, _short(detail)


def _escalations(flow: Flow, node: Node) -> list[str]:
    """Labels of the ways this node hands a caller to a person outside its own edges."""
    out: list[str] = []
    p = node.policy
    if node.listens:
        ways = [p.escape_phrases[0]] if p.escape_phrases else []
        if p.escape_dtmf:
            ways.append(f"[{p.escape_dtmf}]")
        if ways:
            out.append(" / ".join(ways))
        if node.kind != "survey":  # an unanswered survey goes on to `next`
            out.append(f"{p.max_no_match}x no match / {p.max_no_input}x silence")
    if node.kind == "lookup" and not node.on_error:
        out.append("lookup failed")
    if node.max_visits and not node.overflow:
        out.append(f"after {node.max_visits} visits")
    return out


def to_mermaid(flow: Flow) -> str:
    def q(text: str) -> str:
        return text.replace('"', "#quot;")

    def nid(node_id: str) -> str:
        return "n_" + node_id  # flow ids like "end" are Mermaid keywords

    lines = ["flowchart TD",
             f'  disclosure(["disclosure: {q(_short(flow.disclosure))}"])',
             f"  disclosure --> {nid(flow.start)}"]
    for node in flow.nodes.values():
        title, detail = _label(flow, node)
        text = q(f"{title}<br/>{detail}" if detail else title)
        shape = {"hangup": ('(["', '"])'), "transfer": ('[/"', '"/]'),
                 "branch": ('{"', '"}'), "lookup": ('[("', '")]')}.get(node.kind, ('["', '"]'))
        lines.append(f"  {nid(node.id)}{shape[0]}{text}{shape[1]}")
    people: set[str] = set()
    for node in flow.nodes.values():
        for label, target in node.edges():
            arrow = f'-->|"{q(label)}"|' if label else "-->"
            lines.append(f"  {nid(node.id)} {arrow} {nid(target)}")
        escape_queue = node.policy.escape_queue or flow.fallback_queue
        escalations = _escalations(flow, node)
        if escalations:
            people.add(escape_queue)
            label = q("<br/>".join(escalations))
            lines.append(f'  {nid(node.id)} -.->|"{label}"| person_{escape_queue}')
        if node.kind == "transfer":
            queue = node.queue or flow.fallback_queue
            people.add(queue)
            lines.append(f"  {nid(node.id)} ==> person_{queue}")
    for queue in sorted(people):
        lines.append(f'  person_{queue}(("person<br/>queue {q(queue)}"))')
        lines.append(f"  class person_{queue} person")
    if people:
        lines.append("  classDef person fill:#fde,stroke:#cc3366")
    return "\n".join(lines) + "\n"


def to_dot(flow: Flow) -> str:
    def q(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"digraph {q(flow.name)} {{",
             "  rankdir=TB;",
             '  node [shape=box, style="rounded", fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9];',
             f"  _disclosure [shape=note, label={q('disclosure: ' + _short(flow.disclosure))}];",
             f"  _disclosure -> {q(flow.start)};"]
    shapes = {"hangup": "oval", "transfer": "house", "branch": "diamond", "lookup": "cylinder",
              "say": "box", "collect": "box", "ask": "box", "menu": "box"}
    for node in flow.nodes.values():
        title, detail = _label(flow, node)
        label = f"{title}\\n{detail}" if detail else title
        label = label.replace('"', '\\"')
        lines.append(f'  {q(node.id)} [shape={shapes[node.kind]}, label="{label}"];')
    people: set[str] = set()
    for node in flow.nodes.values():
        for label, target in node.edges():
            lines.append(f"  {q(node.id)} -> {q(target)} [label={q(label)}];")
        escape_queue = node.policy.escape_queue or flow.fallback_queue
        escalations = _escalations(flow, node)
        if escalations:
            people.add(escape_queue)
            label = q("; ".join(escalations)).replace("; ", "\\n")
            lines.append(f"  {q(node.id)} -> {q('_person_' + escape_queue)} [style=dashed, "
                         f"color=\"#cc3366\", fontcolor=\"#cc3366\", label={label}];")
        if node.kind == "transfer":
            queue = node.queue or flow.fallback_queue
            people.add(queue)
            lines.append(f"  {q(node.id)} -> {q('_person_' + queue)} [style=bold, "
                         "color=\"#cc3366\"];")
    for queue in sorted(people):
        lines.append(f"  {q('_person_' + queue)} [shape=doublecircle, color=\"#cc3366\", "
                     f"label={q('person (queue ' + queue + ')')}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_svg(flow: Flow) -> str:
    dot = shutil.which("dot")
    if dot is None:
        raise GraphError("Graphviz 'dot' is not installed: install graphviz "
                         "(e.g. apt-get install graphviz) or use --format mermaid or dot")
    proc = subprocess.run([dot, "-Tsvg"], input=to_dot(flow), capture_output=True, text=True,
                          timeout=60, check=False)
    if proc.returncode != 0:
        raise GraphError(f"Graphviz failed: {proc.stderr.strip().splitlines()[:1]}")
    return proc.stdout


def render(flow: Flow, fmt: str) -> str:
    if fmt == "mermaid":
        return to_mermaid(flow)
    if fmt == "dot":
        return to_dot(flow)
    if fmt == "svg":
        return to_svg(flow)
    raise GraphError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
