"""The full loop on the real X display: mss capture, the parsers, the mapping, real pyautogui.

Scripted model answers are written here, in each convention's own coordinates, computed
independently of agent.coords from the button centres the window reports; the window then says
which button received the click. The Xvfb screen of tools/test.sh is 4480x1440; an injected
layout splits it into a 1920x1080 first monitor and a 2560x1440 second one at x=1920 (mss sees
one screen under Xvfb), and a 1280x800 one for the smallest size.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable

import pytest
from desktop import open_button_window, open_xterm_recorder, require_display

from agent.backends.scripted import ScriptedBackend
from agent.capture import CaptureConfig
from agent.coords import Monitor
from agent.events import StepStarted
from agent.executor import ExecutorConfig
from agent.loop import Agent
from pixelprune import PruneConfig, smart_resize

SMALL = (Monitor(0, 0, 1280, 800, index=1),)
TWO = (Monitor(0, 0, 1920, 1080, index=1), Monitor(1920, 0, 2560, 1440, index=2))
MONITORS = [
    pytest.param(SMALL, 1, id="1280x800"),
    pytest.param(TWO, 1, id="1920x1080"),
    pytest.param(TWO, 2, id="2560x1440-second-monitor"),
]


def pixels(family: str) -> Callable:
    """Absolute pixels of the image the family's processor makes of the capture."""

    def convert(fx: float, fy: float, width: int, height: int) -> tuple[int, int]:
        resized_height, resized_width = smart_resize(height, width, family)
        return round(fx * resized_width), round(fy * resized_height)

    return convert


def norm1000(fx: float, fy: float, width: int, height: int) -> tuple[int, int]:
    return round(fx * 1000), round(fy * 1000)


def tool_call(action: str, x: int, y: int) -> str:
    return (
        f'<tool_call>\n{{"name": "computer_use", "arguments": {{"action": "{action}", '
        f'"coordinate": [{x}, {y}]}}}}\n</tool_call>'
    )


# (id, parser, family, coordinates, answer for a left click at (x, y) in those coordinates)
CONVENTIONS = [
    (
        "uitars",
        "uitars",
        "qwen2.5",
        pixels("qwen2.5"),
        lambda x, y: f"Thought: press it\nAction: click(start_box='({x},{y})')",
    ),
    (
        "uitars-box-tokens",
        "uitars",
        "qwen2.5",
        pixels("qwen2.5"),
        lambda x, y: f"Action: click(start_box='<|box_start|>({x},{y})<|box_end|>')",
    ),
    (
        "uitars-point",
        "uitars",
        "qwen2.5",
        pixels("qwen2.5"),
        lambda x, y: f"Thought: ok\nAction: click(point='<point>{x} {y}</point>')",
    ),
    (
        "uitars-v1",
        "uitars-v1",
        "qwen2",
        norm1000,
        lambda x, y: f"Thought: press it\nAction: click(start_box='({x},{y})')",
    ),
    (
        "qwen2.5-computer",
        "qwen2.5-computer",
        "qwen2.5",
        pixels("qwen2.5"),
        lambda x, y: "I will press it.\n" + tool_call("left_click", x, y),
    ),
    (
        "qwen3-computer",
        "qwen3-computer",
        "qwen3",
        norm1000,
        lambda x, y: tool_call("left_click", x, y),
    ),
    ("showui", "showui", "qwen2", None, None),  # 0..1, answers built below
    ("showui-nav", "showui", "qwen2", None, None),
    (
        "osatlas",
        "osatlas",
        "qwen2",
        norm1000,
        lambda x, y: f"<|box_start|>({x - 4},{y - 3}),({x + 4},{y + 3})<|box_end|>",
    ),
    (
        "osatlas-pro",
        "osatlas",
        "qwen2",
        norm1000,
        lambda x, y: f"actions:\nCLICK <point>[[{x}, {y}]]</point>",
    ),
]


def answer_for(convention, fx: float, fy: float, width: int, height: int) -> str:
    name, _, _, convert, write = convention
    if name == "showui":
        return f"[{fx:.3f}, {fy:.3f}]"
    if name == "showui-nav":
        return f"{{'action': 'CLICK', 'value': None, 'position': [{fx:.3f}, {fy:.3f}]}}"
    return write(*convert(fx, fy, width, height))


@pytest.fixture(autouse=True)
def _display() -> None:
    require_display()


def agent_for(outputs, layout, monitor, *, parser, family="qwen2.5", **settings) -> Agent:
    settings = {"mode": "auto", "kill_hotkey": None, "max_steps": len(outputs), **settings}
    executor_pause = settings.pop("pause", 0.1)
    return Agent(
        ScriptedBackend(outputs, family=family, delay=settings.pop("delay", 0.0)),
        capture=CaptureConfig(monitor=monitor, layout=layout),
        parser=parser,
        executor=ExecutorConfig(pause=executor_pause, type_interval=0.0),
        **settings,
    )


def fractions(window, name: str, monitor: Monitor) -> tuple[float, float]:
    """The button centre as a fraction of the monitor (pixel centres at +0.5)."""
    x, y = window.centre(name)
    return (x - monitor.left + 0.5) / monitor.width, (y - monitor.top + 0.5) / monitor.height


def clicked(window, count: int) -> list[str]:
    return [e["target"] for e in window.wait_for(lambda e: e["type"] == "clicked", count)]


@pytest.mark.parametrize(("layout", "index"), MONITORS)
def test_a_click_in_every_convention_lands_on_its_button(layout, index, tmp_path):
    monitor = layout[index - 1]
    rect = (monitor.left, monitor.top, monitor.width, monitor.height)
    with open_button_window(rect, tmp_path) as window:
        targets = window.buttons[: len(CONVENTIONS)]
        for convention, target in zip(CONVENTIONS, targets, strict=True):
            fx, fy = fractions(window, target, monitor)
            output = answer_for(convention, fx, fy, monitor.width, monitor.height)
            agent = agent_for(
                [output],
                layout,
                index,
                parser=convention[1],
                family=convention[2],
                prune=PruneConfig(),
            )
            result = agent.run(f"press {target}")
            step = result.steps[0]
            assert step.outcome == "performed", (convention[0], step.error)
            assert step.frame.monitor == monitor
            assert 0 < step.selection.kept_share < 1
        assert clicked(window, len(targets)) == targets


def test_right_double_drag_scroll_and_typing_reach_the_window(tmp_path):
    monitor = TWO[1]
    with open_button_window((1920, 0, 2560, 1440), tmp_path) as window:
        convert = pixels("qwen2.5")

        def at(name: str) -> str:
            x, y = convert(*fractions(window, name, monitor), monitor.width, monitor.height)
            return f"'<|box_start|>({x},{y})<|box_end|>'"

        outputs = [
            f"Action: right_single(start_box={at('Alpha')})",
            f"Action: left_double(start_box={at('Golf')})",
            f"Action: drag(start_box={at('Bravo')}, end_box={at('Lima')})",
            f"Action: scroll(start_box={at('Echo')}, direction='down')",
            f"Action: scroll(start_box={at('India')}, direction='left')",
            f"Action: click(start_box={at('text')})",
            "Action: type(content='Hello 1!')",
            "Action: finished(content='all done')",
        ]
        result = agent_for(outputs, TWO, 2, parser="uitars").run("exercise the window")
        assert result.status == "finished", [s.error for s in result.steps]
        [right] = window.wait_for(lambda e: e["type"] == "press" and e["button"] == "right")
        assert right["target"] == "Alpha"
        [double] = window.wait_for(lambda e: e["type"] == "double_click")
        assert double["target"] == "Golf"
        [drag] = window.wait_for(lambda e: e["type"] == "drag")
        assert (drag["from_target"], drag["to_target"]) == ("Bravo", "Lima")
        window.wait_for(lambda e: e["type"] == "wheel" and e["direction"] == "left")
        wheel = window.wait_for(lambda e: e["type"] == "wheel")
        assert {(e["direction"], e["target"]) for e in wheel} == {
            ("down", "Echo"),
            ("left", "India"),
        }
        texts = window.wait_for(lambda e: e["type"] == "text" and e["value"] == "Hello 1!")
        assert texts


def test_typed_text_and_a_hotkey_reach_xterm(tmp_path):
    monitor = TWO[0]
    with open_xterm_recorder((200, 150, 800, 500), tmp_path) as term:
        x, y = norm1000(
            *[(c + 0.5) / s for c, s in zip(term.centre, (1920, 1080), strict=True)], 1920, 1080
        )
        outputs = [
            f"Action: click(start_box='({x},{y})')",
            "Action: type(content='echo hi there\\n')",
            "Action: hotkey(key='ctrl a')",
        ]
        result = agent_for(outputs, TWO, 1, parser="uitars-v1", family="qwen2").run("type")
        assert [s.outcome for s in result.steps] == ["performed"] * 3
        assert monitor.contains(*term.centre)
        assert term.wait_for_bytes(b"echo hi there\r\x01").endswith(b"echo hi there\r\x01")


def test_dry_run_performs_nothing_and_confirm_can_refuse(tmp_path):
    monitor = TWO[0]
    with open_button_window((0, 0, 1920, 1080), tmp_path) as window:
        convert = pixels("qwen2.5")
        x, y = convert(*fractions(window, "Alpha", monitor), 1920, 1080)
        click = f"Action: click(start_box='({x},{y})')"
        result = agent_for([click], TWO, 1, parser="uitars", mode="dry-run").run("t")
        assert result.steps[0].outcome == "dry-run"
        asked = []
        refuse = agent_for(
            [click],
            TWO,
            1,
            parser="uitars",
            mode="confirm",
            confirm=lambda action: asked.append(action) or False,
        )
        result = refuse.run("t")
        assert result.status == "rejected"
        assert (asked[0].point.x, asked[0].point.y) == window.centre("Alpha")
        approve = agent_for(
            [click], TWO, 1, parser="uitars", mode="confirm", confirm=lambda action: True
        )
        assert approve.run("t").steps[0].outcome == "performed"
        assert clicked(window, 1) == ["Alpha"]  # the approved click, and only that one
        assert len([e for e in window.events() if e["type"] == "press"]) == 1


def test_the_kill_hotkey_stops_a_running_loop_within_one_step(tmp_path):
    monitor = TWO[0]
    with open_button_window((0, 0, 1920, 1080), tmp_path) as window:
        convert = pixels("qwen2.5")
        outputs = []
        for name in ("Alpha", "Bravo", "Charlie", "Delta"):
            x, y = convert(*fractions(window, name, monitor), 1920, 1080)
            outputs.append(f"Action: click(start_box='({x},{y})')")
        agent = agent_for(outputs, TWO, 1, parser="uitars", kill_hotkey="ctrl+shift+f12", delay=1.0)

        def press_hotkey(event) -> None:
            if isinstance(event, StepStarted) and event.number == 2:
                threading.Timer(
                    0.3, subprocess.run, args=(["xdotool", "key", "ctrl+shift+F12"],)
                ).start()

        agent.events.subscribe(press_hotkey)
        result = agent.run("press them all")
        assert result.status == "stopped" and "kill hotkey" in result.answer
        assert len(result.steps) == 2 and result.steps[1].outcome == "stopped"
        assert clicked(window, 1) == ["Alpha"]
        presses = [e for e in window.events() if e["type"] == "press"]
        assert len(presses) == 1  # Bravo's click, answered after the hotkey, never happened


def test_the_tiny_local_model_runs_the_loop_end_to_end(tiny_models, tmp_path):
    from agent.backends.local import LocalVLM
    from agent.trajectory import load_run

    vlm = LocalVLM(tiny_models["qwen2.5"], name="tiny-qwen2.5")
    with open_button_window((0, 0, 1280, 800), tmp_path / "window") as window:
        agent = Agent(
            vlm,
            capture=CaptureConfig(monitor=1, layout=SMALL),
            parser="qwen2.5-computer",
            mode="auto",
            kill_hotkey=None,
            max_steps=2,
            max_retries=1,
            max_new_tokens=12,
            prune=PruneConfig(),
            record_to=str(tmp_path / "runs"),
        )
        result = agent.run("press Alpha")
        presses = [e for e in window.events() if e["type"] == "press"]
    # random weights answer gibberish: every attempt is reported, none becomes a click
    assert result.status == "malformed_output"
    step = result.steps[0]
    assert step.outcome == "failed" and step.action is None and presses == []
    assert len(step.attempts) == 2 and all(a.error and a.output for a in step.attempts)
    assert {"capture", "preprocess", "prune", "vision", "prefill", "decode"} <= set(step.timings)
    full, kept = step.image_tokens
    assert full == 46 * 29 and 0 < kept < full == step.attempts[0].image_tokens_full
    run = load_run(result.run_dir)
    assert run.result.status == "malformed_output" and run.mask(run.steps[0]).sum() == kept


def test_any_text_is_typed_and_the_users_clipboard_comes_back(tmp_path):
    """café 東京 😀 has no keys: it is pasted (X11: both selections, Shift+Insert), into a Qt
    line edit and into xterm, multi-line too, and the clipboard holds the user's text after."""
    from agent.actions import Click, Hotkey, Point, Space, TypeText
    from agent.clipboard import SystemClipboard
    from agent.executor import Executor

    clipboard = SystemClipboard()
    clipboard.write("the user's own clipboard")
    executor = Executor(ExecutorConfig(mode="auto"))
    with open_button_window((0, 0, 1280, 800), tmp_path) as window:
        x, y = window.centre("text")
        executor.perform(Click(point=Point(x, y, Space.SCREEN)))
        executor.perform(TypeText(text="café 東京 😀"))
        window.wait_for(lambda e: e["type"] == "text" and e["value"] == "café 東京 😀")
        executor.perform(Hotkey(keys=("ctrl", "a")))  # the pasted text is replaced next
        executor.perform(TypeText(text="line one\nzwei é"))
        window.wait_for(lambda e: e["type"] == "text" and e["value"] == "line one\nzwei é")
    assert clipboard.read() == "the user's own clipboard"
    with open_xterm_recorder((200, 150, 800, 500), tmp_path) as term:
        term.click_to_focus()
        executor.perform(TypeText(text="café 東京 😀\nsecond line\n"))
        executor.perform(TypeText(text="ok"))  # typed key by key after the paste
        received = term.wait_for_bytes(b"ok")
    assert received.replace(b"\n", b"\r") == "café 東京 😀\rsecond line\rok".encode()
    assert clipboard.read() == "the user's own clipboard"
