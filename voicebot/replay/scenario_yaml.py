"""Reading a tester's YAML with every mistake pinned to `file:line:col`: the composed node
tree is walked by hand (not loaded), so each value keeps the mark of where it was written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from voicebot.errors import VoicebotError


class ScenarioError(VoicebotError):
    """A scenario file is wrong; str() is one `file:line:col: message` line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class Reader:
    """Walks the composed YAML tree, collecting problems with their file:line:col."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[str] = []
        self._constructor = SafeConstructor()

    def where(self, node: Node | None) -> str:
        if node is None:
            return f"{self.path}:1:1"
        mark = node.start_mark
        return f"{self.path}:{mark.line + 1}:{mark.column + 1}"

    def fail(self, node: Node | None, message: str) -> None:
        self.problems.append(f"{self.where(node)}: {message}")

    def value(self, node: Node) -> Any:
        return self._constructor.construct_object(node, deep=True)

    def mapping(self, node: Node, what: str, allowed: tuple[str, ...]) -> dict[str, Node]:
        """Keys -> value nodes; unknown and repeated keys are problems."""
        if not isinstance(node, MappingNode):
            self.fail(node, f"{what} must be a mapping of keys ({', '.join(allowed)})")
            return {}
        out: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = self.value(key_node) if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str):
                self.fail(key_node, f"{what}: keys must be text")
            elif key not in allowed:
                self.fail(key_node, f"{what}: unknown key {key!r} "
                                    f"(known: {', '.join(allowed)})")
            elif key in out:
                self.fail(key_node, f"{what}: key {key!r} given twice")
            else:
                out[key] = value_node
        return out

    def text(self, node: Node, what: str) -> str | None:
        value = self.value(node) if isinstance(node, ScalarNode) else None
        if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
            self.fail(node, f"{what} must be text")
            return None
        return str(value)

    def number(self, node: Node, what: str, minimum: float = 0.0) -> float | None:
        value = self.value(node) if isinstance(node, ScalarNode) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(node, f"{what} must be a number")
            return None
        if value < minimum:
            self.fail(node, f"{what} must be at least {minimum:g}")
            return None
        return float(value)

    def flag(self, node: Node, what: str) -> bool:
        value = self.value(node) if isinstance(node, ScalarNode) else None
        if not isinstance(value, bool):
            self.fail(node, f"{what} must be true or false")
            return False
        return value

    def text_list(self, node: Node, what: str, allow_null: bool = False) -> list | None:
        if not isinstance(node, SequenceNode):
            self.fail(node, f"{what} must be a list")
            return None
        items: list[str | None] = []
        for item in node.value:
            if allow_null and isinstance(item, ScalarNode) and self.value(item) is None:
                items.append(None)
                continue
            text = self.text(item, f"each entry of {what}")
            if text is not None:
                items.append(text)
        return items


def compose(path: Path) -> Node:
    """The file's YAML node tree; a file that cannot be read or parsed is one clear problem."""
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError([f"{path}: no such scenario file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([f"{path}: cannot read the scenario: {exc}"]) from None
    try:
        root = yaml.compose(source, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError([f"{where}: not valid YAML: {problem}"]) from None
    if root is None:
        raise ScenarioError([f"{path}:1:1: the scenario is empty"])
    return root
