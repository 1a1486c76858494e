"""Capture on the real display: monitor offsets, the monitor under the mouse, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from desktop import open_button_window, require_display

from agent.capture import CaptureConfig, ScreenCapture, monitor_under
from agent.coords import Monitor
from agent.errors import CaptureError

TWO = (Monitor(0, 0, 1920, 1080, index=1), Monitor(1920, 0, 2560, 1440, index=2))


@pytest.fixture(autouse=True)
def _display() -> None:
    require_display()


def test_a_monitor_is_its_rectangle_of_the_whole_screen(tmp_path):
    with open_button_window((1920, 0, 2560, 1440), tmp_path):
        whole = ScreenCapture().grab()
        second = ScreenCapture(CaptureConfig(monitor=2, layout=TWO)).grab()
    assert whole.image.size == (4480, 1440) and whole.monitor == Monitor(0, 0, 4480, 1440)
    assert second.image.size == (2560, 1440) and second.scale == (1.0, 1.0)
    crop = np.asarray(whole.image)[:, 1920:]
    assert (np.asarray(second.image) == crop).all()
    assert len(np.unique(crop.reshape(-1, 3), axis=0)) > 2  # the window, not a blank screen


def test_the_monitor_under_the_mouse_follows_the_pointer():
    capture = ScreenCapture(CaptureConfig(monitor="mouse", layout=TWO))
    subprocess.run(["xdotool", "mousemove", "3000", "500"], check=True)
    assert capture.grab().monitor.index == 2
    subprocess.run(["xdotool", "mousemove", "100", "100"], check=True)
    assert capture.grab().monitor.index == 1
    subprocess.run(["xdotool", "mousemove", "2240", "720"], check=True)


def test_a_missing_monitor_lists_the_ones_there_are():
    with pytest.raises(CaptureError, match=r"no monitor 3: this display has 2 \(1: 1920x1080"):
        ScreenCapture(CaptureConfig(monitor=3, layout=TWO)).grab()
    with pytest.raises(CaptureError, match="monitor must be"):
        CaptureConfig(monitor=0)
    with pytest.raises(CaptureError, match="on no monitor"):
        monitor_under((5000, 10), TWO)


def test_no_display_is_a_clear_error():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    code = (
        "from agent.capture import ScreenCapture\n"
        "from agent.errors import CaptureError\n"
        "try:\n    ScreenCapture().grab()\n"
        "except CaptureError as e:\n    print('CaptureError:', e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert "CaptureError: cannot open the screen" in done.stdout, done.stdout + done.stderr


def test_a_wayland_session_is_a_clear_error(monkeypatch):
    from agent.capture import ScreenCapture
    from agent.errors import CaptureError

    monkeypatch.setenv("XDG_SESSION_TYPE", "wayland")
    with pytest.raises(CaptureError, match=r"Wayland session.*X11"):
        ScreenCapture().grab()
