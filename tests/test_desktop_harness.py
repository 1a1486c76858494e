"""The desktop harness is sound: input sent with xdotool (not the code under test) reaches its
windows and is logged where and as it happened. Runs on the Xvfb of tools/test.sh."""

from __future__ import annotations

import subprocess

import pytest
from desktop import Rect, open_button_window, open_xterm_recorder, require_display, wait_for_focus

# the test screen is 4480x1440: x=1920 stands for a second monitor right of a 1920-wide one
WINDOWS = [
    pytest.param((0, 0, 1280, 800), id="1280x800"),
    pytest.param((0, 0, 1920, 1080), id="1920x1080"),
    pytest.param((0, 0, 2560, 1440), id="2560x1440"),
    pytest.param((1920, 0, 2560, 1440), id="2560x1440-at-x1920"),
]
CORNERS_AND_MIDDLE = ("Alpha", "Delta", "Foxtrot", "India", "Lima")


@pytest.fixture(autouse=True)
def _display() -> None:
    require_display()


def xdotool(*args: object) -> None:
    subprocess.run(["xdotool", *map(str, args)], check=True, timeout=10)


def is_(kind: str, **fields: object):
    return lambda e: e["type"] == kind and all(e.get(k) == v for k, v in fields.items())


@pytest.mark.parametrize("rect", WINDOWS)
def test_clicks_land_on_the_logged_buttons(rect, tmp_path):
    with open_button_window(rect, tmp_path) as window:
        screen = Rect(*rect)
        assert len(window.buttons) == 12
        for name, box in window.layout.items():
            corners = (box.x, box.y), (box.x + box.width - 1, box.y + box.height - 1)
            assert all(screen.contains(*corner) for corner in corners), name
        # the outer buttons hug the corners, whatever the window size
        assert window.layout["Alpha"].x - screen.x < 40 and window.layout["Alpha"].y < 40
        lima = window.layout["Lima"]
        assert screen.x + screen.width - (lima.x + lima.width) < 40
        assert screen.y + screen.height - (lima.y + lima.height) < 40

        for name in CORNERS_AND_MIDDLE:
            xdotool("mousemove", *window.centre(name), "click", 1)
        clicked = window.wait_for(is_("clicked"), count=len(CORNERS_AND_MIDDLE))
        assert [e["target"] for e in clicked] == list(CORNERS_AND_MIDDLE)
        presses = window.wait_for(is_("press", button="left"), count=len(CORNERS_AND_MIDDLE))
        assert [(e["x"], e["y"]) for e in presses] == [window.centre(n) for n in CORNERS_AND_MIDDLE]

        xdotool("mousemove", *window.centre("Hotel"), "click", 3)
        [press] = window.wait_for(is_("press", button="right"))
        assert press["target"] == "Hotel" and (press["x"], press["y"]) == window.centre("Hotel")
    assert window.exit_status == 0


def test_double_click_wheel_and_drag(tmp_path):
    with open_button_window((0, 0, 1280, 800), tmp_path) as window:
        xdotool("mousemove", *window.centre("Golf"), "click", "--repeat", 2, "--delay", 60, 1)
        [double] = window.wait_for(is_("double_click", button="left"))
        assert double["target"] == "Golf"

        xdotool("mousemove", *window.centre("Echo"), "click", 4, "click", 5)
        wheels = window.wait_for(is_("wheel", target="Echo"), count=2)
        assert [e["direction"] for e in wheels] == ["up", "down"]
        assert {(e["x"], e["y"]) for e in wheels} == {window.centre("Echo")}

        xdotool("mousemove", 200, 300, "mousedown", 1, "mousemove", 400, 350)
        xdotool("mousemove", 600, 420, "mouseup", 1)
        [drag] = window.wait_for(is_("drag", button="left"))
        assert drag["from"] == [200, 300] and drag["to"] == [600, 420]


@pytest.mark.parametrize("x", [0, 1920], ids=["x0", "x1920"])
def test_typing_into_the_text_field(x, tmp_path):
    with open_button_window((x, 0, 1920, 1080), tmp_path) as window:
        xdotool("mousemove", *window.centre("text"), "click", 1)
        # a window manager focuses the window as it handles the click, then passes the click on
        # (Qt focuses the field); typing before both happened would race them
        window.wait_for(is_("release", button="left", target="text", focus="text"))
        wait_for_focus(window.window_id)
        xdotool("type", "Hello, world 42")
        [*_, last] = window.wait_for(is_("text", value="Hello, world 42"))
        keys = [e for e in window.events() if e["type"] == "key"]
        assert keys and {e["focus"] for e in keys} == {"text"}
        assert last["value"] == "Hello, world 42"


@pytest.mark.parametrize(
    "rect", [(0, 0, 640, 400), (2000, 200, 900, 600)], ids=["x0", "second-monitor"]
)
def test_xterm_records_typed_text_and_control_bytes(rect, tmp_path):
    with open_xterm_recorder(rect, tmp_path) as term:
        assert term.rect == Rect(*rect)
        term.click_to_focus()  # click-to-focus, as on a real desktop
        xdotool("type", "hi there")
        xdotool("key", "ctrl+a", "Return", "Escape")
        assert term.wait_for_bytes(b"hi there\x01\r\x1b") == b"hi there\x01\r\x1b"


def test_require_display_fails_rather_than_skips(monkeypatch):
    monkeypatch.delenv("DISPLAY")
    with pytest.raises(pytest.fail.Exception, match=r"tools/test\.sh"):
        require_display()
