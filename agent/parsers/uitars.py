"""UI-TARS: `Thought: …` then `Action: click(start_box='(x,y)')`, one call per answer.

UI-TARS-1.5 points are absolute pixels of the resized image it saw (`Space.PIXELS`); UI-TARS v1
(the Qwen2-VL based 2B/7B/72B SFT and DPO releases) answers in 0..1000 (`Space.NORM_1000`), so
it is registered separately as "uitars-v1" with the v1 prompt. A position may be written
`'(x,y)'`, `'<|box_start|>(x,y)<|box_end|>'`, `'<point>x y</point>'` or as a box `(x1,y1,x2,y2)`
(its centre is used), under `start_box`/`point`/`start_point` and `end_box`/`end_point`.
`Action:` may follow the thought on the same line, and `：` (full width) counts as a colon.

Prompt layout, as the UI-TARS OSWorld agent does it ("keep all texts, the last few images"): a
system turn, a user turn with the COMPUTER_USE instruction, then per past step a user turn with
its screenshot when that step still has one (`PastStep.image`) followed by an assistant turn with
the raw answer, its box tokens put back (`with_box_tokens`); steps whose image was dropped keep
only their assistant turn. The current screenshot is the last user turn.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from PIL import Image

from agent.actions import (
    Action,
    CallUser,
    Click,
    Drag,
    Finished,
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
    expect_one,
    image_part,
    in_order,
    keys_action,
    message,
    one_action,
    point_from,
    split_keys,
    text_part,
)

__all__ = ["UITarsParser", "UITarsV1Parser", "with_box_tokens"]

# UI-TARS-1.5's COMPUTER_USE prompt (ui_tars.prompt.COMPUTER_USE_DOUBAO), as the model was
# trained on it; only {instruction} is filled in.
COMPUTER_USE_15 = r"""You are a GUI agent. You are given a task and your action history, with screenshots. You need to perform the next action to complete the task.

## Output Format
```
Thought: ...
Action: ...
```

## Action Space

click(point='<point>x1 y1</point>')
left_double(point='<point>x1 y1</point>')
right_single(point='<point>x1 y1</point>')
drag(start_point='<point>x1 y1</point>', end_point='<point>x2 y2</point>')
hotkey(key='ctrl c') # Split keys with a space and use lowercase. Also, do not use more than 3 keys in one hotkey action.
type(content='xxx') # Use escape characters \', \", and \n in content part to ensure we can parse the content in normal python string format. If you want to submit your input, use \n at the end of content. 
scroll(point='<point>x1 y1</point>', direction='down or up or right or left') # Show more information on the `direction` side.
wait() #Sleep for 5s and take a screenshot to check for any changes.
finished(content='xxx') # Use escape characters \', \", and \n in content part to ensure we can parse the content in normal python string format.


## Note
- Use English in `Thought` part.
- Write a small plan and finally summarize your next action (with its target element) in one sentence in `Thought` part.

## User Instruction
{instruction}
"""  # noqa: E501, W291

# UI-TARS v1's computer prompt (README_v1; box tokens, call_user); docs/prompts.md lists how it
# differs from that text, and why.
COMPUTER_USE_V1 = r"""You are a GUI agent. You are given a task and your action history, with screenshots. You need to perform the next action to complete the task. 

## Output Format
```
Thought: ...
Action: ...
```

## Action Space

click(start_box='<|box_start|>(x1,y1)<|box_end|>')
left_double(start_box='<|box_start|>(x1,y1)<|box_end|>')
right_single(start_box='<|box_start|>(x1,y1)<|box_end|>')
drag(start_box='<|box_start|>(x1,y1)<|box_end|>', end_box='<|box_start|>(x3,y3)<|box_end|>')
hotkey(key='')
type(content='') #If you want to submit your input, use "\n" at the end of `content`.
scroll(start_box='<|box_start|>(x1,y1)<|box_end|>', direction='down or up or right or left')
wait() #Sleep for 5s and take a screenshot to check for any changes.
finished()
call_user() # Submit the task and call the user when the task is unsolvable, or when you need the user's help.


## Note
- Use English in `Thought` part.
- Summarize your next action (with its target element) in one sentence in `Thought` part.

## User Instruction
{instruction}
"""  # noqa: E501, W291

# UI-TARS-1.5's grounding prompt (ui_tars.prompt.GROUNDING_DOUBAO), character for character,
# the stray quote after the point included
GROUNDING_15 = (
    "You are a GUI agent. You are given a task and your action history, with screenshots. You "
    "need to perform the next action to complete the task. \n\n## Output Format\n\nAction: "
    "...\n\n\n## Action Space\nclick(point='<point>x1 y1</point>'')\n\n## User Instruction\n"
    "{instruction}"
)
# UI-TARS v1's single-step grounding prompt (README_v1), followed by the instruction
GROUNDING_V1 = (
    "Output only the coordinate of one point in your response. What element matches the "
    "following task: "
)
EXAMPLE = "Action: click(start_box='(x,y)')"
_START = ("start_box", "point", "start_point")
_END = ("end_box", "end_point")
_CLICKS = {  # action name → (button, count); the UI-TARS names and the UI-TARS-desktop aliases
    "click": ("left", 1),
    "left_single": ("left", 1),
    "left_double": ("left", 2),
    "double_click": ("left", 2),
    "right_single": ("right", 1),
    "right_click": ("right", 1),
    "middle_click": ("middle", 1),
}
_DRAGS = ("drag", "select")
_MOVES = ("hover", "mouse_move")
_KNOWN = (
    *_CLICKS, *_DRAGS, *_MOVES, "type", "hotkey", "press", "keydown", "scroll", "wait",
    "finished", "call_user",
)  # fmt: skip
# "Action:" starts a line, or, when no line starts with it, follows the thought on its line;
# the full-width colon of Chinese-language answers counts as a colon
_LABEL = re.compile(r"(?m)^[ \t]*Action[ \t]*[:：]")
_INLINE_LABEL = re.compile(r"(?<![A-Za-z_])Action[ \t]*[:：]")
_THOUGHT_LABEL = re.compile(r"^\s*(?:Thought|Reflection|Action_Summary)\s*[:：]\s*")
_CALL = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)[ \t]*\(")
_KEYWORD = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*")
_NEXT_KEYWORD = re.compile(r"\s*,\s*[A-Za-z_][A-Za-z0-9_]*\s*=")
_TAGS = re.compile(r"<\|box_start\|>|<\|box_end\|>|</?point>|</?bbox>")
_BARE_BOX = re.compile(r"\b(start_box|end_box)='(\([^'()<>]*\))'")
_SEPARATORS = re.compile(r"[\s,()\[\]]+")
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}


class UITarsParser(Parser):
    """UI-TARS-1.5: absolute pixels of the resized screenshot."""

    name = "uitars"
    space = Space.PIXELS
    example = EXAMPLE
    template = COMPUTER_USE_15

    def build_prompt(
        self,
        task: str,
        history: Sequence[PastStep],
        screenshot: Image.Image,
        model_input: tuple[int, int],
    ) -> Prompt:
        messages = [
            message("system", text_part("You are a helpful assistant.")),
            message("user", text_part(self.template.replace("{instruction}", task))),
        ]
        images: list[Image.Image] = []
        for step in history:
            if step.image is not None:
                messages.append(message("user", image_part()))
                images.append(step.image)
            messages.append(message("assistant", text_part(with_box_tokens(step.output))))
        messages.append(message("user", image_part()))
        images.append(screenshot)
        return Prompt(messages, images)

    def grounding_prompt(self, instruction: str, screenshot: Image.Image) -> Prompt:
        text = GROUNDING_15.replace("{instruction}", instruction)
        return Prompt(
            [message("user", text_part(text)), message("user", image_part())], [screenshot]
        )

    def parse_grounding(self, text: str) -> Action:
        """`Action: click(…)`, or the bare `(x,y)` point a grounding answer may be."""
        raw = check_answer(text)
        if _LABEL.search(raw) or _INLINE_LABEL.search(raw):
            return self.parse(raw)
        return Click(point=self._point("grounding", {"point": raw.strip()}, ("point",)), raw=raw)

    def parse_all(self, text: str) -> list[Action]:
        raw = check_answer(text)
        labels = list(_LABEL.finditer(raw)) or list(_INLINE_LABEL.finditer(raw))
        label = one_action(labels, EXAMPLE)  # one Action: label; its calls may be several
        thought = _THOUGHT_LABEL.sub("", raw[: label.start()], count=1).strip()
        calls = _calls(raw[label.end() :])
        if not calls:
            expect_one(0, EXAMPLE)
        return in_order([self._action(name, args, raw, thought) for name, args in calls])

    def _action(self, name: str, args: dict[str, str], raw: str, thought: str) -> Action:
        common: Said = {"raw": raw, "thought": thought}
        if name in _CLICKS:
            _allow(name, args, _START)
            button, count = _CLICKS[name]
            return Click(
                point=self._point(name, args, _START), button=button, count=count, **common
            )
        if name in _DRAGS:
            _allow(name, args, _START + _END)
            start, end = self._point(name, args, _START), self._point(name, args, _END)
            return Drag(start=start, end=end, **common)
        if name in _MOVES:
            _allow(name, args, _START)
            return Move(point=self._point(name, args, _START), **common)
        if name == "type":
            _allow(name, args, ("content",))
            content = _required(name, args, ("content",))
            if not content:
                raise ParseError("type(content='') has nothing to type")
            return TypeText(text=content, **common)
        if name in ("hotkey", "press", "keydown"):
            _allow(name, args, ("key", "hotkey", "press"))
            keys = split_keys(_required(name, args, ("key", "hotkey", "press")))
            if name != "hotkey" and len(keys) != 1:
                raise ParseError(f"{name}() presses one key, got {keys}; use hotkey() for several")
            return keys_action(keys, raw, thought)
        if name == "scroll":
            _allow(name, args, (*_START, "direction"))
            direction = _required(name, args, ("direction",)).strip().lower()
            where = self._point(name, args, _START) if _present(args, _START) else None
            return Scroll(direction=direction, point=where, **common)
        if name == "wait":
            _allow(name, args, ())
            return Wait(seconds=5.0, **common)
        if name == "finished":
            _allow(name, args, ("content",))
            return Finished(answer=args.get("content", ""), **common)
        if name == "call_user":
            _allow(name, args, ("content",))
            return CallUser(question=args.get("content", "") or thought, **common)
        raise ParseError(f"unknown action {name!r}; use one of: {', '.join(_KNOWN)}")

    def _point(self, name: str, args: dict[str, str], keys: tuple[str, ...]) -> Point:
        value = _required(name, args, keys)
        inner = _TAGS.sub("", value).strip()
        if inner.count("(") != inner.count(")") or inner.count("[") != inner.count("]"):
            raise ParseError(f"unbalanced brackets in position {value!r}")
        numbers = [token for token in _SEPARATORS.split(inner) if token]
        return point_from(numbers, self.space)


class UITarsV1Parser(UITarsParser):
    """UI-TARS v1 (2B/7B/72B SFT and DPO): 0..1000 coordinates and the v1 prompt."""

    name = "uitars-v1"
    space = Space.NORM_1000
    template = COMPUTER_USE_V1

    def grounding_prompt(self, instruction: str, screenshot: Image.Image) -> Prompt:
        parts = (image_part(), text_part(GROUNDING_V1 + instruction))
        return Prompt([message("user", *parts)], [screenshot])


def with_box_tokens(answer: str) -> str:
    """A past answer as the model wrote it: its `start_box`/`end_box` positions back inside
    `<|box_start|>…<|box_end|>`, which decoding (special tokens skipped) dropped, as UI-TARS'
    deployment code does (`add_box_token`) before sending the history again."""
    return _BARE_BOX.sub(r"\1='<|box_start|>\2<|box_end|>'", answer)


def _calls(text: str) -> list[tuple[str, dict[str, str]]]:
    """Every `name(key='value', …)` call in `text`; anything else between them is an error."""
    calls, position, end = [], 0, len(text.rstrip())
    while position < end:
        match = _CALL.match(text, position)
        if match is None:
            snippet = text[position : position + 40].strip()
            raise ParseError(f"expected an action call like {EXAMPLE[8:]}, got {snippet!r}")
        args, position = _arguments(text, match.end())
        calls.append((match.group(1), args))
    return calls


def _arguments(text: str, position: int) -> tuple[dict[str, str], int]:
    """Keyword arguments with quoted values up to the closing parenthesis."""
    args: dict[str, str] = {}
    while True:
        position = _skip_space(text, position)
        if text.startswith(")", position):
            return args, position + 1
        keyword = _KEYWORD.match(text, position)
        if keyword is None:
            raise ParseError(f"malformed arguments: write key='value' pairs, e.g. {EXAMPLE[8:]}")
        name = keyword.group(1)
        if name in args:
            raise ParseError(f"argument {name!r} is given twice")
        args[name], position = _string(text, keyword.end())
        position = _skip_space(text, position)
        if text.startswith(",", position):
            position += 1
        elif not text.startswith(")", position):
            raise ParseError("the action call is not closed with ')' (truncated answer?)")


def _string(text: str, position: int) -> tuple[str, int]:
    """A quoted value with Python escapes; a quote only ends it before ', key=' or ')'."""
    if position >= len(text) or text[position] not in "'\"":
        raise ParseError("argument values must be quoted, e.g. key='value'")
    quote, index, chars = text[position], position + 1, []
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            following = text[index + 1]
            chars.append(_ESCAPES.get(following, "\\" + following))
            index += 2
            continue
        if char == quote:
            after = _skip_space(text, index + 1)
            if after >= len(text) or text[after] == ")" or _NEXT_KEYWORD.match(text, index + 1):
                return "".join(chars), index + 1
        chars.append(char)
        index += 1
    raise ParseError("an argument value is not closed (truncated answer?)")


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def _present(args: dict[str, str], keys: tuple[str, ...]) -> bool:
    return any(key in args for key in keys)


def _required(name: str, args: dict[str, str], keys: tuple[str, ...]) -> str:
    given = [key for key in keys if key in args]
    if len(given) != 1:
        wanted = " or ".join(keys)
        problem = "is missing" if not given else f"is given {len(given)} times ({', '.join(given)})"
        raise ParseError(f"{name}(): {wanted} {problem}")
    return args[given[0]]


def _allow(name: str, args: dict[str, str], keys: tuple[str, ...]) -> None:
    unknown = sorted(set(args) - set(keys))
    if unknown:
        raise ParseError(f"{name}() does not take {', '.join(unknown)}")
