"""The one place that maps a model's coordinates to the screen, and back.

    model space ─→ resized image ─→ captured image ─→ monitor ─→ pyautogui coordinates
    (pixels of the     (what the      (what mss      (÷ scale,   (+ monitor offset on
     resized input,     model saw)     grabbed)       HiDPI)      the virtual desktop)
     0..1000, 0..1)

`Monitor` is in pyautogui's (logical) coordinates. `Frame` ties one screenshot to its monitor:
`captured` is the grabbed pixel size, which differs from the monitor size by `scale` on HiDPI
screens, and `model_input` the size the model's processor resized it to. A point outside the
model's range, or one that lands outside the monitor, raises `CoordinateError`: it is never
clamped into a click. The inclusive upper bound of a range (x = width of the resized image,
x = 1000) is the monitor's last pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from agent.actions import Action, Point, Space, points_of, with_points
from agent.errors import CoordinateError

__all__ = ["Frame", "Monitor", "action_to_screen", "fraction", "from_screen", "to_screen"]


@dataclass(frozen=True)
class Monitor:
    """A monitor's rectangle in pyautogui coordinates (the virtual desktop, logical pixels)."""

    left: int
    top: int
    width: int
    height: int
    index: int = 1  # mss numbering: 1 is the first monitor (0 is the whole virtual desktop)

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise CoordinateError(
                f"monitor {self.index} has an empty size {self.width}x{self.height}"
            )

    def contains(self, x: float, y: float) -> bool:
        """Whether the screen point lies on this monitor."""
        return self.left <= x < self.left + self.width and self.top <= y < self.top + self.height


@dataclass(frozen=True)
class Frame:
    """How one screenshot relates to the screen and to the model's input."""

    monitor: Monitor
    captured: tuple[int, int]  # (width, height) in captured pixels
    model_input: tuple[int, int]  # (width, height) of the resized image the model saw

    def __post_init__(self) -> None:
        for name in ("captured", "model_input"):
            width, height = getattr(self, name)
            if width <= 0 or height <= 0:
                raise CoordinateError(f"{name} size {width}x{height} is empty")

    @property
    def scale(self) -> tuple[float, float]:
        """Captured pixels per pyautogui unit (2.0 on a 200 % HiDPI screen, 1.0 on X11)."""
        return (self.captured[0] / self.monitor.width, self.captured[1] / self.monitor.height)


def to_screen(point: Point, frame: Frame) -> Point:
    """The screen point for a model point; out of range ⇒ `CoordinateError`.

    On an unscaled screen it is the whole pixel the model named. On a scaled one (HiDPI, a
    Wayland output at 125 % or 200 %) a screen unit spans several captured pixels, so the point
    is the centre of the captured pixel, in fractions of a unit: pyautogui floors it to its
    unit, and a Wayland pointer, which takes fractions, lands on that exact device pixel."""
    if point.space is Space.SCREEN:
        if not frame.monitor.contains(point.x, point.y):
            raise CoordinateError(f"screen point ({point.x}, {point.y}) is off the monitor")
        return point
    fx, fy = _fraction(point, frame)
    monitor = frame.monitor
    # the fraction of the resized image is the same fraction of the captured image
    width, height = frame.captured
    column = min(math.floor(fx * width), width - 1)
    row = min(math.floor(fy * height), height - 1)
    if frame.scale == (1.0, 1.0):
        return Point(monitor.left + column, monitor.top + row, Space.SCREEN)
    scale_x, scale_y = frame.scale
    x = monitor.left + (column + 0.5) / scale_x
    y = monitor.top + (row + 0.5) / scale_y
    return Point(x, y, Space.SCREEN)


def from_screen(point: Point, frame: Frame, space: Space) -> Point:
    """The model-space point for the centre of a screen pixel (the inverse, for tests and UIs)."""
    if point.space is not Space.SCREEN:
        raise CoordinateError(f"expected a screen point, got {point.space.value}")
    if not frame.monitor.contains(point.x, point.y):
        raise CoordinateError(f"screen point ({point.x}, {point.y}) is off the monitor")
    fx = (point.x - frame.monitor.left + 0.5) / frame.monitor.width
    fy = (point.y - frame.monitor.top + 0.5) / frame.monitor.height
    width, height = _extent(space, frame)
    return Point(fx * width, fy * height, space)


def action_to_screen(action: Action, frame: Frame) -> Action:
    """The action with every point mapped to the screen (keyboard actions pass unchanged)."""
    points = points_of(action)
    if not points:
        return action
    return with_points(action, {name: to_screen(p, frame) for name, p in points.items()})


def _extent(space: Space, frame: Frame) -> tuple[float, float]:
    if space is Space.PIXELS:
        return float(frame.model_input[0]), float(frame.model_input[1])
    if space is Space.NORM_1000:
        return 1000.0, 1000.0
    if space is Space.NORM_1:
        return 1.0, 1.0
    raise CoordinateError(f"no model extent for {space.value} coordinates")


def fraction(point: Point, frame: Frame) -> tuple[float, float]:
    """A model point as an unrounded fraction (0..1) of the image the model saw: what the
    grounding benchmarks score; `CoordinateError` outside the space's range."""
    return _fraction(point, frame)


def _fraction(point: Point, frame: Frame) -> tuple[float, float]:
    """The point as a fraction of the model's image, checked against the space's range."""
    width, height = _extent(point.space, frame)
    if not (0 <= point.x <= width and 0 <= point.y <= height):
        raise CoordinateError(
            f"({point.x:g}, {point.y:g}) is outside the model's {point.space.value} range "
            f"0..{width:g} x 0..{height:g}"
        )
    return point.x / width, point.y / height
