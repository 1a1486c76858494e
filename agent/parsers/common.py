"""What every output convention shares: numbers, points, boxes, keys, chat parts, one action.

Parsers read untrusted model text, so every helper here either returns a checked value or raises
`ParseError` / `CoordinateError`; none of them guesses, clamps or rounds a coordinate into range.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, TypeVar

from agent.actions import (
    Action,
    CallUser,
    Finished,
    Hotkey,
    KeyPress,
    Point,
    Space,
    normalize_key,
)
from agent.errors import CoordinateError, ParseError

__all__ = [
    "MAX_ANSWER_CHARS",
    "PIXEL_LIMIT",
    "check_answer",
    "compact",
    "expect_one",
    "image_part",
    "in_order",
    "keys_action",
    "message",
    "number",
    "one_action",
    "point",
    "point_from",
    "split_keys",
    "text_part",
]

# Answers are a few hundred characters; a longer one is a runaway generation, not an action.
MAX_ANSWER_CHARS = 20_000
# No model input image is this large; a bigger absolute pixel is garbage, not a screen position.
PIXEL_LIMIT = 100_000.0

_EXTENT = {Space.PIXELS: PIXEL_LIMIT, Space.NORM_1000: 1000.0, Space.NORM_1: 1.0}
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
T = TypeVar("T")


def check_answer(text: object) -> str:
    """The answer itself if it is non-empty text of a sane length."""
    if not isinstance(text, str):
        raise ParseError(f"the answer must be text, got {type(text).__name__}")
    if len(text) > MAX_ANSWER_CHARS:
        raise ParseError(f"the answer is {len(text)} characters long (at most {MAX_ANSWER_CHARS})")
    if not text.strip():
        raise ParseError("the answer is empty: found 0 actions")
    return text


def in_order(actions: list[Action]) -> list[Action]:
    """`actions` as the agent will perform them; a final answer must come last."""
    for action in actions[:-1]:
        if isinstance(action, (Finished, CallUser)):
            raise ParseError(
                f"{type(action).__name__.lower()} must be the last action of an answer, "
                "not followed by others"
            )
    return actions


def one_action(found: Sequence[T], example: str) -> T:
    """The single item of `found`; zero or several actions are an error, never a pick."""
    expect_one(len(found), example)
    return found[0]


def expect_one(count: int, example: str) -> None:
    """Raise unless the answer holds exactly one action (`count` of them were found)."""
    if count != 1:
        raise ParseError(f"found {count} actions in the answer; give exactly one, e.g. {example}")


def number(value: object, what: str = "coordinate") -> float:
    """A finite float from a JSON/literal number or a plain decimal string (no bools, no 1e9)."""
    if isinstance(value, bool):
        raise ParseError(f"{what} must be a number, got {value!r}")
    if isinstance(value, int):
        try:
            result = float(value)
        except OverflowError:
            raise ParseError(f"{what} {str(value)[:20]}… is too large") from None
    elif isinstance(value, float):
        result = value
    elif isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        result = float(value)
    else:
        raise ParseError(f"{what} must be a number, got {str(value)[:40]!r}")
    if not math.isfinite(result):
        raise ParseError(f"{what} {value!r} is not a finite number")
    return result


def point(x: object, y: object, space: Space) -> Point:
    """A point checked against the space's range (for pixels: non-negative and plausible)."""
    fx, fy = number(x, "x coordinate"), number(y, "y coordinate")
    limit = _EXTENT[space]
    if not (0 <= fx <= limit and 0 <= fy <= limit):
        raise CoordinateError(
            f"({fx:g}, {fy:g}) is outside the {space.value} range 0..{limit:g}; "
            "give a position on the screenshot"
        )
    return Point(fx, fy, space)


def point_from(values: Sequence[object], space: Space) -> Point:
    """A point from [x, y], or the centre of a box [x1, y1, x2, y2] (top-left, bottom-right)."""
    if len(values) == 2:
        return point(values[0], values[1], space)
    if len(values) == 4:
        first = point(values[0], values[1], space)
        second = point(values[2], values[3], space)
        if second.x < first.x or second.y < first.y:
            raise ParseError(
                f"box {list(values)} is not (left, top, right, bottom): the second corner "
                "lies above or left of the first"
            )
        return point((first.x + second.x) / 2, (first.y + second.y) / 2, space)
    raise ParseError(f"a position needs 2 numbers (x, y) or 4 (a box), got {len(values)}")


def split_keys(text: str) -> list[str]:
    """Key names from 'ctrl c', 'ctrl+c' or 'ctrl + c'; a '+' that joins nothing is the + key."""
    if not isinstance(text, str):
        raise ParseError(f"keys must be text, got {text!r}")
    tokens = text.split()
    keys = []
    for index, token in enumerate(tokens):
        if token == "+":
            if 0 < index < len(tokens) - 1 and tokens[index - 1] != "+":
                continue  # 'ctrl + c': a separator between two keys
            keys.append(token)
        elif "+" in token:
            parts = token.split("+")
            if any(not part for part in parts):
                raise ParseError(
                    f"cannot tell the keys apart in {token!r}; separate them by spaces"
                )
            keys.extend(parts)
        else:
            keys.append(token)
    return keys


def keys_action(keys: Sequence[str], raw: str, thought: str) -> Action:
    """One key ⇒ KeyPress, several ⇒ Hotkey; unknown key names are a ParseError."""
    names = [normalize_key(key) for key in keys]
    if not names:
        raise ParseError("no key given")
    if len(names) == 1:
        return KeyPress(key=names[0], raw=raw, thought=thought)
    return Hotkey(keys=tuple(names), raw=raw, thought=thought)


def compact(text: str, limit: int = 300) -> str:
    """One line of at most `limit` characters, for action histories written as text."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def text_part(text: str) -> dict[str, Any]:
    """A text part of a chat message, in the transformers chat-template form."""
    return {"type": "text", "text": text}


def image_part() -> dict[str, Any]:
    """An image placeholder part; the image itself travels in `Prompt.images`, in order."""
    return {"type": "image"}


def message(role: str, *parts: dict[str, Any]) -> dict[str, Any]:
    """A chat message with a list of parts (assistant turns too, as the templates expect)."""
    return {"role": role, "content": list(parts)}
