"""FAILSAFE on GNOME: the pointer in a screen corner stops the run, seen in Mutter's casts.

    corners = CursorCorners.open(node_of, outputs)  # node_of(area, cursor_mode) → node
    corners.reached()                               # "top left", ..., or None

Mutter tells no client where the pointer is, but its screen casts can draw the pointer into
the frames. So each corner of each monitor is recorded twice, as a tiny area: once with the
pointer drawn and once without. Where the two differ at the corner pixel itself, the
pointer's arrow covers that pixel: the pointer is in the corner (within the arrow's reach of
it: its tip and shadow at the top left, the arrow's length towards the other corners), the
user's mouse or the agent's own, as pyautogui's FAILSAFE counts it. A thread compares the
newest frames every POLL_SECONDS, so a flick into a corner and back counts once the pointer
stayed CONFIRM_SECONDS (a difference that lasts is the pointer, not a corner whose picture
changed in one stream a frame before the other). Measured on mutter 43: the arrow reaches each
corner pixel from 0-2 px (top left) to 13-15 px (bottom right) away; a check costs no wait.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.errors import CaptureError
from agent.wayland.pipewire import PipeWireFrames
from agent.wayland.wlroots import Output

__all__ = ["AREA", "EMBEDDED", "HIDDEN", "CursorCorners", "corner_areas", "corner_at"]

AREA = 4  # the side of each recorded corner area, in layout pixels
HIDDEN, EMBEDDED = 0, 1  # Mutter ScreenCast cursor-mode
POLL_SECONDS = 0.05
CONFIRM_SECONDS = 0.15  # a difference lasting this long is the pointer (streams update ~0.1 s)


@dataclass(frozen=True)
class Corner:
    """One recorded corner: its name, which pixel of the area is the corner, both streams."""

    name: str
    pixel: tuple[int, int]  # (x, y) in the area's frames
    bare: PipeWireFrames
    drawn: PipeWireFrames


Area = tuple[int, int, int, int]  # x, y, width, height in the layout


def corner_areas(output: Output) -> dict[str, tuple[Area, tuple[int, int]]]:
    """Each corner's area in the layout, and where the corner pixel is in its frames (0: the
    first column or row, 1: the last)."""
    right, bottom = output.x + output.width - AREA, output.y + output.height - AREA
    return {
        "top left": ((output.x, output.y, AREA, AREA), (0, 0)),
        "top right": ((right, output.y, AREA, AREA), (1, 0)),
        "bottom left": ((output.x, bottom, AREA, AREA), (0, 1)),
        "bottom right": ((right, bottom, AREA, AREA), (1, 1)),
    }


def corner_at(outputs: list[Output], point: tuple[float, float]) -> str | None:
    """The corner whose pixel `point` is on, as pyautogui's FAILSAFE points are (None: none).
    For the session's own pointer, whose place is known at once; the casts show it only a
    frame later."""
    x, y = point
    for output in outputs:
        for name, ((left, top, width, height), (fx, fy)) in corner_areas(output).items():
            corner_x, corner_y = left + (width - 1) * fx, top + (height - 1) * fy
            if int(x) == corner_x and int(y) == corner_y:
                return name
    return None


class CursorCorners:
    """The corners of every monitor, each recorded with and without the pointer."""

    def __init__(self, corners: list[Corner]) -> None:
        self._corners = corners
        self._entered: str | None = None  # a corner the pointer stayed in since the last check
        self._stopping = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="cursor-corners", daemon=True)
        self._watcher.start()

    @classmethod
    def open(cls, node_of: Callable[[Area, int], int], outputs: list[Output]) -> CursorCorners:
        """Read each corner's two streams; `node_of(area, cursor_mode)`: the PipeWire node of
        that area's stream (started for every `corner_areas` area, in both modes)."""
        corners: list[Corner] = []
        try:
            for output in outputs:
                for name, (area, pixel) in corner_areas(output).items():
                    bare = PipeWireFrames(node_of(area, HIDDEN))
                    drawn = PipeWireFrames(node_of(area, EMBEDDED))
                    corners.append(Corner(name, pixel, bare, drawn))
        except BaseException:
            for corner in corners:
                corner.bare.close()
                corner.drawn.close()
            raise
        return cls(corners)

    def reached(self) -> str | None:
        """The corner the pointer is in now, or stayed in since the last call; None if none
        (also before the streams' first frames)."""
        entered, self._entered = self._entered, None
        if entered is not None:
            return entered
        for corner in self._corners:
            if self._differs(corner, corner.bare.latest(), corner.drawn.latest()):
                with contextlib.suppress(CaptureError):  # a stream gone: no stop from it
                    if self._differs(corner, corner.bare.grab(), corner.drawn.grab()):
                        return corner.name
        return None

    def close(self) -> None:
        self._stopping.set()
        self._watcher.join(timeout=2)
        for corner in self._corners:
            corner.bare.close()
            corner.drawn.close()

    def _watch(self) -> None:
        since: dict[str, float] = {}  # corner → when its difference was first seen
        while not self._stopping.wait(POLL_SECONDS):
            for corner in self._corners:
                if not self._differs(corner, corner.bare.latest(), corner.drawn.latest()):
                    since.pop(corner.name, None)
                elif time.monotonic() - since.setdefault(corner.name, time.monotonic()) >= (
                    CONFIRM_SECONDS
                ):
                    self._entered = corner.name

    @staticmethod
    def _differs(corner: Corner, bare: Any, drawn: Any) -> bool:
        if bare is None or drawn is None or bare.size != drawn.size:
            return False
        x = (bare.width - 1) * corner.pixel[0]
        y = (bare.height - 1) * corner.pixel[1]
        return bool(np.any(np.asarray(bare)[y, x] != np.asarray(drawn)[y, x]))
