"""Secrets a task marks: the model sees `{{name}}`, the screen gets the value, logs get neither.

A task file's `[secrets]` table (or `Agent(secrets=...)`) maps names to values. The prompt tells
the model the names only; a typed `{{name}}` is replaced by its value at the last moment, in the
executor. Any text that reaches a log, a trajectory or an event passes `redact`, which masks the
values themselves too, in case a model echoes one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from agent.errors import ActionError

__all__ = ["MASK", "redact", "redact_data", "reveal"]

MASK = "••••••"
_REFERENCE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def reveal(text: str, secrets: Mapping[str, str]) -> str:
    """`text` with every `{{name}}` replaced by its secret; an unknown name is an error."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in secrets:
            raise ActionError(f"the model referenced an unknown secret {{{{{name}}}}}")
        return secrets[name]

    return _REFERENCE.sub(value, text)


def redact(text: str, values: Iterable[str]) -> str:
    """`text` with every occurrence of a secret value masked (longest values first)."""
    for secret in sorted((v for v in values if v), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def redact_data(data: Any, values: tuple[str, ...]) -> Any:
    """JSON-ready `data` with secret values masked in every string, however deep."""
    if isinstance(data, str):
        return redact(data, values)
    if isinstance(data, dict):
        return {key: redact_data(value, values) for key, value in data.items()}
    if isinstance(data, list):
        return [redact_data(value, values) for value in data]
    return data
