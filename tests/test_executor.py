"""The executor's safety wrapper: modes, confirm, stop switch, secrets, FAILSAFE, bad input."""

from __future__ import annotations

import threading
import time

import pytest
from fakes import FakeScreen

from agent.actions import (
    MAX_HOLD_SECONDS,
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
    describe,
)
from agent.clipboard import PASTE_KEYS
from agent.errors import ActionError, ExecutionError, ParseError
from agent.executor import Executor, ExecutorConfig, FailSafeError, StopSwitch


def at(x: int, y: int) -> Point:
    return Point(x, y, Space.SCREEN)


def auto(screen: FakeScreen, **kwargs) -> Executor:
    return Executor(ExecutorConfig(mode="auto", pause=0, type_interval=0), screen=screen, **kwargs)


def test_each_action_becomes_the_right_pyautogui_call():
    screen = FakeScreen()
    executor = auto(screen)
    for action in [
        Click(point=at(10, 20), button="right", count=2),
        Drag(start=at(1, 2), end=at(3, 4)),
        Move(point=at(5, 6)),
        Hotkey(keys=("Control", "C")),
        KeyPress(key="Return", presses=2),
        Scroll(direction="down", amount=3, point=at(7, 8)),
        Scroll(direction="left", amount=2),
    ]:
        assert executor.perform(action).performed
    names = [(name, args) for name, args, _ in screen.calls]
    assert names == [
        ("click", (10, 20)),
        ("moveTo", (1, 2)),
        ("mouseDown", ()),
        ("moveTo", (3, 4)),
        ("mouseUp", (3, 4)),
        ("moveTo", (5, 6)),
        ("hotkey", ("ctrl", "c")),
        ("press", ("enter",)),
        ("scroll", (-3,)),
        ("hscroll", (-2,)),
    ]
    assert screen.calls[0][2] == {"clicks": 2, "interval": 0.05, "button": "right"}
    assert screen.calls[8][2] == {"x": 7, "y": 8}


class StopWhenPressed(FakeScreen):
    """The kill switch trips while the button is down."""

    stop: StopSwitch | None = None

    def mouseDown(self, *args, **kwargs):
        self._record("mouseDown", *args, **kwargs)
        assert self.stop is not None
        self.stop.trip("kill hotkey")


def test_a_long_press_holds_the_button_and_a_stop_releases_it():
    screen = FakeScreen()
    executor = auto(screen)
    assert executor.perform(Click(point=at(10, 20), hold=0.2)).performed
    assert [(name, args) for name, args, _ in screen.calls] == [
        ("mouseDown", (10, 20)),
        ("mouseUp", (10, 20)),
    ]
    stopping = StopWhenPressed()
    stopper = auto(stopping)
    stopping.stop = stopper.stop
    stopper.perform(Click(point=at(1, 2), hold=MAX_HOLD_SECONDS))  # returns: the stop cut it
    assert [name for name, _, _ in stopping.calls] == ["mouseDown", "mouseUp"]
    assert describe(Click(point=at(1, 2), hold=1.5)) == "left long press (1, 2) for 1.5 s"


def test_a_long_press_is_one_click_and_bounded():
    for bad in (dict(hold=-1.0), dict(hold=MAX_HOLD_SECONDS + 1), dict(hold=1.0, count=2)):
        with pytest.raises(ParseError, match="long press"):
            Click(point=at(1, 2), **bad)


def test_dry_run_touches_nothing():
    screen = FakeScreen()
    executor = Executor(ExecutorConfig(mode="dry-run"), screen=screen)
    outcome = executor.perform(Click(point=at(1, 1)))
    assert (outcome.performed, outcome.status, screen.calls) == (False, "dry-run", [])


def test_confirm_asks_and_only_performs_approved_actions():
    screen = FakeScreen()
    asked = []
    answers = iter([False, True])

    def confirm(action):
        asked.append(action)
        return next(answers)

    executor = Executor(ExecutorConfig(mode="confirm", pause=0), confirm=confirm, screen=screen)
    assert executor.perform(Click(point=at(1, 1))).status == "rejected"
    assert screen.calls == []
    assert executor.perform(Click(point=at(2, 2))).status == "performed"
    assert len(asked) == 2 and len(screen.calls) == 1


def test_confirm_mode_without_a_callback_is_refused():
    with pytest.raises(ExecutionError, match="confirm callback"):
        Executor(ExecutorConfig(mode="confirm"))
    with pytest.raises(ExecutionError, match="mode must be"):
        ExecutorConfig(mode="yolo")


def test_stop_before_or_during_confirmation_prevents_the_action():
    screen, stop = FakeScreen(), StopSwitch()

    def confirm(action):
        stop.trip("kill hotkey")  # the user hits the kill hotkey while the dialog is open
        return True

    executor = Executor(ExecutorConfig(mode="confirm"), confirm=confirm, stop=stop, screen=screen)
    assert executor.perform(Click(point=at(1, 1))).status == "stopped"
    assert executor.perform(Click(point=at(1, 1))).status == "stopped"
    assert screen.calls == [] and stop.reason == "kill hotkey"


def test_a_question_a_stop_ended_is_a_stop_not_a_rejection():
    screen, stop = FakeScreen(), StopSwitch()

    def confirm(action):
        stop.trip("kill hotkey")  # the terminal's question ends "no" when the hotkey is pressed
        return False

    executor = Executor(ExecutorConfig(mode="confirm"), confirm=confirm, stop=stop, screen=screen)
    assert executor.perform(Click(point=at(1, 1))).status == "stopped"
    assert screen.calls == []


def test_stop_cuts_typing_and_waiting_short():
    screen, stop = FakeScreen(), StopSwitch()
    executor = Executor(
        ExecutorConfig(mode="auto", pause=0, type_interval=0.01), stop=stop, screen=screen
    )
    threading.Timer(0.1, stop.trip, args=("stop",)).start()
    outcome = executor.perform(TypeText(text="x" * 1000))
    assert outcome.status == "stopped" and 0 < len(screen.typed()) < 1000
    stop2 = StopSwitch()
    executor = Executor(ExecutorConfig(mode="auto", pause=0), stop=stop2, screen=screen)
    threading.Timer(0.1, stop2.trip, args=("stop",)).start()
    start = time.perf_counter()
    assert executor.perform(Wait(seconds=30)).status == "stopped"
    assert time.perf_counter() - start < 5


def test_secrets_are_typed_but_never_logged(caplog):
    screen = FakeScreen()
    executor = auto(screen, secrets={"password": "hunter2"})
    caplog.set_level("INFO")
    executor.perform(TypeText(text="user\t{{password}}\n"))
    assert screen.typed() == "user\thunter2\n"
    assert "hunter2" not in caplog.text
    with pytest.raises(ActionError, match="unknown secret"):
        executor.perform(TypeText(text="{{token}}"))


class FakeClipboard:
    """Holds one text, as the system clipboard would; records what was written."""

    def __init__(self, text: str | None = None) -> None:
        self.text, self.written = text, []

    def read(self) -> str | None:
        return self.text

    def write(self, text: str) -> None:
        self.written.append(text)
        self.text = text


def test_text_no_key_types_is_pasted_and_the_clipboard_given_back():
    screen, clipboard = FakeScreen(), FakeClipboard("the user's text")
    executor = Executor(
        ExecutorConfig(mode="auto", pause=0, paste_seconds=0),
        screen=screen,
        clipboard=clipboard,
        secrets={"city": "東京"},
    )
    assert executor.perform(TypeText(text="café {{city}} 😀\nline two")).performed
    assert clipboard.written == ["café 東京 😀\nline two", "the user's text"]
    assert [(name, args) for name, args, _ in screen.calls] == [("hotkey", PASTE_KEYS)]
    assert executor.perform(TypeText(text="plain ascii")).performed  # typed key by key
    assert screen.typed() == "plain ascii" and len(clipboard.written) == 2


def test_a_missing_clipboard_tool_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr("agent.clipboard.shutil.which", lambda name: None)
    screen = FakeScreen()
    with pytest.raises(ExecutionError, match="apt install xclip"):
        auto(screen).perform(TypeText(text="naïve"))
    assert screen.calls == []  # nothing half typed


def test_failsafe_becomes_a_stop_error():
    with pytest.raises(FailSafeError, match="corner"):
        auto(FakeScreen(fail_safe=True)).perform(Click(point=at(0, 0)))


def test_model_space_points_are_refused():
    with pytest.raises(ExecutionError, match="not mapped"):
        auto(FakeScreen()).perform(Click(point=Point(0.5, 0.5, Space.NORM_1)))


def test_final_answers_are_no_ops():
    screen = FakeScreen()
    assert auto(screen).perform(Finished(answer="done")).status == "no-op"
    assert screen.calls == []
