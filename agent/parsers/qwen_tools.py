"""Qwen2.5-VL and Qwen3-VL computer use: one `<tool_call>{"name": "computer_use", …}</tool_call>`.

The system prompt is the `computer_use` schema in Qwen's `<tools>` block. Qwen2.5-VL answers in
pixels of its resized image (`Space.PIXELS`), Qwen3-VL in 0..1000 (`Space.NORM_1000`, the
cookbook's x / 1000 * width; OSWorld's / 999 differs by under 0.1 %). `left_click_drag` drags
from the pointer unless `start_coordinate` is given; scroll `pixels` (positive: up/right) are 100
per wheel click, rounded up, 1..100 clicks; `terminate`/`answer` become `Finished`; clicks need a
`coordinate`. History: Qwen2.5-VL's is its mobile-agent cookbook's "Task progress" list of past
tool calls; Qwen3-VL's is laid out as OSWorld's Qwen3-VL agent does (past screenshots as turns
with their answers, older steps as text). The text before the tool call is the thought
(without `<think>` or the "Action:" label). The cookbooks' `mobile_use` tool is read too:
click, long press (a held click), swipe (a drag), type, key, Enter, wait, terminate and answer;
Back/Home/Menu and `open` have no desktop meaning and are refused.
"""

from __future__ import annotations

import json
import math
import re
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from PIL import Image

from agent.actions import (
    MAX_HOLD_SECONDS,
    Action,
    Click,
    Drag,
    Finished,
    KeyPress,
    Move,
    Point,
    Said,
    Scroll,
    Space,
    TypeText,
    Wait,
)
from agent.errors import ParseError
from agent.messages import PastStep, Prompt
from agent.parsers.base import Parser
from agent.parsers.common import (
    check_answer,
    compact,
    expect_one,
    image_part,
    in_order,
    keys_action,
    message,
    number,
    point,
    split_keys,
    text_part,
)

__all__ = ["Qwen3ComputerParser", "Qwen25ComputerParser", "QwenComputerParser"]

EXAMPLE = (
    '<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", '
    '"coordinate": [x, y]}}</tool_call>'
)
PIXELS_PER_CLICK = 100
_OPEN, _CLOSE = "<tool_call>", "</tool_call>"
_CLICKS = {
    "left_click": ("left", 1),
    "right_click": ("right", 1),
    "middle_click": ("middle", 1),
    "double_click": ("left", 2),
    "triple_click": ("left", 3),
}
_ACTION_TEXT = {
    "key": "Performs key down presses on the arguments passed in order, then performs key "
    "releases in reverse order.",
    "type": "Type a string of text on the keyboard.",
    "mouse_move": "Move the cursor to a specified (x, y) pixel coordinate on the screen.",
    "left_click": "Click the left mouse button at a specified (x, y) pixel coordinate on the "
    "screen.",
    "left_click_drag": "Click and drag the cursor to a specified (x, y) pixel coordinate on the "
    "screen.",
    "right_click": "Click the right mouse button at a specified (x, y) pixel coordinate on the "
    "screen.",
    "middle_click": "Click the middle mouse button at a specified (x, y) pixel coordinate on the "
    "screen.",
    "double_click": "Double-click the left mouse button at a specified (x, y) pixel coordinate on "
    "the screen.",
    "triple_click": "Triple-click the left mouse button at a specified (x, y) pixel coordinate on "
    "the screen.",
    "scroll": "Performs a scroll of the mouse scroll wheel.",
    "hscroll": "Performs a horizontal scroll.",
    "wait": "Wait specified seconds for the change to happen.",
    "terminate": "Terminate the current task and report its completion status.",
    "answer": "Answer a question.",
}
_TOOLS_HEADER = """# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
"""
_TOOLS_FOOTER = """
</tools>

For each function call, return a json object with function name and arguments within \
<tool_call></tool_call> XML tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call>"""
_RESPONSE_FORMAT = """

# Response format

Response format for every step:
1) Action: a short imperative describing what to do in the UI.
2) A single <tool_call>...</tool_call> block containing only the JSON: \
{"name": <function-name>, "arguments": <args-json-object>}.

Rules:
- Output exactly in the order: Action, <tool_call>.
- Be brief: one sentence for Action.
- Do not output anything else outside those parts.
- If finishing, use action=terminate in the tool call."""
_INSTRUCTION = """Please generate the next move according to the UI screenshot, instruction and \
previous actions.

Instruction: {task}

Previous actions:
{previous}"""
_PROGRESS = "Task progress (You have done the following operation on the current device): "
_THINK = re.compile(r"</?think>")
_ACTION_LABEL = re.compile(r"^\s*Action\s*[:：]\s*")
_MOBILE_KNOWN = (
    "click", "long_press", "swipe", "type", "key", "system_button", "wait", "terminate", "answer",
)  # fmt: skip


class QwenComputerParser(Parser):
    """The shared `computer_use` grammar; subclasses set the space and the advertised actions."""

    actions: ClassVar[tuple[str, ...]]
    edges: ClassVar[str]  # the description's last sentence, as each cookbook words it
    preamble: ClassVar[str] = ""  # what the system turn says before the tools block
    response_format: ClassVar[str] = ""  # what it says after the tools block

    @abstractmethod
    def resolution(self, model_input: tuple[int, int]) -> tuple[int, int]:
        """The screen size the schema announces: what the model's coordinates are relative to."""

    def system_prompt(self, model_input: tuple[int, int]) -> str:
        """The tools block with the `computer_use` schema for this resolution."""
        width, height = self.resolution(model_input)
        function = computer_use_function(width, height, self.actions, self.edges)
        tool = {"type": "function", "function": function}
        schema = json.dumps(tool, ensure_ascii=False)
        return self.preamble + _TOOLS_HEADER + schema + _TOOLS_FOOTER + self.response_format

    def parse_all(self, text: str) -> list[Action]:
        raw = check_answer(text)
        if _OPEN not in raw:
            expect_one(0, EXAMPLE)
        before, _, rest = raw.partition(_OPEN)
        thought = _ACTION_LABEL.sub("", _THINK.sub("", before), count=1).strip()
        actions = []
        while True:  # tool calls one after another, nothing but space between them
            body, closed, rest = rest.partition(_CLOSE)
            if not closed:
                raise ParseError(f"the tool call is not closed with {_CLOSE} (truncated answer?)")
            tool, arguments = _arguments(body)
            if tool == "mobile_use":
                actions.append(self._mobile_action(arguments, raw, thought))
            else:
                actions.append(self._action(arguments, raw, thought))
            between, opened, rest = rest.partition(_OPEN)
            if between.strip():
                raise ParseError(f"unexpected text after {_CLOSE}: {compact(between, 40)!r}")
            if not opened:
                return in_order(actions)

    def _mobile_action(self, args: dict[str, Any], raw: str, thought: str) -> Action:
        """Qwen's `mobile_use` tool (the mobile-agent cookbooks), mapped where a desktop has the
        same thing: a tap is a click, a long press holds it, a swipe drags, Enter is a key."""
        common: Said = {"raw": raw, "thought": thought}
        action = args.get("action")
        if action == "click":
            return Click(point=self._point(args, "coordinate", action), **common)
        if action == "long_press":
            hold = number(args.get("time", 2.0), "time")
            if not 0 < hold <= MAX_HOLD_SECONDS:
                raise ParseError(f"long_press time must be 0..{MAX_HOLD_SECONDS:g} seconds")
            return Click(point=self._point(args, "coordinate", action), hold=hold, **common)
        if action == "swipe":
            start = self._point(args, "coordinate", action)
            return Drag(start=start, end=self._point(args, "coordinate2", action), **common)
        if action in ("type", "key", "answer"):
            text = args.get("text")
            if not isinstance(text, str) or not text:
                raise ParseError(f'{action} needs "text": a non-empty string')
            if action == "key":
                return keys_action(split_keys(text), raw, thought)
            if action == "answer":
                return Finished(answer=text, **common)
            return TypeText(text=text, **common)
        if action == "system_button":
            button = args.get("button")
            if isinstance(button, str) and button.strip().lower() == "enter":
                return KeyPress(key="enter", **common)
            raise ParseError(
                f"system_button {compact(repr(button), 20)} is a phone button with no desktop "
                "meaning; only Enter is pressed"
            )
        if action in ("wait", "terminate"):
            return self._action(args, raw, thought)
        if action == "open":
            raise ParseError("open (an app by name) has no desktop meaning here; click its icon")
        known = ", ".join(_MOBILE_KNOWN)
        raise ParseError(f"unknown mobile_use action {str(action)[:40]!r}; use one of: {known}")

    def _action(self, args: dict[str, Any], raw: str, thought: str) -> Action:
        common: Said = {"raw": raw, "thought": thought}
        action = args.get("action")
        if action in _CLICKS:
            button, count = _CLICKS[action]
            where = self._point(args, "coordinate", action)
            return Click(point=where, button=button, count=count, **common)
        if action == "mouse_move":
            return Move(point=self._point(args, "coordinate", action), **common)
        if action == "left_click_drag":
            start = None
            if "start_coordinate" in args:
                start = self._point(args, "start_coordinate", action)
            return Drag(start=start, end=self._point(args, "coordinate", action), **common)
        if action == "key":
            keys = args.get("keys")
            if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
                raise ParseError('key needs "keys": a non-empty list of key names')
            return keys_action([part for key in keys for part in split_keys(key)], raw, thought)
        if action in ("type", "answer"):
            text = args.get("text")
            if not isinstance(text, str) or (action == "type" and not text):
                raise ParseError(f'{action} needs "text": a non-empty string')
            if action == "answer":
                return Finished(answer=text, **common)
            return TypeText(text=text, **common)
        if action in ("scroll", "hscroll"):
            return self._scroll(action, args, common)
        if action == "wait":
            if "time" not in args:
                raise ParseError('wait needs "time": the seconds to wait')
            return Wait(seconds=number(args["time"], "time"), **common)
        if action == "terminate":
            status = args.get("status")
            if status not in ("success", "failure"):
                raise ParseError('terminate needs "status": "success" or "failure"')
            return Finished(answer=status, **common)
        known = ", ".join(dict.fromkeys([*_CLICKS, *_ACTION_TEXT]))
        raise ParseError(f"unknown action {str(action)[:40]!r}; use one of: {known}")

    def _scroll(self, action: str, args: dict[str, Any], common: Said) -> Scroll:
        if "pixels" not in args:
            raise ParseError(f'{action} needs "pixels" (positive: up/right, negative: down/left)')
        pixels = number(args["pixels"], "pixels")
        clicks = math.ceil(abs(pixels) / PIXELS_PER_CLICK)
        if not 1 <= clicks <= 100:
            raise ParseError(f"cannot scroll {pixels:g} pixels: give 1..10000 pixels, not zero")
        if action == "scroll":
            direction = "up" if pixels > 0 else "down"
        else:
            direction = "right" if pixels > 0 else "left"
        where = self._point(args, "coordinate", action) if "coordinate" in args else None
        return Scroll(direction=direction, amount=clicks, point=where, **common)

    def _point(self, args: dict[str, Any], key: str, action: str) -> Point:
        value = args.get(key)
        if not isinstance(value, list) or len(value) != 2:
            raise ParseError(f'{action} needs "{key}": [x, y], got {compact(repr(value), 40)}')
        return point(value[0], value[1], self.space)


class Qwen25ComputerParser(QwenComputerParser):
    """Qwen2.5-VL: absolute pixels of the resized screenshot, whose size the schema states."""

    name = "qwen2.5-computer"
    space = Space.PIXELS
    example = EXAMPLE
    actions = (
        "key", "type", "mouse_move", "left_click", "left_click_drag", "right_click",
        "middle_click", "double_click", "scroll", "wait", "terminate",
    )  # fmt: skip
    edges = "Don't click boxes on their edges unless asked."
    preamble = "You are a helpful assistant.\n\n"  # the cookbook's system turn (NousFnCallPrompt)

    def resolution(self, model_input: tuple[int, int]) -> tuple[int, int]:
        return model_input

    def build_prompt(
        self,
        task: str,
        history: Sequence[PastStep],
        screenshot: Image.Image,
        model_input: tuple[int, int],
    ) -> Prompt:
        """The Qwen2.5-VL cookbooks' layout: the query, then the screenshot, in one user turn
        (computer_use); once there are past steps, the mobile-agent cookbook's query with its
        "Task progress" list of past tool calls, the only multi-step form Qwen publishes for it."""
        query = task
        if history:
            progress = "".join(
                f"Step {n}: {_tool_call_text(step.output)}; " for n, step in enumerate(history, 1)
            )
            query = f"The user query:  {task}\n{_PROGRESS}{progress}"
        messages = [
            message("system", text_part(self.system_prompt(model_input))),
            message("user", text_part(query), image_part()),
        ]
        return Prompt(messages, [screenshot])


class Qwen3ComputerParser(QwenComputerParser):
    """Qwen3-VL: coordinates relative to a 1000x1000 screen, whatever the image size."""

    name = "qwen3-computer"
    space = Space.NORM_1000
    example = EXAMPLE
    actions = (
        "key", "type", "mouse_move", "left_click", "left_click_drag", "right_click",
        "middle_click", "double_click", "triple_click", "scroll", "hscroll", "wait",
        "terminate", "answer",
    )  # fmt: skip
    edges = "Don't click boxes on their edges."
    response_format = _RESPONSE_FORMAT  # OSWorld's Qwen3-VL agent asks for an Action: line

    def resolution(self, model_input: tuple[int, int]) -> tuple[int, int]:
        return (1000, 1000)

    def build_prompt(
        self,
        task: str,
        history: Sequence[PastStep],
        screenshot: Image.Image,
        model_input: tuple[int, int],
    ) -> Prompt:
        """OSWorld's Qwen3-VL agent layout: the steps whose screenshots are still shown as
        user/assistant turns (the instruction with the first of them), the older ones as
        "Previous actions" (their "Action:" line), the current screenshot last."""
        older = [step for step in history if step.image is None]
        shown = [(step.output, step.image) for step in history if step.image is not None]
        lines = [f"Step {n}: {_action_line(step.output)}" for n, step in enumerate(older, 1)]
        instruction = _INSTRUCTION.format(task=task, previous="\n".join(lines) or "None")
        messages = [message("system", text_part(self.system_prompt(model_input)))]
        for index, (said, _) in enumerate(shown):
            first = [text_part(instruction)] if index == 0 else []
            messages.append(message("user", image_part(), *first))
            messages.append(message("assistant", text_part(said)))
        last = [] if shown else [text_part(instruction)]
        messages.append(message("user", image_part(), *last))
        images = [image for _, image in shown]
        return Prompt(messages, [*images, screenshot])


def _tool_call_text(answer: str) -> str:
    """A past answer's tool call, the JSON between its tags on one line (the whole answer, on
    one line, when it has none), as the mobile-agent cookbook lists the task's progress."""
    inside = answer.partition(_OPEN)[2].partition(_CLOSE)[0]
    return compact(inside or answer)


def _action_line(answer: str) -> str:
    """A past answer's "Action:" line without its label (the whole answer, on one line, when it
    has none), as OSWorld's Qwen3-VL agent lists the steps beyond its screenshots."""
    for line in answer.splitlines():
        if line.strip().lower().startswith("action:"):
            said = _ACTION_LABEL.sub("", line.strip(), count=1).strip()
            if said:
                return said
    return compact(answer)


def computer_use_function(
    width: int, height: int, actions: Sequence[str], edges: str
) -> dict[str, Any]:
    """The `computer_use` function schema as the Qwen cookbooks write it.

    The description and the parameter texts are the cookbooks', so the model sees what it was
    trained on; the clicks are described "at a specified (x, y) pixel coordinate" for both
    models (as the later cookbook does: this runtime never clicks wherever the pointer is).
    """
    description = "\n".join(
        [
            "Use a mouse and keyboard to interact with a computer, and take screenshots.",
            "* This is an interface to a desktop GUI. You do not have access to a terminal or "
            "applications menu. You must click on desktop icons to start applications.",
            "* Some applications may take time to start or process actions, so you may need to "
            "wait and take successive screenshots to see the results of your actions. E.g. if "
            "you click on Firefox and a window doesn't open, try wait and taking another "
            "screenshot.",
            f"* The screen's resolution is {width}x{height}.",
            "* Whenever you intend to move the cursor to click on an element like an icon, you "
            "should consult a screenshot to determine the coordinates of the element before "
            "moving the cursor.",
            "* If you tried clicking on a program or link but it failed to load, even after "
            "waiting, try adjusting your cursor position so that the tip of the cursor visually "
            "falls on the element that you want to click.",
            "* Make sure to click any buttons, links, icons, etc with the cursor tip in the "
            f"center of the element. {edges}",
        ]
    )
    listed = "\n".join(f"* `{name}`: {_ACTION_TEXT[name]}" for name in actions)
    scrolls = " and ".join(f"`action={name}`" for name in ("scroll", "hscroll") if name in actions)
    texts = " and ".join(f"`action={name}`" for name in ("type", "answer") if name in actions)
    return {
        "name_for_human": "computer_use",
        "name": "computer_use",
        "description": description,
        "parameters": {
            "properties": {
                "action": {
                    "description": "The action to perform. The available actions are:\n" + listed,
                    "enum": list(actions),
                    "type": "string",
                },
                "keys": {"description": "Required only by `action=key`.", "type": "array"},
                "text": {"description": f"Required only by {texts}.", "type": "string"},
                "coordinate": {
                    "description": "(x, y): The x (pixels from the left edge) and y (pixels from "
                    "the top edge) coordinates to move the mouse to.",
                    "type": "array",
                },
                "pixels": {
                    "description": "The amount of scrolling to perform. Positive values scroll "
                    f"up, negative values scroll down. Required only by {scrolls}.",
                    "type": "number",
                },
                "time": {
                    "description": "The seconds to wait. Required only by `action=wait`.",
                    "type": "number",
                },
                "status": {
                    "description": "The status of the task. Required only by `action=terminate`.",
                    "type": "string",
                    "enum": ["success", "failure"],
                },
            },
            "required": ["action"],
            "type": "object",
        },
        "args_format": "Format the arguments as a JSON object.",
    }


def _arguments(body: str) -> tuple[str, dict[str, Any]]:
    """The tool's name (`computer_use` or `mobile_use`) and the `arguments` object of one call,
    from strict JSON (no NaN/Infinity)."""
    try:
        call = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise ParseError(f"the tool call is not valid JSON: {compact(str(error), 80)}") from None
    if not isinstance(call, dict) or call.get("name") not in ("computer_use", "mobile_use"):
        raise ParseError('the tool call must be {"name": "computer_use", "arguments": {...}}')
    arguments = call.get("arguments")
    if not isinstance(arguments, dict) or not isinstance(arguments.get("action"), str):
        raise ParseError('the tool call needs "arguments": {"action": "...", ...}')
    return call["name"], arguments


def _reject_constant(name: str) -> float:
    raise ParseError(f"{name} is not a number the tool call may use")
