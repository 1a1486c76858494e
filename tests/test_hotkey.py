"""The kill hotkey fires under a real X server whatever has focus and whatever locks are on, lets
go of its grab on stop(), and says what to do when it cannot work. Display tests run on the
Xvfb of tools/test.sh; keys are sent with xdotool (XTEST), as a keyboard would."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from desktop import open_xterm_recorder, require_display

from agent.errors import HotkeyError
from agent.hotkey import DEFAULT_KILL_HOTKEY, Combo, GlobalHotkey, parse_combo

ROOT = Path(__file__).resolve().parents[1]
FIRE_SECONDS = 2.0
QUIET_SECONDS = 0.3  # how long a combo that must not fire is given to (wrongly) fire


@pytest.mark.parametrize(
    ("text", "modifiers", "key"),
    [
        ("ctrl+shift+f12", {"ctrl", "shift"}, "F12"),
        ("Control+Shift+F12", {"ctrl", "shift"}, "F12"),
        ("CTL + alt + Escape", {"ctrl", "alt"}, "Escape"),
        ("shift+ctrl+pause", {"ctrl", "shift"}, "Pause"),
        ("win+A", {"super"}, "a"),
        ("super+1", {"super"}, "1"),
        ("ctrl+esc", {"ctrl"}, "Escape"),
        ("alt+enter", {"alt"}, "Return"),
        ("scroll_lock", set(), "Scroll_Lock"),
    ],
)
def test_parse_combo(text, modifiers, key):
    assert parse_combo(text) == Combo(frozenset(modifiers), key)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "malformed"),
        ("ctrl+", "malformed"),
        ("ctrl++f12", "malformed"),
        ("ctrl+shift", "exactly one key"),
        ("ctrl+a+b", "exactly one key"),
        ("hyper+f12", "exactly one key"),
        ("ctrl+f99", "unknown key 'f99'"),
        ("ctrl+shift+nosuchkey", "unknown key"),
    ],
)
def test_parse_combo_rejects(text, message):
    with pytest.raises(HotkeyError, match=message):
        parse_combo(text)


def test_combo_prints_canonically():
    combo = parse_combo("SHIFT+control+F12")
    assert str(combo) == "ctrl+shift+F12"
    assert parse_combo(str(combo)) == combo == parse_combo(DEFAULT_KILL_HOTKEY)


class Calls:
    """A callback that counts its calls and lets a test wait for one."""

    def __init__(self) -> None:
        self.count = 0
        self.event = threading.Event()

    def __call__(self) -> None:
        self.count += 1
        self.event.set()

    def wait(self, seconds: float = FIRE_SECONDS) -> bool:
        fired = self.event.wait(seconds)
        self.event.clear()
        return fired


@pytest.fixture
def calls() -> Calls:
    require_display()
    return Calls()


def xdotool(*args: str) -> None:
    subprocess.run(["xdotool", *args], check=True, timeout=10)


def test_fires_on_the_combo_only(calls):
    with GlobalHotkey(DEFAULT_KILL_HOTKEY, calls) as hotkey:
        assert hotkey.running
        xdotool("key", "ctrl+F12", "shift+F12", "ctrl+shift+F11", "ctrl+alt+shift+F12")
        assert not calls.wait(QUIET_SECONDS)
        xdotool("key", "ctrl+shift+F12")
        assert calls.wait()
        assert calls.count == 1


@pytest.mark.parametrize(("lock", "mask"), [("Num_Lock", 0x10), ("Caps_Lock", 0x02)])
def test_fires_with_a_lock_key_on(calls, lock, mask):
    from Xlib.display import Display

    display = Display()
    root = display.screen().root
    with GlobalHotkey(DEFAULT_KILL_HOTKEY, calls):
        xdotool("key", lock)
        try:
            assert root.query_pointer().mask & mask, f"{lock} did not turn on"
            xdotool("key", "ctrl+shift+F12")
            assert calls.wait()
        finally:
            xdotool("key", lock)
            display.close()


def test_fires_while_another_window_has_focus_and_keeps_the_combo_from_it(calls, tmp_path):
    with open_xterm_recorder((0, 0, 640, 400), tmp_path) as term:
        term.click_to_focus()  # xterm has the keyboard focus, not the hotkey's root window
        with GlobalHotkey(DEFAULT_KILL_HOTKEY, calls):
            xdotool("type", "a")
            xdotool("key", "ctrl+shift+F12")
            xdotool("type", "b")
            assert calls.wait()
            assert term.wait_for_bytes(b"ab") == b"ab"


def test_stop_ends_the_thread_and_releases_the_grab(calls):
    first = GlobalHotkey(DEFAULT_KILL_HOTKEY, calls)
    first.start()
    first.stop()
    assert not first.running
    first.stop()  # idempotent
    again = Calls()
    with GlobalHotkey(DEFAULT_KILL_HOTKEY, again):
        xdotool("key", "ctrl+shift+F12")
        assert again.wait()
    assert calls.count == 0


def test_stop_from_inside_the_callback(calls):
    hotkey = GlobalHotkey(DEFAULT_KILL_HOTKEY, lambda: (hotkey.stop(), calls()))
    hotkey.start()
    xdotool("key", "ctrl+shift+F12")
    assert calls.wait()
    deadline = time.monotonic() + FIRE_SECONDS
    while hotkey.running and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not hotkey.running
    with GlobalHotkey(DEFAULT_KILL_HOTKEY, calls):
        pass  # the grab was released


def test_a_held_combo_cannot_be_grabbed_again(calls):
    with GlobalHotkey(DEFAULT_KILL_HOTKEY, calls):
        second = GlobalHotkey("Control+Shift+F12", calls)
        with pytest.raises(HotkeyError, match="already grabbed by another program"):
            second.start()
        assert not second.running
        xdotool("key", "ctrl+shift+F12")
        assert calls.wait()  # the failed attempt left the first grab in place


def test_a_key_missing_from_the_layout(calls):
    with pytest.raises(HotkeyError, match="no key on this keyboard layout gives 'F35'"):
        GlobalHotkey("ctrl+f35", calls).start()


def test_bogus_display_name():
    with pytest.raises(HotkeyError, match=r"cannot open X display :9999.*FAILSAFE"):
        GlobalHotkey(DEFAULT_KILL_HOTKEY, lambda: None, display=":9999").start()


def test_no_display_at_all():
    env = {key: value for key, value in os.environ.items() if key != "DISPLAY"}
    code = (
        "from agent.hotkey import GlobalHotkey\n"
        "try:\n"
        "    GlobalHotkey('ctrl+shift+f12', print).start()\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert result.stdout.startswith("HotkeyError cannot open X display $DISPLAY")
    assert "unavailable" in result.stdout and "stop() still work" in result.stdout


# -- the pynput backend: what runs on Windows and macOS, exercised here on the same X server -----


def test_the_pynput_backend_fires_on_the_combo_only_and_stops(calls):
    hotkey = GlobalHotkey(DEFAULT_KILL_HOTKEY, calls, backend="pynput")
    with hotkey:
        assert hotkey.running
        xdotool("key", "ctrl+F12", "shift+F12", "ctrl+shift+F11")
        assert not calls.wait(QUIET_SECONDS)
        xdotool("key", "ctrl+shift+F12")
        assert calls.wait()
    assert not hotkey.running
    hotkey.stop()  # idempotent
    xdotool("key", "ctrl+shift+F12")
    assert not calls.wait(QUIET_SECONDS)


def test_the_pynput_backend_hears_the_combo_while_another_window_has_focus(calls, tmp_path):
    with open_xterm_recorder((0, 0, 640, 400), tmp_path) as term:
        term.click_to_focus()
        with GlobalHotkey("ctrl+alt+k", calls, backend="pynput"):
            xdotool("key", "ctrl+alt+k")
            assert calls.wait()


@pytest.mark.parametrize(
    ("text", "spelling"),
    [
        ("ctrl+shift+f12", "<ctrl>+<shift>+<f12>"),
        ("win+A", "<cmd>+a"),
        ("alt+enter", "<alt>+<enter>"),
        ("ctrl+pgdn", "<ctrl>+<page_down>"),
        ("shift+1", "<shift>+1"),
    ],
)
def test_combos_in_pynputs_spelling(text, spelling):
    assert parse_combo(text).pynput == spelling


def test_the_default_backend_per_platform(monkeypatch):
    for platform, backend in (("win32", "pynput"), ("darwin", "pynput"), ("linux", "x11")):
        monkeypatch.setattr(sys, "platform", platform)
        assert GlobalHotkey(DEFAULT_KILL_HOTKEY, print).backend == backend
