"""Prompt templates: {slot} and {result.field} filled from what the call has collected."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

TEMPLATE_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z0-9_]+))?\}")


def slot_value(slots: Mapping[str, Any], ref: str, intent: str | None) -> Any:
    """The value of "name" or "name.field" (a field of a lookup's record); None if unset.
    `intent` is the caller's last chosen intent, unless a slot is named so."""
    name, _, field_name = ref.partition(".")
    if name == "intent" and name not in slots:
        return intent
    value = slots.get(name)
    if field_name:
        return value.get(field_name) if isinstance(value, dict) else None
    return value


def render(template: str, value_of: Callable[[str], Any],
           spell_out: Collection[str] = ()) -> str:
    """`template` filled in; slots named in `spell_out` are read back digit by digit."""
    def fill(m: re.Match[str]) -> str:
        name, field_name = m.group(1), m.group(2)
        value = value_of(f"{name}.{field_name}" if field_name else name)
        if value is None:
            return ""
        if name == "intent":
            return str(value).replace("_", " ")
        text = str(value)
        if not field_name and name in spell_out:
            return " ".join(text)
        return text

    return " ".join(TEMPLATE_RE.sub(fill, template).split())
