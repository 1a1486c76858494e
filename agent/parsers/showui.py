"""ShowUI: `{'action': 'CLICK', 'value': None, 'position': [0.49, 0.42]}`, positions in 0..1.

Grounding answers are a bare `[x, y]` click; navigation answers one Python-literal dict, read
with `ast.literal_eval` (never `eval`), or a plan of several, performed in order as every parser's
multi-action answers are (`agent.parsers.base`). Verbs (web and desktop, and the mobile space:
`_` and spaces alike): CLICK/TAP/SELECT → Click, HOVER → Move, ENTER/ESC/PRESS ENTER → KeyPress,
SCROLL [UP/DOWN/LEFT/RIGHT] → Scroll, SELECT_TEXT/SWIPE → Drag, INPUT/TYPE → TypeText (clicking
its position first if any), ANSWER and STATUS TASK COMPLETE → Finished, STATUS TASK IMPOSSIBLE →
CallUser; PRESS BACK/HOME and COPY are refused. Prompt (ShowUI's quick start and training
layout): one user turn with the navigation prompt, the task, the last two answers as text, and
the current screenshot.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Sequence
from typing import Any

from PIL import Image

from agent.actions import (
    Action,
    CallUser,
    Click,
    Drag,
    Finished,
    KeyPress,
    Move,
    Point,
    Scroll,
    Space,
    TypeText,
)
from agent.errors import ParseError
from agent.messages import PastStep, Prompt
from agent.parsers.base import Parser
from agent.parsers.common import (
    check_answer,
    compact,
    image_part,
    in_order,
    message,
    point,
    point_from,
    text_part,
)

__all__ = ["ShowUIParser"]

EXAMPLE = "{'action': 'CLICK', 'value': None, 'position': [0.49, 0.42]}"
# ShowUI's grounding system text (its QUICK_START), before the screenshot and the query
GROUNDING = (
    "Based on the screenshot of the page, I give a text description and you give its "
    "corresponding location. The coordinate represents a clickable location [x, y] for an "
    "element, which is a relative coordinate on the screenshot, scaled from 0 to 1."
)
# ShowUI's navigation prompt exactly as its quick start builds it for the `web` split:
# `_NAV_SYSTEM.format(_APP="web", _ACTION_SPACE=action_map["web"]) + _NAV_FORMAT`. The model was
# trained on web and phone navigation only (GUIAct, its `data/template/shared_navigation.py`); the
# web split is the one whose actions a desktop has (COPY is refused when answered).
_NAV_SYSTEM = """You are an assistant trained to navigate the web screen. 
Given a task instruction, a screen observation, and an action history sequence, 
output the next action and wait for the next observation. 
Here is the action space:

1. `CLICK`: Click on an element, value is not applicable and the position [x,y] is required. 
2. `INPUT`: Type a string into an element, value is a string to type and the position [x,y] is required. 
3. `SELECT`: Select a value for an element, value is not applicable and the position [x,y] is required. 
4. `HOVER`: Hover on an element, value is not applicable and the position [x,y] is required.
5. `ANSWER`: Answer the question, value is the answer and the position is not applicable.
6. `ENTER`: Enter operation, value and position are not applicable.
7. `SCROLL`: Scroll the screen, value is the direction to scroll and the position is not applicable.
8. `SELECT_TEXT`: Select some text content, value is not applicable and position [[x1,y1], [x2,y2]] is the start and end position of the select operation.
9. `COPY`: Copy the text, value is the text to copy and the position is not applicable.

"""  # noqa: E501, W291
_NAV_FORMAT = """
Format the action as a dictionary with the following keys:
{'action': 'ACTION_TYPE', 'value': 'element', 'position': [x,y]}

If value or position is not applicable, set it as `None`.
Position might be [[x1,y1], [x2,y2]] if the action requires a start and end position.
Position represents the relative coordinates on the screenshot and should be scaled to a range of 0-1.
"""  # noqa: E501
SYSTEM = _NAV_SYSTEM + _NAV_FORMAT
# ShowUI was trained with its last 2 actions as history, as text (TRAIN.md: num_history=2,
# interleaved_history='tttt'): one text part per past answer, no past screenshots.
HISTORY_STEPS = 2
_KEYS = {"ENTER": "enter", "ESC": "esc", "PRESS ENTER": "enter"}
_CLICKS = ("CLICK", "TAP", "SELECT")
_SCROLLS = {f"SCROLL {way}": way.lower() for way in ("UP", "DOWN", "LEFT", "RIGHT")}
_PHONE = ("PRESS BACK", "PRESS HOME", "PRESS RECENT")
_KNOWN = (
    *_CLICKS, "INPUT", "TYPE", "HOVER", "ANSWER", "ENTER", "ESC", "SCROLL", "SELECT_TEXT",
    "SWIPE", *_SCROLLS, "PRESS ENTER", "STATUS TASK COMPLETE", "STATUS TASK IMPOSSIBLE",
)  # fmt: skip
_FIELDS = {"action", "value", "position"}
_ACTION_KEY = re.compile(r"""['"]action['"]\s*:""")


class ShowUIParser(Parser):
    """ShowUI-2B navigation and grounding answers, 0..1 relative positions."""

    name = "showui"
    space = Space.NORM_1
    example = EXAMPLE

    def build_prompt(
        self,
        task: str,
        history: Sequence[PastStep],
        screenshot: Image.Image,
        model_input: tuple[int, int],
    ) -> Prompt:
        parts = [text_part(SYSTEM), text_part(f"Task: {task}")]
        parts += [text_part(step.output.strip()) for step in history[-HISTORY_STEPS:]]
        parts.append(image_part())
        return Prompt([message("user", *parts)], [screenshot])

    def grounding_prompt(self, instruction: str, screenshot: Image.Image) -> Prompt:
        parts = (text_part(GROUNDING), image_part(), text_part(instruction))
        return Prompt([message("user", *parts)], [screenshot])

    def parse_all(self, text: str) -> list[Action]:
        raw = check_answer(text)
        value = _literal(raw.strip())
        if isinstance(value, dict):
            return [self._action(value, raw)]
        if not isinstance(value, (list, tuple)):
            raise ParseError(f"expected a dict like {EXAMPLE} or a point [x, y]")
        if value and all(isinstance(item, dict) for item in value):  # a plan of several steps
            return in_order([self._action(item, raw) for item in value])
        return [Click(point=point_from(value, self.space), raw=raw)]

    def _action(self, fields: dict[Any, Any], raw: str) -> Action:
        unknown = set(fields) - _FIELDS
        if unknown:
            raise ParseError(f"unexpected keys {sorted(map(str, unknown))}; use {sorted(_FIELDS)}")
        verb = fields.get("action")
        if not isinstance(verb, str):
            raise ParseError(f"'action' must be one of {', '.join(_KNOWN)}")
        verb = " ".join(verb.replace("_", " ").upper().split())  # SELECT_TEXT ≡ SELECT TEXT
        value, position = fields.get("value"), fields.get("position")
        if verb in _CLICKS:
            return Click(point=self._point(verb, position), raw=raw)
        if verb == "HOVER":
            return Move(point=self._point(verb, position), raw=raw)
        if verb in _KEYS:
            return KeyPress(key=_KEYS[verb], raw=raw)
        if verb in ("INPUT", "TYPE"):
            if not isinstance(value, str) or not value:
                raise ParseError(f"{verb} needs the text to type as its value")
            where = None if position is None else self._point(verb, position)
            return TypeText(text=value, point=where, raw=raw)
        if verb == "SCROLL":
            if not isinstance(value, str):
                raise ParseError("SCROLL needs a direction as its value: up, down, left or right")
            where = None if position is None else self._point(verb, position)
            return Scroll(direction=value.strip().lower(), point=where, raw=raw)
        if verb in _SCROLLS:
            return Scroll(direction=_SCROLLS[verb], raw=raw)
        if verb in ("SELECT TEXT", "SWIPE"):
            if not isinstance(position, (list, tuple)) or len(position) != 2:
                raise ParseError(f"{verb} needs position [[x1,y1], [x2,y2]]")
            start, end = (self._point(verb, corner) for corner in position)
            return Drag(start=start, end=end, raw=raw)
        if verb == "STATUS TASK COMPLETE":
            return Finished(answer=value if isinstance(value, str) else "", raw=raw)
        if verb == "STATUS TASK IMPOSSIBLE":
            return CallUser(question="the model says the task is impossible", raw=raw)
        if verb in _PHONE:
            raise ParseError(f"{verb} is a phone button with no desktop meaning")
        if verb == "ANSWER":
            if value is not None and not isinstance(value, str):
                raise ParseError("ANSWER needs the answer text as its value")
            return Finished(answer=value or "", raw=raw)
        raise ParseError(f"unsupported action {verb[:40]!r}; use one of: {', '.join(_KNOWN)}")

    def _point(self, verb: str, position: object) -> Point:
        if not isinstance(position, (list, tuple)) or len(position) != 2:
            raise ParseError(f"{verb} needs position [x, y] with 0..1 coordinates")
        return point(position[0], position[1], self.space)


def _literal(text: str) -> object:
    """The Python literal in `text`; any failure of the literal parser is a ParseError.

    `ast.literal_eval` fails in several ways on hostile input (SyntaxError, ValueError,
    TypeError, MemoryError, RecursionError, …), all of which mean "not a ShowUI answer".
    """
    try:
        return _evaluate(text)
    except Exception as error:  # every literal_eval failure means a bad answer
        if len(_ACTION_KEY.findall(text)) > 1:  # a plan, one dict per line: read as a list
            lines = [line.strip().rstrip(",") for line in text.splitlines() if line.strip()]
            try:
                return _evaluate("[" + ",".join(lines) + "]")
            except Exception:  # the same verdict as for the text as it was
                pass
        problem = compact(f"{type(error).__name__}: {error}", 80)
        raise ParseError(f"not a Python literal like {EXAMPLE} ({problem})") from None


def _evaluate(text: str) -> object:
    with warnings.catch_warnings():  # invalid escapes in model text are not our warnings
        warnings.simplefilter("ignore")
        return ast.literal_eval(text)
