"""Output conventions: every action kind, real model answers, prompts, rejections and fuzzing."""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from agent.actions import (
    Action,
    CallUser,
    Click,
    Drag,
    Finished,
    Hotkey,
    KeyPress,
    Move,
    Point,
    Scroll,
    Space,
    TypeText,
    Wait,
    points_of,
)
from agent.errors import ActionError, AgentError, CoordinateError, ParseError
from agent.parsers import PARSERS, PastStep, Prompt, get_parser, parser_for_model
from agent.parsers.common import MAX_ANSWER_CHARS, PIXEL_LIMIT, compact, split_keys
from agent.parsers.qwen_tools import Qwen3ComputerParser, Qwen25ComputerParser
from agent.parsers.showui import HISTORY_STEPS
from agent.parsers.uitars import with_box_tokens

PX, K, ONE = Space.PIXELS, Space.NORM_1000, Space.NORM_1
LIMITS = {Space.PIXELS: PIXEL_LIMIT, Space.NORM_1000: 1000.0, Space.NORM_1: 1.0}


def fields(action: Action) -> dict:
    """The action's fields without raw and thought, to compare with an expected action."""
    values = dict(vars(action))
    values.pop("raw")
    values.pop("thought")
    return values


def check(name: str, text: str, expected: Action, thought: str | None = None) -> Action:
    action = get_parser(name).parse(text)
    assert type(action) is type(expected)
    assert fields(action) == fields(expected)
    assert action.raw == text
    if thought is not None:
        assert action.thought == thought
    return action


def rejects(name: str, text: str, match: str = "") -> ActionError:
    with pytest.raises(ActionError, match=match or None) as caught:
        get_parser(name).parse(text)
    return caught.value


# -- registry ---------------------------------------------------------------------------------


def test_registered_names_and_spaces():
    spaces = {name: parser.space for name, parser in PARSERS.items()}
    assert spaces == {
        "uitars": PX,
        "uitars-v1": K,
        "qwen2.5-computer": PX,
        "qwen3-computer": K,
        "showui": ONE,
        "osatlas": K,
    }
    for name in PARSERS:
        assert get_parser(name).name == name


def test_unknown_parser_lists_the_names():
    with pytest.raises(AgentError, match="uitars-v1") as caught:
        get_parser("cogagent")
    assert not isinstance(caught.value, ActionError)


@pytest.mark.parametrize(
    ("model_type", "name", "expected"),
    [
        ("qwen2_5_vl", "ByteDance-Seed/UI-TARS-1.5-7B", "uitars"),
        ("qwen2_5_vl", "/hf/models--ByteDance-Seed--UI-TARS-1.5-7B/snapshots/0a1b2c", "uitars"),
        ("qwen2_5_vl", "/models/ui_tars_1_5_7b_awq", "uitars"),
        ("qwen2_vl", "bytedance-research/UI-TARS-7B-DPO", "uitars-v1"),
        ("qwen2_vl", "/models/UI-TARS-2B-SFT", "uitars-v1"),
        ("qwen2_vl", "bytedance-research/UI-TARS-72B-SFT", "uitars-v1"),
        ("qwen2_vl", "showlab/ShowUI-2B", "showui"),
        ("qwen2_vl", "OS-Copilot/OS-Atlas-Pro-7B", "osatlas"),
        ("qwen2_vl", "/data/os_atlas_base_7b", "osatlas"),
        ("qwen2_5_vl", "Qwen/Qwen2.5-VL-7B-Instruct", "qwen2.5-computer"),
        ("qwen3_vl", "Qwen/Qwen3-VL-8B-Instruct", "qwen3-computer"),
        ("qwen3_vl_moe", "Qwen/Qwen3-VL-30B-A3B-Instruct", "qwen3-computer"),
        ("qwen2_vl", "Qwen/Qwen2-VL-7B-Instruct", "osatlas"),
    ],
)
def test_parser_for_model(model_type, name, expected):
    assert parser_for_model(model_type, name) == expected
    assert expected in PARSERS


def test_parser_for_an_unknown_model_is_a_clear_error():
    with pytest.raises(AgentError, match=r"qwen2\.5-computer"):
        parser_for_model("llava", "llava-hf/llava-1.5-7b-hf")


# -- shared helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("ctrl c", ["ctrl", "c"]),
        ("ctrl+shift+t", ["ctrl", "shift", "t"]),
        ("Control + C", ["Control", "C"]),
        ("+", ["+"]),
        ("shift +", ["shift", "+"]),
        ("enter", ["enter"]),
    ],
)
def test_split_keys(text, keys):
    assert split_keys(text) == keys


def test_split_keys_refuses_ambiguous_plus():
    with pytest.raises(ParseError):
        split_keys("ctrl++")


# -- UI-TARS ----------------------------------------------------------------------------------


def px(x, y):
    return Point(x, y, PX)


UITARS_CASES = [
    # the README / action_parser test forms
    ("Thought: test\nAction: click(point='<point>200 300</point>')", Click(point=px(200, 300))),
    (
        "Thought: test\nAction: click(start_box='<|box_start|>(112,224)<|box_end|>')",
        Click(point=px(112, 224)),
    ),
    ("Action: click(start_box='(235,512)')", Click(point=px(235, 512))),
    ("Action: click(start_box='(10,20,30,40)')", Click(point=px(20, 30))),
    ("Action: click(start_box='[10, 20, 30, 40]')", Click(point=px(20, 30))),
    ("Action: left_double(start_box='(5,6)')", Click(point=px(5, 6), count=2)),
    ("Action: right_single(point='<point>7 8</point>')", Click(point=px(7, 8), button="right")),
    ("Action: middle_click(start_box='(9,10)')", Click(point=px(9, 10), button="middle")),
    (
        "Action: drag(start_point='<point>1 2</point>', end_point='<point>3 4</point>')",
        Drag(start=px(1, 2), end=px(3, 4)),
    ),
    ("Action: drag(start_box='(1,2)', end_box='(3,4)')", Drag(start=px(1, 2), end=px(3, 4))),
    ("Action: hover(start_box='(11,12)')", Move(point=px(11, 12))),
    ("Action: hotkey(key='ctrl c')", Hotkey(keys=("ctrl", "c"))),
    ("Action: hotkey(key='ctrl shift t')", Hotkey(keys=("ctrl", "shift", "t"))),
    ("Action: hotkey(key='enter')", KeyPress(key="enter")),
    ("Action: press(key='Escape')", KeyPress(key="esc")),
    ("Action: keydown(key='pagedown')", KeyPress(key="pagedown")),
    ("Action: type(content='hello')", TypeText(text="hello")),
    ("Action: type(content='hello\\n')", TypeText(text="hello\n")),
    ("Action: type(content='it\\'s \"quoted\"')", TypeText(text='it\'s "quoted"')),
    ("Action: type(content='it's fine')", TypeText(text="it's fine")),
    ("Action: type(content='C:\\Users\\me')", TypeText(text="C:\\Users\\me")),
    ("Action: type(content=\"double (quoted), x='1'\")", TypeText(text="double (quoted), x='1'")),
    (
        "Action: scroll(start_box='(100,200)', direction='down')",
        Scroll(direction="down", point=px(100, 200)),
    ),
    ("Action: scroll(direction='up')", Scroll(direction="up")),
    ("Action: wait()", Wait(seconds=5.0)),
    ("Action: finished(content='The price is 42.')", Finished(answer="The price is 42.")),
    ("Action: finished()", Finished(answer="")),
    ("Action: call_user()", CallUser(question="")),
    # forms real answers use: the label after the thought on its line, the full-width colon
    ("Thought: open it. Action: click(start_box='(5,6)')", Click(point=px(5, 6))),
    ("Thought：打开设置\nAction：click(start_box='(7,8)')", Click(point=px(7, 8))),
    ("Action：hotkey(key='ctrl c')", Hotkey(keys=("ctrl", "c"))),
]


@pytest.mark.parametrize(("text", "expected"), UITARS_CASES)
def test_uitars_actions(text, expected):
    check("uitars", text, expected)


def test_uitars_real_answer_with_thought():
    text = (
        "Thought: The search box is at the top of the page. I'll click it to type the query.\n"
        "Action: click(start_box='(1023,88)')"
    )
    action = check(
        "uitars",
        text,
        Click(point=px(1023, 88)),
        thought="The search box is at the top of the page. I'll click it to type the query.",
    )
    assert action.raw == text


def test_uitars_type_to_submit_keeps_the_trailing_newline():
    text = "Thought: Type the city and press Enter.\nAction: type(content='New York\\n')"
    action = check("uitars", text, TypeText(text="New York\n"))
    assert action.thought == "Type the city and press Enter."


def test_uitars_call_user_asks_with_the_thought():
    text = "Thought: I need the password to continue.\nAction: call_user()"
    check("uitars", text, CallUser(question="I need the password to continue."))


def test_uitars_thought_before_an_inline_label():
    action = get_parser("uitars").parse("Thought: open it. Action: click(start_box='(5,6)')")
    assert action.thought == "open it."
    wide = get_parser("uitars").parse("Thought：打开设置\nAction：click(start_box='(7,8)')")
    assert wide.thought == "打开设置"
    # a thought that names "Action:" itself, with the real label on its own line, still works
    named = get_parser("uitars").parse(
        "Thought: the Action: menu\nAction: click(point='<point>1 2</point>')"
    )
    assert named.thought == "the Action: menu"


def test_uitars_v1_is_0_to_1000():
    text = (
        "Thought: Open the File menu.\nAction: click(start_box='<|box_start|>(23,45)<|box_end|>')"
    )
    check("uitars-v1", text, Click(point=Point(23, 45, K)), thought="Open the File menu.")
    check("uitars-v1", "Action: click(start_box='(1000,1000)')", Click(point=Point(1000, 1000, K)))
    rejects("uitars-v1", "Action: click(start_box='(1001,5)')", "outside")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("Thought: nothing to do", "found 0 actions"),
        ("click(start_box='(1,2)')", "found 0 actions"),
        ("Action: click(start_box='(1,2)')\n\nAction: wait()", "found 2 actions"),
        ("Action: click(start_box='(1,2)')\n\ntype(content='x')", "found 2 actions"),
        ("Action: click(start_box='(1,2", "not closed"),
        ("Action: click(start_box='(1,2)'", "not closed"),
        ("Action: click(start_box='(-1,2)')", "outside"),
        ("Action: click(start_box='(1e9,2)')", ""),
        ("Action: click(start_box='(nan,2)')", ""),
        ("Action: click(start_box='(1,2,3)')", "2 numbers"),
        ("Action: click(start_box='(30,40,10,20)')", "not \\(left, top"),
        ("Action: click(start_box='(1.2.3,4)')", ""),
        ("Action: click(start_box=(1,2))", "quoted"),
        ("Action: click()", "missing"),
        ("Action: click(start_box='(1,2)', point='<point>1 2</point>')", "2 times"),
        ("Action: click(start_box='(1,2)', start_box='(1,2)')", "twice"),
        ("Action: click(start_box='(1,2)', button='left')", "does not take"),
        ("Action: tap(start_box='(1,2)')", "unknown action"),
        ("Action: long_press(start_box='(1,2)')", "unknown action"),
        ("Action: hotkey(key='ctrl banana')", "unknown key"),
        ("Action: hotkey(key='')", "no key"),
        ("Action: press(key='ctrl c')", "one key"),
        ("Action: type(content='')", "nothing to type"),
        ("Action: scroll(start_box='(1,2)', direction='sideways')", "direction"),
        ("Action: scroll(start_box='(1,2)')", "missing"),
        ("Action: drag(start_box='(1,2)')", "missing"),
        ("   \n  ", "found 0 actions"),
        ("Action: click(start_box='(1,2)') trailing words", "expected an action call"),
    ],
)
def test_uitars_rejects(text, match):
    rejects("uitars", text, match)


def test_uitars_rejects_a_huge_pixel():
    error = rejects("uitars", "Action: click(start_box='(100001,2)')")
    assert isinstance(error, CoordinateError)


# -- Qwen computer use ------------------------------------------------------------------------


def tool_call(action: str, thought: str = "", tool: str = "computer_use", **arguments) -> str:
    call = {"name": tool, "arguments": {"action": action, **arguments}}
    prefix = f"{thought}\n" if thought else ""
    return f"{prefix}<tool_call>\n{json.dumps(call)}\n</tool_call>"


CLICK_AT = '"computer_use", "arguments": {"action": "left_click", "coordinate": '


def raw_call(rest: str) -> str:
    """A tool call written by hand, for JSON that json.dumps would not produce."""
    return '<tool_call>{"name": ' + rest + "}</tool_call>"


def qwen_cases(space: Space) -> list[tuple[str, Action]]:
    def p(x, y):
        return Point(x, y, space)

    return [
        (tool_call("left_click", coordinate=[135, 742]), Click(point=p(135, 742))),
        (tool_call("right_click", coordinate=[1, 2]), Click(point=p(1, 2), button="right")),
        (tool_call("middle_click", coordinate=[1, 2]), Click(point=p(1, 2), button="middle")),
        (tool_call("double_click", coordinate=[1, 2]), Click(point=p(1, 2), count=2)),
        (tool_call("triple_click", coordinate=[1, 2]), Click(point=p(1, 2), count=3)),
        (tool_call("mouse_move", coordinate=[3.5, 4]), Move(point=p(3.5, 4))),
        (
            tool_call("left_click_drag", start_coordinate=[1, 2], coordinate=[30, 40]),
            Drag(start=p(1, 2), end=p(30, 40)),
        ),
        (tool_call("left_click_drag", coordinate=[30, 40]), Drag(start=None, end=p(30, 40))),
        (tool_call("key", keys=["ctrl", "s"]), Hotkey(keys=("ctrl", "s"))),
        (tool_call("key", keys=["Return"]), KeyPress(key="enter")),
        (tool_call("key", keys=["ctrl+shift+t"]), Hotkey(keys=("ctrl", "shift", "t"))),
        (tool_call("type", text="hello world\n"), TypeText(text="hello world\n")),
        (tool_call("scroll", pixels=-250), Scroll(direction="down", amount=3)),
        (
            tool_call("scroll", pixels=100, coordinate=[5, 6]),
            Scroll(direction="up", amount=1, point=p(5, 6)),
        ),
        (tool_call("scroll", pixels=5), Scroll(direction="up", amount=1)),
        (tool_call("hscroll", pixels=-300), Scroll(direction="left", amount=3)),
        (tool_call("hscroll", pixels=300), Scroll(direction="right", amount=3)),
        (tool_call("wait", time=2), Wait(seconds=2.0)),
        (tool_call("terminate", status="success"), Finished(answer="success")),
        (tool_call("terminate", status="failure"), Finished(answer="failure")),
        (tool_call("answer", text="42 items"), Finished(answer="42 items")),
        # the mobile-agent cookbooks' mobile_use tool, where a desktop has the same thing
        (mobile("click", coordinate=[1, 2]), Click(point=p(1, 2))),
        (mobile("long_press", coordinate=[1, 2], time=2), Click(point=p(1, 2), hold=2.0)),
        (
            mobile("swipe", coordinate=[1, 2], coordinate2=[3, 40]),
            Drag(start=p(1, 2), end=p(3, 40)),
        ),
        (mobile("type", text="café 東京"), TypeText(text="café 東京")),
        (mobile("key", text="enter"), KeyPress(key="enter")),
        (mobile("system_button", button="Enter"), KeyPress(key="enter")),
        (mobile("wait", time=1.5), Wait(seconds=1.5)),
        (mobile("terminate", status="success"), Finished(answer="success")),
        (mobile("answer", text="3 unread"), Finished(answer="3 unread")),
        ("Action：" + tool_call("left_click", coordinate=[9, 9]), Click(point=p(9, 9))),
    ]


def mobile(action: str, **arguments) -> str:
    return tool_call(action, tool="mobile_use", **arguments)


@pytest.mark.parametrize(("text", "expected"), qwen_cases(PX))
def test_qwen25_actions(text, expected):
    check("qwen2.5-computer", text, expected)


@pytest.mark.parametrize(("text", "expected"), qwen_cases(K))
def test_qwen3_actions(text, expected):
    check("qwen3-computer", text, expected)


def test_qwen_real_answers_and_thought():
    # the OSWorld Qwen3-VL response format, and the cookbook's bare tool call
    text = (
        "Action: Click the Firefox icon in the taskbar.\n<tool_call>\n"
        '{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [135, 742]}}'
        "\n</tool_call>"
    )
    check(
        "qwen3-computer",
        text,
        Click(point=Point(135, 742, K)),
        "Click the Firefox icon in the taskbar.",
    )
    text = (
        '<tool_call>{"name": "computer_use", "arguments": {"action": "key", "keys": ["ctrl", "s"]}}'
        "</tool_call>"
    )
    check("qwen2.5-computer", text, Hotkey(keys=("ctrl", "s")), "")
    text = "<think>\nThe dialog needs confirming.\n</think>\n" + tool_call("key", keys=["enter"])
    check("qwen3-computer", text, KeyPress(key="enter"), "The dialog needs confirming.")


@pytest.mark.parametrize("name", ["qwen2.5-computer", "qwen3-computer"])
@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("I will click the button.", "found 0 actions"),
        (tool_call("left_click", coordinate=[1, 2]) * 2, "found 2 actions"),
        (tool_call("left_click", coordinate=[1, 2])[:-5], "not closed"),
        ('<tool_call>{"name": "computer_use", "arguments": {"action": "left_click"', "not closed"),
        ('<tool_call>{"name": "computer_use", "arguments": </tool_call>', "not valid JSON"),
        ("<tool_call>" + "[" * 5000 + "</tool_call>", "JSON"),
        (
            raw_call('"computer", "arguments": {"action": "wait", "time": 1}'),
            "computer_use",
        ),
        ('<tool_call>{"name": "computer_use", "arguments": "left_click"}</tool_call>', "arguments"),
        (
            raw_call(CLICK_AT + "[NaN, 1]}"),
            "NaN",
        ),
        (
            raw_call(CLICK_AT + "[1e999, 1]}"),
            "finite",
        ),
        (
            raw_call(CLICK_AT + "[Infinity, 1]}"),
            "",
        ),
        (tool_call("left_click", coordinate=[-1, 2]), "outside"),
        (tool_call("left_click", coordinate=[1, 2, 3]), r"\[x, y\]"),
        (tool_call("left_click", coordinate=["a", 2]), "number"),
        (tool_call("left_click", coordinate=[True, 2]), "number"),
        (tool_call("left_click"), "coordinate"),
        (tool_call("tap", coordinate=[1, 2]), "unknown action"),
        (tool_call("key", keys=[]), "keys"),
        (tool_call("key", keys="ctrl"), "keys"),
        (tool_call("key", keys=["ctrl", "nonsense"]), "unknown key"),
        (tool_call("type", text=""), "text"),
        (tool_call("type"), "text"),
        (tool_call("scroll"), "pixels"),
        (tool_call("scroll", pixels=0), "pixels"),
        (tool_call("scroll", pixels=-(10**7)), "pixels"),
        (tool_call("wait"), "time"),
        (tool_call("wait", time=3600), "wait must be"),
        (tool_call("terminate"), "status"),
        (tool_call("terminate", status="maybe"), "status"),
        (tool_call("left_click", coordinate=[1, 2]) + " and then I will type", "after"),
        (mobile("system_button", button="Back"), "no desktop meaning"),
        (mobile("system_button", button="Home"), "no desktop meaning"),
        (mobile("open", text="Settings"), "no desktop meaning"),
        (mobile("long_press", coordinate=[1, 2], time=600), "long_press time"),
        (mobile("swipe", coordinate=[1, 2]), "coordinate2"),
        (mobile("key", text="volume_up_now"), "unknown key"),
        (mobile("fly", coordinate=[1, 2]), "unknown mobile_use action"),
        (tool_call("left_click", tool="phone_use", coordinate=[1, 2]), "computer_use"),
    ],
)
def test_qwen_rejects(name, text, match):
    rejects(name, text, match)


def test_qwen3_range_and_qwen25_pixels():
    rejects("qwen3-computer", tool_call("left_click", coordinate=[1001, 5]), "outside")
    check(
        "qwen3-computer",
        tool_call("left_click", coordinate=[1000, 0]),
        Click(point=Point(1000, 0, K)),
    )
    check(
        "qwen2.5-computer",
        tool_call("left_click", coordinate=[1920, 1080]),
        Click(point=px(1920, 1080)),
    )


@pytest.mark.parametrize("parser", [Qwen25ComputerParser(), Qwen3ComputerParser()])
def test_every_advertised_qwen_action_parses(parser):
    schema = tools_schema(parser.system_prompt((1288, 728)))
    enum = schema["function"]["parameters"]["properties"]["action"]["enum"]
    assert enum == list(parser.actions)
    arguments = {
        "key": {"keys": ["ctrl", "c"]},
        "type": {"text": "x"},
        "answer": {"text": "x"},
        "scroll": {"pixels": -100},
        "hscroll": {"pixels": 100},
        "wait": {"time": 1},
        "terminate": {"status": "success"},
        "left_click_drag": {"start_coordinate": [1, 2], "coordinate": [3, 4]},
    }
    for action in enum:
        parser.parse(tool_call(action, **arguments.get(action, {"coordinate": [10, 20]})))


def tools_schema(system: str) -> dict:
    block = re.search(r"<tools>\n(.*)\n</tools>", system, re.S)
    assert block is not None
    return json.loads(block.group(1))


# -- ShowUI -----------------------------------------------------------------------------------


def one(x, y):
    return Point(x, y, ONE)


SHOWUI_CASES = [
    ("[0.73, 0.21]", Click(point=one(0.73, 0.21))),  # the quick start's grounding answer
    ("[0.25, 0.5, 0.75, 1.0]", Click(point=one(0.5, 0.75))),
    ("{'action': 'CLICK', 'value': None, 'position': [0.49, 0.42]}", Click(point=one(0.49, 0.42))),
    ("{'action': 'CLICK', 'value': None, 'position': [0.49, 0.42]},", Click(point=one(0.49, 0.42))),
    (
        '{"action": "TAP", "value": null, "position": [1, 0]}'.replace("null", "None"),
        Click(point=one(1, 0)),
    ),
    ("{'action': 'SELECT', 'value': None, 'position': [0.3, 0.6]}", Click(point=one(0.3, 0.6))),
    ("{'action': 'HOVER', 'value': None, 'position': [0.5, 0.5]}", Move(point=one(0.5, 0.5))),
    ("{'action': 'ENTER', 'value': None, 'position': None}", KeyPress(key="enter")),
    ("{'action': 'ESC', 'value': None, 'position': None}", KeyPress(key="esc")),
    ("{'action': 'INPUT', 'value': 'weather', 'position': None}", TypeText(text="weather")),
    (
        "{'action': 'INPUT', 'value': 'weather', 'position': [0.49, 0.42]}",
        TypeText(text="weather", point=one(0.49, 0.42)),
    ),
    ("{'action': 'SCROLL', 'value': 'down', 'position': None}", Scroll(direction="down")),
    (
        "{'action': 'SCROLL', 'value': 'UP', 'position': [0.5, 0.4]}",
        Scroll(direction="up", point=one(0.5, 0.4)),
    ),
    (
        "{'action': 'SELECT_TEXT', 'value': None, 'position': [[0.1, 0.2], [0.3, 0.2]]}",
        Drag(start=one(0.1, 0.2), end=one(0.3, 0.2)),
    ),
    (
        "{'action': 'ANSWER', 'value': 'Sunny, 21°C', 'position': None}",
        Finished(answer="Sunny, 21°C"),
    ),
    # the mobile action space
    ("{'action': 'TYPE', 'value': 'hello', 'position': None}", TypeText(text="hello")),
    ("{'action': 'SCROLL UP', 'value': None, 'position': None}", Scroll(direction="up")),
    ("{'action': 'SCROLL_LEFT', 'value': None, 'position': None}", Scroll(direction="left")),
    ("{'action': 'PRESS ENTER', 'value': None, 'position': None}", KeyPress(key="enter")),
    ("{'action': 'STATUS TASK COMPLETE', 'value': None, 'position': None}", Finished(answer="")),
    (
        "{'action': 'STATUS_TASK_IMPOSSIBLE', 'value': None, 'position': None}",
        CallUser(question="the model says the task is impossible"),
    ),
    (
        "{'action': 'SWIPE', 'value': None, 'position': [[0.5, 0.8], [0.5, 0.2]]}",
        Drag(start=one(0.5, 0.8), end=one(0.5, 0.2)),
    ),
]


@pytest.mark.parametrize(("text", "expected"), SHOWUI_CASES)
def test_showui_actions(text, expected):
    check("showui", text, expected, thought="")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        # the quick start's navigation answer plans three steps: that is three actions
        (
            "{'action': 'CLICK', 'value': None, 'position': [0.49, 0.42]},\n"
            "{'action': 'INPUT', 'value': 'weather for New York city', 'position': [0.49, 0.42]},\n"
            "{'action': 'ENTER', 'value': None, 'position': None}",
            "found 3 actions",
        ),
        (
            "{'action': 'CLICK', 'value': None, 'position': [0.4, 0.4]}\n"
            "{'action': 'ENTER', 'value': None, 'position': None}",
            "found 2 actions",
        ),
        ("[]", "2 numbers"),
        ("{'action': 'INPUT', 'value': 'x', 'position': [1.49, 0.42]}", "range"),
        ("{'action': 'INPUT', 'value': '', 'position': None}", "text to type"),
        ("{'action': 'CLICK', 'value': None, 'position': [1.2, 0.5]}", "outside"),
        ("{'action': 'CLICK', 'value': None, 'position': [-0.1, 0.5]}", "outside"),
        ("{'action': 'CLICK', 'value': None, 'position': [float('nan'), 0.5]}", "literal"),
        ("{'action': 'CLICK', 'value': None, 'position': [1e999, 0.5]}", "finite"),
        ("{'action': 'CLICK', 'value': None, 'position': None}", "position"),
        ("{'action': 'CLICK', 'value': None, 'position': [0.5]}", "position"),
        ("{'action': 'CLICK', 'value': None, 'position': [True, 0.5]}", "number"),
        ("{'action': 'COPY', 'value': 'x', 'position': None}", "unsupported"),
        ("{'action': 'SWIPE', 'value': None, 'position': [0.1, 0.1]}", "SWIPE needs position"),
        ("{'action': 'PRESS BACK', 'value': None, 'position': None}", "no desktop meaning"),
        ("{'action': 'PRESS_HOME', 'value': None, 'position': None}", "no desktop meaning"),
        ("{'action': 'TYPE', 'value': None, 'position': None}", "text to type"),
        ("{'action': 'SCROLL', 'value': 'sideways', 'position': None}", "direction"),
        ("{'action': 'SCROLL', 'value': None, 'position': None}", "direction"),
        (
            "{'action': 'CLICK', 'value': None, 'position': [0.4, 0.4], 'extra': 1}",
            "unexpected keys",
        ),
        ("{'value': None, 'position': [0.4, 0.4]}", "'action'"),
        ("{'action': 'CLICK', 'value': None, 'position': [0.49, 0.4", "literal"),
        ("__import__('os').system('true')", "literal"),
        ("Click the search box", "literal"),
        ("[" * 5000, "literal"),
        ("9" * 6000, "literal"),
        ("'just text'", "dict"),
    ],
)
def test_showui_rejects(text, match):
    rejects("showui", text, match)


# -- OS-Atlas ---------------------------------------------------------------------------------


def k(x, y):
    return Point(x, y, K)


OSATLAS_CASES = [
    ("actions:\nCLICK <point>[[493,544]]</point>", Click(point=k(493, 544)), ""),  # Pro-7B card
    (
        "<|object_ref_start|>language switch<|object_ref_end|><|box_start|>(576,12),(592,42)"
        "<|box_end|><|im_end|>",  # Base-7B README, special tokens kept
        Click(point=k(584, 27)),
        "language switch",
    ),
    ("language switch(576,12),(592,42)", Click(point=k(584, 27)), "language switch"),
    ("(576,12)", Click(point=k(576, 12)), ""),
    (
        "Thoughts: The search field is empty.\nActions:\nTYPE [Shanghai shopping mall]",
        TypeText(text="Shanghai shopping mall"),
        "The search field is empty.",
    ),
    ("Actions:\nDOUBLE_CLICK <point>[[101, 872]]</point>", Click(point=k(101, 872), count=2), ""),
    (
        "Actions:\nRIGHT_CLICK <point>[[101, 872]]</point>",
        Click(point=k(101, 872), button="right"),
        "",
    ),
    ("Actions:\nMOVETO <point>[[5, 6]]</point>", Move(point=k(5, 6)), ""),
    ("Actions:\nSCROLL [UP]", Scroll(direction="up"), ""),
    ("Actions:\nSCROLL [DOWN]", Scroll(direction="down"), ""),
    ("Actions:\nHOTKEY [CTRL+C]", Hotkey(keys=("ctrl", "c")), ""),
    ("Actions:\nENTER", KeyPress(key="enter"), ""),
    ("PRESS_ENTER", KeyPress(key="enter"), ""),
    ("Actions:\nWAIT", Wait(seconds=5.0), ""),
    ("Thoughts: Done.\nActions:\nCOMPLETE", Finished(), "Done."),
    ("Actions:\nIMPOSSIBLE", Finished(answer="IMPOSSIBLE"), ""),
    # the OmniACT-style desktop names OS-Atlas-Pro-7B writes
    ("Actions:\nDOUBLECLICK <point>[[10, 20]]</point>", Click(point=k(10, 20), count=2), ""),
    ("Actions:\nRIGHTCLICK <point>[[10, 20]]</point>", Click(point=k(10, 20), button="right"), ""),
    ("Actions:\nPRESS_TAB", KeyPress(key="tab"), ""),
    ("Actions:\nPRESS_PAGE_DOWN", KeyPress(key="pagedown"), ""),
    ("Actions:\nHOTKEY [CTRL_A]", Hotkey(keys=("ctrl", "a")), ""),
    ("Actions:\nHOTKEY [CTRL_SHIFT_T]", Hotkey(keys=("ctrl", "shift", "t")), ""),
    ("Actions:\nHOTKEY [PAGE_DOWN]", KeyPress(key="pagedown"), ""),
    (
        "*Thoughts*: Click it.\n*Actions*: CLICK <point>[[1000, 0]]</point>",
        Click(point=k(1000, 0)),
        "Click it.",
    ),
]


@pytest.mark.parametrize(("text", "expected", "thought"), OSATLAS_CASES)
def test_osatlas_actions(text, expected, thought):
    check("osatlas", text, expected, thought)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("Thoughts: I should click the button.", "found 0 actions"),
        ("Actions:\n", "found 0 actions"),
        ("Actions:\nCLICK <point>[[1,2]]</point>\nENTER", "found 2 actions"),
        ("Actions: CLICK <point>[[1,2]]</point>\nActions: ENTER", "found 2 actions"),
        ("<|box_start|>(1,2)<|box_end|><|box_start|>(3,4)<|box_end|>", "found 2 actions"),
        ("<|box_start|>(1,2)", "found 0 actions"),
        ("Actions:\nCLICK <point>[[1001, 5]]</point>", "outside"),
        ("Actions:\nCLICK <point>[[-3, 5]]</point>", "outside"),
        ("Actions:\nCLICK <point>[[nan, 5]]</point>", "number"),
        ("Actions:\nCLICK <point>[[1, 2, 3]]</point>", "position"),
        ("Actions:\nCLICK <point>[[493,544]]", ""),
        ("Actions:\nCLICK", "position"),
        ("Actions:\nCLICK [[1, 2]] extra", "position"),
        ("Actions:\nTYPE", "brackets"),
        ("Actions:\nTYPE []", "brackets"),
        ("Actions:\nSCROLL [SIDEWAYS]", "direction"),
        ("Actions:\nHOTKEY [CTRL+BANANA]", "unknown key"),
        ("Actions:\nENTER now", "no argument"),
        ("Actions:\nPRESS_BACK", "phone action"),
        ("Actions:\nPRESS_BANANA", "unknown key"),
        ("Actions:\nPRESS_TAB now", "no argument"),
        ("Actions:\nHOTKEY [CTRL_BANANA]", "unknown key"),
        ("Actions:\nOPEN_APP [Chrome]", "phone action"),
        ("Actions:\nCOPY [Wednesday]", "unsupported"),
        ("Actions:\nJUMP <point>[[1,2]]</point>", "not an OS-Atlas action"),
        ("the (1,2) button (3,4),(5,6)", "not an OS-Atlas action"),
        ("(1,2),(3", "not an OS-Atlas action"),
    ],
)
def test_osatlas_rejects(text, match):
    rejects("osatlas", text, match)


# -- every parser -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PARSERS))
@pytest.mark.parametrize("text", ["", " ", "x" * (MAX_ANSWER_CHARS + 1), "\x00\x01"])
def test_every_parser_rejects_empty_and_oversized(name, text):
    rejects(name, text)


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_every_parser_rejects_non_text(name):
    with pytest.raises(ParseError):
        get_parser(name).parse(None)  # type: ignore[arg-type]


# -- prompts ----------------------------------------------------------------------------------


def image(shade: int) -> Image.Image:
    return Image.new("RGB", (8, 6), (shade, shade, shade))


SCREENSHOT = image(200)
HISTORY = [  # the oldest step's screenshot was dropped (beyond the loop's image history)
    PastStep("Thought: first\nAction: click(start_box='(1,2)')", None, None),
    PastStep("Thought: second\nAction: hotkey(key='ctrl l')", None, image(50)),
    PastStep("Thought: third\nAction: type(content='abc')", None, image(100)),
]
SENDS_PAST_IMAGES = {"uitars": True, "uitars-v1": True, "qwen3-computer": True}


def image_parts(prompt: Prompt) -> list[dict]:
    return [part for m in prompt.messages for part in m["content"] if part["type"] == "image"]


def assert_well_formed(prompt: Prompt) -> None:
    for m in prompt.messages:
        assert m["role"] in ("system", "user", "assistant")
        assert isinstance(m["content"], list) and m["content"]
        for part in m["content"]:
            assert part["type"] in ("text", "image")
            if part["type"] == "text":
                assert isinstance(part["text"], str)
            assert m["role"] == "user" or part["type"] == "text"
    assert len(image_parts(prompt)) == len(prompt.images)


@pytest.mark.parametrize("name", sorted(PARSERS))
@pytest.mark.parametrize("history", [[], HISTORY], ids=["first-step", "with-history"])
def test_prompt_structure(name, history):
    prompt = get_parser(name).build_prompt(
        "Find the weather in Oslo", history, SCREENSHOT, (1288, 728)
    )
    assert_well_formed(prompt)
    assert prompt.images[-1] is SCREENSHOT
    assert any(part["type"] == "image" for part in prompt.messages[-1]["content"])
    text = json.dumps(prompt.messages, ensure_ascii=False)
    assert "Find the weather in Oslo" in text
    past = [step.image for step in history if step.image is not None]
    expected = past if SENDS_PAST_IMAGES.get(name) else []
    assert prompt.images[:-1] == expected
    words = " ".join(p["text"] for m in prompt.messages for p in m["content"] if "text" in p)
    shown = history[-HISTORY_STEPS:] if name == "showui" else history  # as ShowUI was trained
    for step in shown:  # every earlier answer is still readable, even without its image
        said = with_box_tokens(step.output) if name.startswith("uitars") else step.output
        if name == "qwen3-computer" and step.image is None:  # its "Action:" line, as OSWorld's
            said = said.split("Action:")[-1]
        assert compact(said) in " ".join(words.split())


def test_uitars_history_layout():
    prompt = get_parser("uitars").build_prompt("Open mail", HISTORY, SCREENSHOT, (1288, 728))
    roles = [(m["role"], [p["type"] for p in m["content"]]) for m in prompt.messages]
    assert roles == [
        ("system", ["text"]),
        ("user", ["text"]),
        ("assistant", ["text"]),  # the step whose image was dropped: text only
        ("user", ["image"]),
        ("assistant", ["text"]),
        ("user", ["image"]),
        ("assistant", ["text"]),
        ("user", ["image"]),
    ]
    assert prompt.messages[2]["content"][0]["text"] == with_box_tokens(HISTORY[0].output)
    assert "Open mail" in prompt.messages[1]["content"][0]["text"]
    assert "<point>x1 y1</point>" in prompt.messages[1]["content"][0]["text"]
    v1 = get_parser("uitars-v1").build_prompt("Open mail", [], SCREENSHOT, (1288, 728))
    assert "call_user()" in v1.messages[1]["content"][0]["text"]


@pytest.mark.parametrize("name", ["uitars", "uitars-v1"])
def test_uitars_history_answers_get_their_box_tokens_back(name):
    # decoding skips special tokens; UI-TARS' deployment code puts them back (add_box_token)
    said = "Thought: open it\nAction: drag(start_box='(10,20)', end_box='(30, 40)')"
    past = [PastStep(said, None, None)]
    prompt = get_parser(name).build_prompt("t", past, SCREENSHOT, (1288, 728))
    [answer] = [m for m in prompt.messages if m["role"] == "assistant"]
    assert answer["content"][0]["text"] == (
        "Thought: open it\nAction: drag(start_box='<|box_start|>(10,20)<|box_end|>', "
        "end_box='<|box_start|>(30, 40)<|box_end|>')"
    )
    kept = "Action: click(start_box='<|box_start|>(1,2)<|box_end|>')"  # already there: unchanged
    assert with_box_tokens(kept) == kept
    assert with_box_tokens("Action: click(point='<point>1 2</point>')").endswith("</point>')")


def test_qwen_prompts_state_the_resolution():
    qwen25 = get_parser("qwen2.5-computer").build_prompt("t", HISTORY, SCREENSHOT, (1288, 728))
    system = qwen25.messages[0]["content"][0]["text"]
    assert "The screen's resolution is 1288x728." in tools_schema(system)["function"]["description"]
    qwen3 = get_parser("qwen3-computer").build_prompt("t", HISTORY, SCREENSHOT, (1288, 728))
    system3 = qwen3.messages[0]["content"][0]["text"]
    assert (
        "The screen's resolution is 1000x1000." in tools_schema(system3)["function"]["description"]
    )
    # OSWorld's Qwen3-VL layout: the steps with screenshots as turns, the older ones as text
    roles = [(m["role"], [p["type"] for p in m["content"]]) for m in qwen3.messages]
    assert roles == [
        ("system", ["text"]),
        ("user", ["image", "text"]),  # step 2's screenshot and the instruction
        ("assistant", ["text"]),
        ("user", ["image"]),
        ("assistant", ["text"]),
        ("user", ["image"]),
    ]
    instruction = qwen3.messages[1]["content"][1]["text"]
    assert instruction.endswith("Previous actions:\nStep 1: click(start_box='(1,2)')")
    assert qwen3.messages[2]["content"][0]["text"] == HISTORY[1].output
    assert not system3.startswith("You are a helpful assistant.")
    assert qwen25.messages[0]["content"][0]["text"].startswith("You are a helpful assistant.\n\n")
    assert [p["type"] for p in qwen25.messages[1]["content"]] == ["text", "image"]  # cookbook
    first = get_parser("qwen3-computer").build_prompt("t", [], SCREENSHOT, (1288, 728))
    assert "Previous actions:\nNone" in first.messages[-1]["content"][1]["text"]


def test_osatlas_and_showui_history_text():
    atlas = get_parser("osatlas").build_prompt("t", HISTORY, SCREENSHOT, (1288, 728))
    assert "History: \nStep 1:" in atlas.messages[0]["content"][-1]["text"]
    first = get_parser("osatlas").build_prompt("t", [], SCREENSHOT, (1288, 728))
    assert first.messages[0]["content"][-1]["text"].endswith("History: null")
    showui = get_parser("showui").build_prompt("t", HISTORY, SCREENSHOT, (1288, 728))
    parts = showui.messages[0]["content"]
    assert [p["type"] for p in parts] == ["text", "text", "text", "text", "image"]  # last 2 steps
    assert [p["text"] for p in parts[2:4]] == [step.output.strip() for step in HISTORY[-2:]]
    assert showui.images == [SCREENSHOT]


def test_correction_follows_the_prompt():
    parser = get_parser("uitars")
    prompt = parser.build_prompt("t", HISTORY, SCREENSHOT, (1288, 728))
    fixed = parser.correction(prompt, "Action: tap()", "unknown action 'tap'")
    assert fixed.messages[: len(prompt.messages)] == prompt.messages
    assert fixed.images == prompt.images
    assert_well_formed(fixed)


# -- several actions in one answer: one policy for every parser ------------------------------


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "showui",  # the quick start's navigation answer: a plan of three steps
            "{'action': 'CLICK', 'value': None, 'position': [0.49, 0.42]},\n"
            "{'action': 'INPUT', 'value': 'weather', 'position': [0.49, 0.42]},\n"
            "{'action': 'ENTER', 'value': None, 'position': None}",
            [
                Click(point=one(0.49, 0.42)),
                TypeText(text="weather", point=one(0.49, 0.42)),
                KeyPress(key="enter"),
            ],
        ),
        (
            "uitars",
            "Thought: fill it in\nAction: click(start_box='(5,6)')\n\ntype(content='hi\\n')",
            [Click(point=px(5, 6)), TypeText(text="hi\n")],
        ),
        (
            "qwen2.5-computer",
            tool_call("left_click", coordinate=[1, 2]) + "\n" + tool_call("type", text="x"),
            [Click(point=Point(1, 2, PX)), TypeText(text="x")],
        ),
        (
            "osatlas",
            "Actions:\nCLICK <point>[[1,2]]</point>\nTYPE [abc]\nENTER",
            [Click(point=k(1, 2)), TypeText(text="abc"), KeyPress(key="enter")],
        ),
        (
            "uitars",
            "Action: type(content='done')\nfinished(content='ok')",
            [TypeText(text="done"), Finished(answer="ok")],
        ),
    ],
)
def test_several_actions_come_in_order(name, text, expected):
    actions = get_parser(name).parse_all(text)
    assert [replace(a, raw="", thought="") for a in actions] == expected
    with pytest.raises(ParseError, match=f"found {len(expected)} actions"):
        get_parser(name).parse(text)  # grounding takes exactly one


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("uitars", "Action: finished(content='ok')\nclick(start_box='(1,2)')"),
        ("osatlas", "Actions:\nCOMPLETE\nCLICK <point>[[1,2]]</point>"),
        (
            "showui",
            "[{'action': 'ANSWER', 'value': 'x', 'position': None}, "
            "{'action': 'ENTER', 'value': None, 'position': None}]",
        ),
        (
            "qwen3-computer",
            tool_call("terminate", status="success") + tool_call("left_click", coordinate=[1, 2]),
        ),
    ],
)
def test_a_final_answer_must_come_last(name, text):
    with pytest.raises(ParseError, match="must be the last action"):
        get_parser(name).parse_all(text)


# -- fuzzing ----------------------------------------------------------------------------------

VALID = {
    "uitars": [text for text, _ in UITARS_CASES],
    "uitars-v1": [
        "Thought: go\nAction: click(start_box='<|box_start|>(23,45)<|box_end|>')",
        "Action: drag(start_box='(1,2)', end_box='(999,1000)')",
        "Action: scroll(start_box='(500,500)', direction='down')",
        "Action: type(content='abc\\n')",
    ],
    "qwen2.5-computer": [text for text, _ in qwen_cases(PX)],
    "qwen3-computer": [text for text, _ in qwen_cases(K)],
    "showui": [text for text, _ in SHOWUI_CASES],
    "osatlas": [text for text, _, _ in OSATLAS_CASES],
}
NAMES = [
    "click", "left_double", "right_single", "drag", "hotkey", "press", "type", "scroll",
    "wait", "finished", "call_user", "left_click", "left_click_drag", "key", "terminate",
    "answer", "hscroll", "CLICK", "INPUT", "SCROLL", "ANSWER", "SELECT_TEXT", "TYPE",
    "HOTKEY", "PRESS_BACK", "COMPLETE", "tap", "clik", "", "__import__", "action", "None",
    "mobile_use", "long_press", "swipe", "system_button", "DOUBLECLICK", "PRESS_TAB",
    "SCROLL UP", "STATUS TASK COMPLETE", "PRESS ENTER", "Action：",
]  # fmt: skip
NUMBERS = [
    "0", "-1", "-0", "1000", "1000.0001", "1001", "0.5", "1.5", "1e309", "1e-9", "NaN", "nan",
    "inf", "-inf", "Infinity", "9" * 400, "1" * 5000, "", " ", "12.", ".5", "1.2.3", "0x10",
    "True", "None", "null", "[1, 2]", "1,2", "(1,2)", "1 2",
]  # fmt: skip
JUNK = [
    *"'\"()[]{}<>,:=\\\n ", "<tool_call>", "</tool_call>", "<point>", "</point>", "Action:",
    "Thought:", "actions:", "Actions:\n", "<|box_start|>", "<|box_end|>", "None", "null", "{",
    "}}", "\\n", "\\'", "<think>", "[[", "]]",
]  # fmt: skip
_NUMBER_SPAN = re.compile(r"-?\d+(?:\.\d+)?")


def mutate(name: str, seed: int) -> str:
    """A valid answer for `name` with a few seeded random edits: numbers, names, junk, cuts.

    Edits come from one seed rather than many hypothesis draws: the fuzz tests need thousands
    of inputs in seconds, and a failure still prints the text that broke the parser.
    """
    rng = random.Random(seed)
    text = rng.choice(VALID[name])
    for _ in range(rng.randint(1, 4)):
        edit = rng.choice(["number", "number", "name", "insert", "delete", "cut", "repeat"])
        if edit == "number" and (spans := list(_NUMBER_SPAN.finditer(text))):
            span = rng.choice(spans)
            text = text[: span.start()] + random_number(rng) + text[span.end() :]
        elif edit == "name" and (found := [n for n in NAMES if n and n in text]):
            text = text.replace(rng.choice(found), rng.choice(NAMES), 1)
        elif edit == "insert":
            at = rng.randint(0, len(text))
            text = text[:at] + rng.choice(JUNK) + text[at:]
        elif edit == "delete" and text:
            at = rng.randrange(len(text))
            text = text[:at] + text[at + rng.randint(1, 5) :]
        elif edit == "cut":
            text = text[: rng.randint(0, len(text))]
        elif edit == "repeat":
            text = text + rng.choice(["", "\n", "\n\n", ", "]) + text
    return text


def random_number(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return rng.choice(NUMBERS)
    if kind == 1:
        return str(rng.randint(-(10**12), 10**12))
    if kind == 2:
        return repr(rng.uniform(-2000, 2000))
    return str(rng.randint(0, 1100))


def answers(name: str) -> st.SearchStrategy[str]:
    """Mostly near-valid mutations of real answers, some plain random text."""
    seeds = st.integers(0, 2**32 - 1).map(lambda seed: mutate(name, seed))
    return st.one_of(seeds, seeds, seeds, st.text(max_size=120))


def assert_safe(name: str, text: str) -> None:
    """Never anything but an ActionError; any action's points are finite and in range."""
    parser = get_parser(name)
    try:
        actions = parser.parse_all(text)
    except ActionError:
        return
    assert actions
    for action in actions:
        assert action.raw == text
        for where in points_of(action).values():
            assert where.space is parser.space
            assert math.isfinite(where.x) and math.isfinite(where.y)
            assert 0 <= where.x <= LIMITS[where.space] and 0 <= where.y <= LIMITS[where.space]
    assert not any(isinstance(action, (Finished, CallUser)) for action in actions[:-1])


# 6 parsers x 2,000 = 12,000 fuzzed answers
@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=2000, deadline=None)
@given(data=st.data())
def test_fuzz_never_crashes_and_points_stay_in_range(name, data):
    assert_safe(name, data.draw(answers(name)))


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_valid_samples_parse(name):
    for text in VALID[name]:
        get_parser(name).parse(text)


def test_every_convention_a_model_can_name_has_a_parser():
    from agent.models import CONVENTIONS

    assert sorted(CONVENTIONS) == sorted(PARSERS)
