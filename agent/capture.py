"""Screen capture of one monitor with mss, with the geometry needed to click back on it.

    capture = ScreenCapture(CaptureConfig(monitor=1))
    shot = capture.grab()          # shot.image (RGB), shot.monitor, shot.scale

`CaptureConfig.monitor` is an mss index (1 = first monitor) or "mouse" (the monitor under the
pointer at each grab). `layout` replaces the monitor list mss reports: for setups mss gets wrong
and for tests on one wide virtual screen. The scale between captured pixels and pyautogui's
coordinates is measured on every grab (image size ÷ monitor size), so HiDPI screens map right.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from PIL import Image

from agent.coords import Monitor
from agent.errors import CaptureError

__all__ = [
    "CaptureConfig",
    "Grabber",
    "ScreenCapture",
    "Screenshot",
    "choose_monitor",
    "monitor_under",
    "wayland_problem",
]


@dataclass(frozen=True)
class CaptureConfig:
    """Which monitor to capture."""

    monitor: int | str = 1  # mss index (1 = first monitor) or "mouse"
    layout: tuple[Monitor, ...] | None = None  # monitors to use instead of what mss reports

    def __post_init__(self) -> None:
        if self.monitor != "mouse" and (not isinstance(self.monitor, int) or self.monitor < 1):
            raise CaptureError(f"monitor must be an index from 1 or 'mouse', got {self.monitor!r}")


@dataclass(frozen=True)
class Screenshot:
    """One captured monitor."""

    image: Image.Image  # RGB, in captured pixels
    monitor: Monitor  # where it is, in pyautogui coordinates
    seconds: float  # time the grab took

    @property
    def scale(self) -> tuple[float, float]:
        """Captured pixels per pyautogui unit, per axis."""
        return self.image.width / self.monitor.width, self.image.height / self.monitor.height


class Grabber(Protocol):
    """What the loop captures with: `ScreenCapture`, or a stand-in (tests, demos, a remote
    desktop) that returns screenshots of its own."""

    def grab(self) -> Screenshot:
        """The screen now."""
        ...


class ScreenCapture:
    """Grabs the configured monitor; one mss connection per thread (mss is not thread-safe)."""

    def __init__(
        self,
        config: CaptureConfig | None = None,
        *,
        pointer: Callable[[], tuple[int, int]] | None = None,
    ) -> None:
        self.config = config or CaptureConfig()
        self._pointer = pointer or _pyautogui_pointer
        self._local = threading.local()

    def monitors(self) -> tuple[Monitor, ...]:
        """The monitors in use: the injected layout, or the ones mss reports."""
        if self.config.layout is not None:
            return self.config.layout
        reported = self._mss().monitors[1:]
        return tuple(
            Monitor(m["left"], m["top"], m["width"], m["height"], index=i)
            for i, m in enumerate(reported, start=1)
        )

    def current_monitor(self) -> Monitor:
        """The monitor the next grab will capture."""
        return choose_monitor(self.config, self.monitors(), self._pointer)

    def grab(self) -> Screenshot:
        """Capture the chosen monitor now."""
        start = time.perf_counter()
        monitor = self.current_monitor()
        region = {
            "left": monitor.left,
            "top": monitor.top,
            "width": monitor.width,
            "height": monitor.height,
        }
        try:
            raw = self._mss().grab(region)
        except Exception as error:  # mss raises its own ScreenShotError, Xlib others
            raise CaptureError(f"cannot capture monitor {monitor.index}: {error}") from error
        image = Image.frombytes("RGB", raw.size, raw.bgra, "raw", "BGRX")
        return Screenshot(image, monitor, time.perf_counter() - start)

    def close(self) -> None:
        """Close this thread's mss connection."""
        screen = getattr(self._local, "mss", None)
        if screen is not None:
            screen.close()
            self._local.mss = None

    def _mss(self) -> Any:  # an mss.MSS, imported on first use
        screen = getattr(self._local, "mss", None)
        if screen is None:
            if problem := wayland_problem():
                raise CaptureError(problem)
            import mss

            try:
                screen = mss.MSS()
            except Exception as error:
                raise CaptureError(
                    f"cannot open the screen for capture ({error}); is a display available "
                    "(DISPLAY set, X server running)?"
                ) from error
            self._local.mss = screen
        return screen


def wayland_problem() -> str | None:
    """A Wayland session (even with XWayland) shows X11 capture only X11 windows, and a
    screenshot of the rest is black: say so instead of driving a blind agent."""
    if sys.platform.startswith("linux") and os.environ.get("XDG_SESSION_TYPE") == "wayland":
        return (
            "this is a Wayland session: the screen cannot be captured or driven through X11 "
            "here; log in to an X11 (Xorg) session, or run the agent in a virtual X display"
        )
    return None


def choose_monitor(
    config: CaptureConfig,
    monitors: tuple[Monitor, ...],
    pointer: Callable[[], tuple[float, float]],
) -> Monitor:
    """The monitor `config` names among `monitors` (asking `pointer` only for "mouse")."""
    if config.monitor == "mouse":
        return monitor_under(pointer(), monitors)
    index = int(config.monitor)
    if index > len(monitors):
        listing = ", ".join(
            f"{m.index}: {m.width}x{m.height} at ({m.left},{m.top})" for m in monitors
        )
        raise CaptureError(f"no monitor {index}: this display has {len(monitors)} ({listing})")
    return monitors[index - 1]


def monitor_under(point: tuple[float, float], monitors: tuple[Monitor, ...]) -> Monitor:
    """The monitor that contains the point (the pointer), e.g. to follow the user."""
    for monitor in monitors:
        if monitor.contains(*point):
            return monitor
    raise CaptureError(f"the pointer at {point} is on no monitor")


def _pyautogui_pointer() -> tuple[int, int]:
    import pyautogui

    x, y = pyautogui.position()
    return int(x), int(y)
