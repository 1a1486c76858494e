"""Model → screen mapping: every space, offsets (second monitor), HiDPI scale, range checks."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.actions import Click, Drag, Hotkey, Point, Space
from agent.coords import Frame, Monitor, action_to_screen, from_screen, to_screen
from agent.errors import CoordinateError
from pixelprune import smart_resize

MODEL_SPACES = [Space.PIXELS, Space.NORM_1000, Space.NORM_1]


def frame_for(monitor: Monitor, scale: float = 1.0, family: str = "qwen2.5") -> Frame:
    captured = (round(monitor.width * scale), round(monitor.height * scale))
    height, width = smart_resize(captured[1], captured[0], family)
    return Frame(monitor, captured, (width, height))


def test_worked_example_second_monitor_pixels():
    # a 2560x1440 monitor to the right of a 1920x1080 one
    monitor = Monitor(1920, 0, 2560, 1440, index=2)
    frame = frame_for(monitor)
    width, height = frame.model_input
    assert (width % 28, height % 28) == (0, 0)
    centre = to_screen(Point(width / 2, height / 2, Space.PIXELS), frame)
    assert (centre.x, centre.y) == (1920 + 1280, 720)
    corner = to_screen(Point(0, 0, Space.PIXELS), frame)
    assert (corner.x, corner.y) == (1920, 0)


def test_norm_spaces_and_inclusive_upper_bound():
    monitor = Monitor(0, 0, 1920, 1080)
    frame = frame_for(monitor)
    assert to_screen(Point(500, 500, Space.NORM_1000), frame) == Point(960, 540, Space.SCREEN)
    assert to_screen(Point(0.25, 0.5, Space.NORM_1), frame) == Point(480, 540, Space.SCREEN)
    assert to_screen(Point(1000, 1000, Space.NORM_1000), frame) == Point(1919, 1079, Space.SCREEN)


def test_hidpi_scale_divides_captured_pixels():
    monitor = Monitor(0, 0, 1440, 900)  # a 2880x1800 Retina panel at 200 %
    frame = frame_for(monitor, scale=2.0)
    assert frame.scale == (2.0, 2.0)
    point = to_screen(Point(0.5, 0.5, Space.NORM_1), frame)
    # captured pixel (1440, 900), whose centre is a quarter into screen unit (720, 450)
    assert (point.x, point.y) == (720.25, 450.25)
    assert (int(point.x), int(point.y)) == (720, 450)  # where pyautogui puts the pointer


@pytest.mark.parametrize(
    "point",
    [
        Point(-1, 10, Space.PIXELS),
        Point(10, 1e9, Space.PIXELS),
        Point(1000.5, 3, Space.NORM_1000),
        Point(0.5, 1.01, Space.NORM_1),
        Point(-0.01, 0.5, Space.NORM_1),
    ],
)
def test_out_of_range_is_rejected_not_clamped(point):
    frame = frame_for(Monitor(0, 0, 1280, 800))
    with pytest.raises(CoordinateError):
        to_screen(point, frame)


def test_screen_points_must_be_on_the_monitor():
    frame = frame_for(Monitor(1920, 0, 1280, 800))
    with pytest.raises(CoordinateError):
        to_screen(Point(100, 100, Space.SCREEN), frame)
    assert to_screen(Point(2000, 100, Space.SCREEN), frame) == Point(2000, 100, Space.SCREEN)


def test_non_finite_coordinates_are_parse_errors():
    with pytest.raises(CoordinateError.__mro__[1]):
        Point(float("nan"), 1, Space.NORM_1)


def test_action_to_screen_maps_every_point_and_leaves_keys_alone():
    frame = frame_for(Monitor(100, 50, 1000, 1000))
    drag = Drag(start=Point(0, 0, Space.NORM_1000), end=Point(500, 500, Space.NORM_1000))
    mapped = action_to_screen(drag, frame)
    assert (mapped.start.x, mapped.start.y, mapped.end.x, mapped.end.y) == (100, 50, 600, 550)
    keys = Hotkey(keys=("ctrl", "c"))
    assert action_to_screen(keys, frame) is keys
    click = action_to_screen(Click(point=Point(0.5, 0.5, Space.NORM_1), raw="r"), frame)
    assert click.raw == "r" and click.point.space is Space.SCREEN


monitors = st.builds(
    Monitor,
    left=st.integers(-3000, 5000),
    top=st.integers(-2000, 2000),
    width=st.integers(320, 5120),
    height=st.integers(240, 2880),
)


@given(
    monitor=monitors,
    scale=st.sampled_from([1.0, 1.25, 1.5, 2.0]),
    family=st.sampled_from(["qwen2.5", "qwen3"]),
    space=st.sampled_from(MODEL_SPACES),
    fx=st.floats(0, 1, exclude_max=True),
    fy=st.floats(0, 1, exclude_max=True),
)
def test_round_trip_through_every_space_lands_on_the_same_pixel(
    monitor, scale, family, space, fx, fy
):
    frame = frame_for(monitor, scale, family)
    pixel = Point(
        monitor.left + int(fx * monitor.width), monitor.top + int(fy * monitor.height), Space.SCREEN
    )
    model = from_screen(pixel, frame, space)
    landed = to_screen(model, frame)
    assert (math.floor(landed.x), math.floor(landed.y)) == (pixel.x, pixel.y)
    assert monitor.contains(landed.x, landed.y)
