"""The one typed action model: what a parser produces, the loop maps and the executor performs.

Every action is a frozen dataclass that carries the model's raw text and its thought, so a
trajectory shows why each action happened. Points carry the coordinate space they are in: a
parser emits points in the model's space (`Space.PIXELS`, `Space.NORM_1000`, `Space.NORM_1`) and
`agent.coords.to_screen` turns them into `Space.SCREEN` points, the only ones the executor takes.
Key names are checked against `KEY_NAMES` when the action is built, so an unknown key is a parse
error and never a guessed key press.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, replace
from typing import TypedDict

from agent.errors import ParseError

__all__ = [
    "KEY_NAMES",
    "MAX_HOLD_SECONDS",
    "Action",
    "CallUser",
    "Click",
    "Drag",
    "Finished",
    "Hotkey",
    "KeyPress",
    "Move",
    "Point",
    "Said",
    "Scroll",
    "Space",
    "TypeText",
    "Wait",
    "describe",
    "normalize_key",
    "points_of",
    "with_points",
]


MAX_HOLD_SECONDS = 10.0  # the longest long press an answer may ask for


class Space(enum.Enum):
    """The coordinate space of a point, from the model's output to the screen."""

    PIXELS = "pixels"  # absolute pixels of the resized image the model saw
    NORM_1000 = "norm1000"  # 0..1000 over the image the model saw
    NORM_1 = "norm1"  # 0..1 over the image the model saw
    SCREEN = "screen"  # the coordinates pyautogui uses (virtual desktop, logical pixels)


class Said(TypedDict):
    """The text every action carries: `Click(point=p, **said)` in a parser."""

    raw: str
    thought: str


@dataclass(frozen=True)
class Point:
    """A position in a given space; `x` grows to the right and `y` downwards."""

    x: float
    y: float
    space: Space

    def __post_init__(self) -> None:
        if not (math.isfinite(self.x) and math.isfinite(self.y)):
            raise ParseError(f"coordinate ({self.x}, {self.y}) is not a finite number")


@dataclass(frozen=True, kw_only=True)
class Action:
    """Base of every action: the model text it came from and the model's stated reason."""

    raw: str = ""
    thought: str = ""


@dataclass(frozen=True, kw_only=True)
class Click(Action):
    """Press and release a mouse button `count` times at a point (count=2 is a double click);
    `hold` seconds between press and release make a long press (one click only)."""

    point: Point
    button: str = "left"
    count: int = 1
    hold: float = 0.0

    def __post_init__(self) -> None:
        if self.button not in ("left", "right", "middle"):
            raise ParseError(f"unknown mouse button {self.button!r}")
        if not 1 <= self.count <= 3:
            raise ParseError(f"click count must be 1..3, got {self.count}")
        if not 0.0 <= self.hold <= MAX_HOLD_SECONDS or (self.hold and self.count != 1):
            raise ParseError(f"a long press holds one click for 0..{MAX_HOLD_SECONDS:g} s")


@dataclass(frozen=True, kw_only=True)
class Drag(Action):
    """Press at `start` (None: where the pointer is), move to `end` holding the button, release.

    Qwen's `left_click_drag` names only the end: the drag starts where the previous action left
    the pointer, which is what the model means, so that is what we do.
    """

    start: Point | None
    end: Point
    button: str = "left"


@dataclass(frozen=True, kw_only=True)
class Move(Action):
    """Move the pointer without clicking (hover)."""

    point: Point


@dataclass(frozen=True, kw_only=True)
class TypeText(Action):
    """Type text, after a click at `point` when given (ShowUI's INPUT names its field).

    Secrets are referenced as `{{name}}` (see agent.secrets).
    """

    text: str
    point: Point | None = None


@dataclass(frozen=True, kw_only=True)
class Hotkey(Action):
    """Press keys together and release them in reverse order, e.g. ("ctrl", "c")."""

    keys: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ParseError("hotkey without keys")
        object.__setattr__(self, "keys", tuple(normalize_key(key) for key in self.keys))


@dataclass(frozen=True, kw_only=True)
class KeyPress(Action):
    """Press one key `presses` times."""

    key: str
    presses: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", normalize_key(self.key))
        if not 1 <= self.presses <= 50:
            raise ParseError(f"key presses must be 1..50, got {self.presses}")


@dataclass(frozen=True, kw_only=True)
class Scroll(Action):
    """Scroll `amount` wheel clicks in a direction, at a point (or where the pointer is)."""

    direction: str
    amount: int = 5
    point: Point | None = None

    def __post_init__(self) -> None:
        if self.direction not in ("up", "down", "left", "right"):
            raise ParseError(f"unknown scroll direction {self.direction!r}")
        if not 1 <= self.amount <= 100:
            raise ParseError(f"scroll amount must be 1..100, got {self.amount}")


@dataclass(frozen=True, kw_only=True)
class Wait(Action):
    """Do nothing for a while, then look again."""

    seconds: float = 5.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.seconds) and 0 <= self.seconds <= 60):
            raise ParseError(f"wait must be 0..60 seconds, got {self.seconds}")


@dataclass(frozen=True, kw_only=True)
class Finished(Action):
    """The task is done (or cannot be done); `answer` is what the model reports."""

    answer: str = ""


@dataclass(frozen=True, kw_only=True)
class CallUser(Action):
    """The model needs a person: the loop stops and shows the question."""

    question: str = ""


def points_of(action: Action) -> dict[str, Point]:
    """The action's point fields by name (none for keyboard and control actions)."""
    names = ("point", "start", "end")
    return {
        name: value for name in names if isinstance(value := getattr(action, name, None), Point)
    }


def with_points(action: Action, points: dict[str, Point]) -> Action:
    """The same action with its points replaced (used to map model points to the screen)."""
    return replace(action, **points)  # type: ignore[arg-type]  # fields named by points_of


def describe(action: Action, *, secrets: tuple[str, ...] = ()) -> str:
    """A one-line, human-readable form for logs and UIs; secret values are masked."""
    from agent.secrets import redact

    def at(point: Point | None) -> str:
        if point is None:
            return "at the pointer"
        where = f"({point.x:g}, {point.y:g})"
        return where if point.space is Space.SCREEN else f"{where} {point.space.value}"

    match action:
        case Click(point=point, button=button, count=count, hold=hold):
            kind = {1: "click", 2: "double click", 3: "triple click"}[count]
            if hold:
                return f"{button} long press {at(point)} for {hold:g} s"
            return f"{button} {kind} {at(point)}"
        case Drag(start=start, end=end):
            return f"drag from {at(start)} to {at(end)}"
        case Move(point=point):
            return f"move to {at(point)}"
        case TypeText(text=text, point=point):
            where = "" if point is None else f" at {at(point)}"
            return f"type {redact(text, secrets)!r}{where}"
        case Hotkey(keys=keys):
            return "hotkey " + "+".join(keys)
        case KeyPress(key=key, presses=presses):
            return f"press {key}" + (f" ×{presses}" if presses > 1 else "")
        case Scroll(direction=direction, amount=amount, point=point):
            return f"scroll {direction} {amount} {at(point)}"
        case Wait(seconds=seconds):
            return f"wait {seconds:g} s"
        case Finished(answer=answer):
            return f"finished: {redact(answer, secrets)}"
        case CallUser(question=question):
            return f"call user: {question}"
    return type(action).__name__


# Key names as pyautogui spells them, plus the aliases models write. Unknown names are errors.
_ALIASES = {
    "control": "ctrl",
    "ctl": "ctrl",
    "cmd": "command",
    "meta": "win",
    "super": "win",
    "windows": "win",
    "return": "enter",
    "escape": "esc",
    "del": "delete",
    "ins": "insert",
    "pgup": "pageup",
    "page_up": "pageup",
    "pgdn": "pagedown",
    "page_down": "pagedown",
    "arrowup": "up",
    "arrowdown": "down",
    "arrowleft": "left",
    "arrowright": "right",
    "arrow_up": "up",
    "arrow_down": "down",
    "arrow_left": "left",
    "arrow_right": "right",
    "spacebar": "space",
    "bksp": "backspace",
    "back_space": "backspace",
    "option": "alt",
    "caps_lock": "capslock",
    "num_lock": "numlock",
    "print_screen": "printscreen",
    "prtsc": "printscreen",
}
_NAMED = {
    "ctrl",
    "ctrlleft",
    "ctrlright",
    "alt",
    "altleft",
    "altright",
    "shift",
    "shiftleft",
    "shiftright",
    "win",
    "winleft",
    "winright",
    "command",
    "enter",
    "esc",
    "tab",
    "space",
    "backspace",
    "delete",
    "insert",
    "home",
    "end",
    "pageup",
    "pagedown",
    "up",
    "down",
    "left",
    "right",
    "capslock",
    "numlock",
    "scrolllock",
    "printscreen",
    "pause",
    "menu",
    "apps",
    "volumeup",
    "volumedown",
    "volumemute",
    "playpause",
    "nexttrack",
    "prevtrack",
    *(f"f{n}" for n in range(1, 25)),
}
_CHARACTERS = set("abcdefghijklmnopqrstuvwxyz0123456789`-=[]\\;',./~!@#$%^&*()_+{}|:\"<>?")
KEY_NAMES: frozenset[str] = frozenset(_NAMED | _CHARACTERS)


def normalize_key(name: str) -> str:
    """pyautogui's name for a key a model wrote ("Control" → "ctrl"); unknown ⇒ ParseError."""
    if not isinstance(name, str):
        raise ParseError(f"key name must be text, got {name!r}")
    key = name.strip()
    if len(key) != 1:
        key = key.lower().replace(" ", "")
        key = _ALIASES.get(key, key)
    else:
        key = key.lower()
    if key not in KEY_NAMES:
        raise ParseError(f"unknown key {name!r}")
    return key
