"""OS-Atlas: `Thoughts: …` / `Actions: CLICK <point>[[x, y]]</point>`, or a grounding box.

OS-Atlas answers in 0..1000 relative coordinates (`Space.NORM_1000`). The Pro models write a
Thoughts section and an Actions section with one action per line; the base grounding models
answer `<|object_ref_start|>label<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>`,
which arrives without the special tokens once decoded ("label(x1,y1),(x2,y2)"): both become a
click at the box centre (or at the point, for "(x,y)").

The prompt is OS-Atlas-Pro's Executable Language Grounding prompt with the basic actions (CLICK,
TYPE, SCROLL) and the desktop custom actions of the OS-Atlas action space (DOUBLE_CLICK,
RIGHT_CLICK, MOVETO, HOTKEY) plus ENTER, WAIT, COMPLETE and IMPOSSIBLE; IMPOSSIBLE becomes
`Finished(answer="IMPOSSIBLE")`. The OmniACT-style names OS-Atlas-Pro also writes on desktops
are read too: DOUBLECLICK, RIGHTCLICK, PRESS_<KEY> and HOTKEY [CTRL_A]. The mobile verbs
(PRESS_BACK, PRESS_HOME, OPEN_APP, …) have no desktop meaning and are errors, as are unknown
verbs. SCROLL [UP] turns the wheel up.
History is text ("Step n: …" under "History:"), earlier screenshots are not resent; the layout
is the model card's: instructions, the current screenshot, then task and history.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from PIL import Image

from agent.actions import (
    Action,
    Click,
    Finished,
    KeyPress,
    Move,
    Point,
    Said,
    Scroll,
    Space,
    TypeText,
    Wait,
    normalize_key,
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
    point,
    point_from,
    split_keys,
    text_part,
)

__all__ = ["OSAtlasParser"]

EXAMPLE = "Actions: CLICK <point>[[x, y]]</point>"
SYSTEM_PROMPT = """
You are now operating in Executable Language Grounding mode. Your goal is to help users accomplish tasks by suggesting executable actions that best fit their needs. Your skill set includes both basic and custom actions:

1. Basic Actions
Basic actions are standardized and available across all platforms. They provide essential functionality and are defined with a specific format, ensuring consistency and reliability. 
Basic Action 1: CLICK 
    - purpose: Click at the specified position.
    - format: CLICK <point>[[x-axis, y-axis]]</point>
    - example usage: CLICK <point>[[101, 872]]</point>

Basic Action 2: TYPE
    - purpose: Enter specified text at the designated location.
    - format: TYPE [input text]
    - example usage: TYPE [Shanghai shopping mall]

Basic Action 3: SCROLL
    - purpose: SCROLL in the specified direction.
    - format: SCROLL [direction (UP/DOWN/LEFT/RIGHT)]
    - example usage: SCROLL [UP]

2. Custom Actions
Custom actions are unique to each user's platform and environment. They allow for flexibility and adaptability, enabling the model to support new and unseen actions defined by users. These actions extend the functionality of the basic set, making the model more versatile and capable of handling specific tasks.
Custom Action 1: DOUBLE_CLICK
    - purpose: Double click at the specified position.
    - format: DOUBLE_CLICK <point>[[x-axis, y-axis]]</point>
    - example usage: DOUBLE_CLICK <point>[[101, 872]]</point>

Custom Action 2: RIGHT_CLICK
    - purpose: Right click at the specified position.
    - format: RIGHT_CLICK <point>[[x-axis, y-axis]]</point>
    - example usage: RIGHT_CLICK <point>[[101, 872]]</point>

Custom Action 3: MOVETO
    - purpose: Move the mouse to the specified position.
    - format: MOVETO <point>[[x-axis, y-axis]]</point>
    - example usage: MOVETO <point>[[101, 872]]</point>

Custom Action 4: HOTKEY
    - purpose: Use the hot key.
    - format: HOTKEY [keys]
    - example usage: HOTKEY [CTRL+C]

Custom Action 5: ENTER
    - purpose: Press the enter button.
    - format: ENTER
    - example usage: ENTER

Custom Action 6: WAIT
    - purpose: Wait for the screen to load.
    - format: WAIT
    - example usage: WAIT

Custom Action 7: COMPLETE
    - purpose: Indicate the task is finished.
    - format: COMPLETE
    - example usage: COMPLETE

Custom Action 8: IMPOSSIBLE
    - purpose: Indicate the task is infeasible to reach.
    - format: IMPOSSIBLE
    - example usage: IMPOSSIBLE

In most cases, task instructions are high-level and abstract. Carefully read the instruction and action history, then perform reasoning to determine the most appropriate next action. Ensure you strictly generate two sections: Thoughts and Actions.
*Thoughts*: Clearly outline your reasoning process for current step.
*Actions*: Specify the actual actions you will take based on your reasoning. You should follow action format above when generating. 
*Please output both actions and thoughts at the same time.*

*ATTENTION!!* You must answer specific executable actions based on the current page screenshot. 
This means that you cannot do actions that cannot be completed, such as opening an app that does not exist on the current page.

Your current task instruction, action history, and associated screenshot are as follows:
Screenshot: 
"""  # noqa: E501, W291
_CLICKS = {  # the prompt's names, and the OmniACT-style desktop names of OS-Atlas-Pro-7B
    "CLICK": ("left", 1),
    "DOUBLE_CLICK": ("left", 2),
    "DOUBLECLICK": ("left", 2),
    "RIGHT_CLICK": ("right", 1),
    "RIGHTCLICK": ("right", 1),
}
_BARE = {"ENTER", "WAIT", "COMPLETE", "IMPOSSIBLE"}
_MOBILE = {
    "LONG_PRESS", "OPEN_APP", "PRESS_BACK", "PRESS_HOME", "PRESS_RECENT", "NAVIGATE_BACK",
    "NAVIGATE_HOME", "TAP", "SWIPE",
}  # fmt: skip
_KNOWN = (*_CLICKS, "MOVETO", "TYPE", "SCROLL", "HOTKEY", "PRESS_<KEY>", *sorted(_BARE))
_ACTIONS_LABEL = re.compile(r"(?im)^[ \t*#]*actions?[ \t*]*:")
_THOUGHTS_LABEL = re.compile(r"(?i)^[\s*#]*thoughts?[ \t*]*:")
_LINE = re.compile(r"([A-Za-z_]+)(?:\s+(.*))?", re.S)
_POINT = re.compile(r"(<point>)?\s*\[\[\s*([^\[\],]*?)\s*,\s*([^\[\],]*?)\s*\]\]\s*(?(1)</point>)")
_BRACKET = re.compile(r"\[(.*)\]", re.S)
_REF = re.compile(r"<\|object_ref_start\|>(.*?)<\|object_ref_end\|>", re.S)
_BOX = re.compile(r"<\|box_start\|>(.*?)<\|box_end\|>", re.S)
_TRAILING_BOX = re.compile(r"\(([^()]*)\)\s*(?:,\s*\(([^()]*)\)\s*)?$")
_COORDINATE_GROUP = re.compile(r"\(\s*[-+]?\.?\d")


class OSAtlasParser(Parser):
    """OS-Atlas-Pro actions and OS-Atlas-Base grounding answers, 0..1000 relative."""

    name = "osatlas"
    space = Space.NORM_1000
    example = EXAMPLE

    def build_prompt(
        self,
        task: str,
        history: Sequence[PastStep],
        screenshot: Image.Image,
        model_input: tuple[int, int],
    ) -> Prompt:
        lines = [f"Step {n}: {compact(step.output)}" for n, step in enumerate(history, 1)]
        past = "\n" + "\n".join(lines) if lines else "null"
        parts = [
            text_part(SYSTEM_PROMPT),
            image_part(),
            text_part(f"Task instruction: {task}\nHistory: {past}"),
        ]
        return Prompt([message("user", *parts)], [screenshot])

    def grounding_prompt(self, instruction: str, screenshot: Image.Image) -> Prompt:
        """OS-Atlas-Base's grounding question (its README), the screenshot first."""
        question = (
            "In this UI screenshot, what is the position of the element corresponding to the "
            f'command "{instruction}" (with bbox)?'
        )
        return Prompt([message("user", image_part(), text_part(question))], [screenshot])

    def parse_all(self, text: str) -> list[Action]:
        raw = check_answer(text)
        labels = list(_ACTIONS_LABEL.finditer(raw))
        if len(labels) > 1:
            expect_one(len(labels), EXAMPLE)
        thought, region = "", raw.replace("<|im_end|>", "")
        if labels:
            thought = _THOUGHTS_LABEL.sub("", raw[: labels[0].start()], count=1).strip()
            region = raw[labels[0].end() :].replace("<|im_end|>", "")
        elif _THOUGHTS_LABEL.match(raw):
            expect_one(0, EXAMPLE)
        lines = [line.strip() for line in region.splitlines() if line.strip()]
        if not lines:
            expect_one(0, EXAMPLE)
        verb = _LINE.match(lines[0])
        if verb is None or not _is_verb(verb.group(1).upper()):
            return [self._grounding(region, raw, thought)]
        return in_order([self._action(line, raw, thought) for line in lines])  # one per line

    def _action(self, line: str, raw: str, thought: str) -> Action:
        match = _LINE.fullmatch(line)
        if match is None:
            raise ParseError(f"cannot read the action {compact(line, 40)!r}; e.g. {EXAMPLE}")
        verb, argument = match.group(1).upper(), (match.group(2) or "").strip()
        common: Said = {"raw": raw, "thought": thought}
        if verb in _BARE and argument:
            raise ParseError(f"{verb} takes no argument, got {compact(argument, 40)!r}")
        if verb in _CLICKS:
            button, count = _CLICKS[verb]
            return Click(point=self._point(verb, argument), button=button, count=count, **common)
        if verb == "MOVETO":
            return Move(point=self._point(verb, argument), **common)
        if verb == "ENTER":
            return KeyPress(key="enter", **common)
        if verb.startswith("PRESS_") and verb not in _MOBILE:
            if argument:
                raise ParseError(f"{verb} takes no argument, got {compact(argument, 40)!r}")
            return keys_action([verb.removeprefix("PRESS_")], raw, thought)
        if verb == "WAIT":
            return Wait(seconds=5.0, **common)
        if verb == "COMPLETE":
            return Finished(**common)
        if verb == "IMPOSSIBLE":
            return Finished(answer="IMPOSSIBLE", **common)
        if verb in ("TYPE", "SCROLL", "HOTKEY"):
            content = _bracketed(verb, argument)
            if verb == "TYPE":
                return TypeText(text=content, **common)
            if verb == "SCROLL":
                return Scroll(direction=content.strip().lower(), **common)
            return keys_action(_hotkey_keys(content), raw, thought)
        if verb in _MOBILE:
            raise ParseError(f"{verb} is a phone action; on the desktop use one of: {_known()}")
        raise ParseError(f"unsupported action {verb[:40]!r}; use one of: {_known()}")

    def _point(self, verb: str, argument: str) -> Point:
        match = _POINT.fullmatch(argument)
        if match is None:
            raise ParseError(f"{verb} needs a position like <point>[[x, y]]</point>")
        return point(match.group(2), match.group(3), self.space)

    def _grounding(self, region: str, raw: str, thought: str) -> Action:
        """A base-model grounding answer: one box or point, optionally after its label."""
        label = " ".join(_REF.findall(region)).strip()
        region = _REF.sub("", region)
        boxes = _BOX.findall(region)
        if boxes or "<|box_start|>" in region:
            inner = _one_box(boxes)
        else:
            match = _TRAILING_BOX.search(region)
            if match is None or _COORDINATE_GROUP.search(region[: match.start()]):
                raise ParseError(f"not an OS-Atlas action or grounding box; e.g. {EXAMPLE}")
            label = label or region[: match.start()].strip()
            inner = ",".join(group for group in match.groups() if group is not None)
        tokens = [token for token in re.split(r"[\s,()]+", inner) if token]
        return Click(point=point_from(tokens, self.space), raw=raw, thought=thought or label)


def _one_box(boxes: list[str]) -> str:
    """The single `<|box_start|>…<|box_end|>` content; zero or several are an error."""
    expect_one(len(boxes), "<|box_start|>(x1,y1),(x2,y2)<|box_end|>")
    return boxes[0]


def _bracketed(verb: str, argument: str) -> str:
    match = _BRACKET.fullmatch(argument)
    if match is None or not match.group(1).strip():
        raise ParseError(f"{verb} needs its argument in brackets, e.g. {verb} [text]")
    return match.group(1)


def _known() -> str:
    return ", ".join(_KNOWN)


def _is_verb(word: str) -> bool:
    """Whether an answer's first word is an action verb (else it is a grounding answer)."""
    return word in (*_KNOWN, *_MOBILE, "COPY") or word.startswith("PRESS_")


def _hotkey_keys(content: str) -> list[str]:
    """HOTKEY's keys: 'CTRL+C', 'ctrl c', or OmniACT's 'CTRL_A' (underscores joining keys;
    a name that is one key, such as 'page_down', stays one)."""
    keys = split_keys(content)
    if len(keys) == 1 and "_" in keys[0]:
        try:
            normalize_key(keys[0])
        except ParseError:
            return [part for part in keys[0].split("_") if part] or keys
    return keys
