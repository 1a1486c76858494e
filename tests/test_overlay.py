"""The overlay on the real display: aligned to screen pixels, click-through, never captured.

The overlay runs in its own process (tests/apps/overlay_window.py) because this process's Qt may
already be on the offscreen platform; the test reads the real screen back with mss and clicks
with xdotool. Xvfb has no compositor, so the overlay runs in its shaped mode (an opaque square
at the centre of each kept cell), which is what these pixel checks look for. HUD text, the
heatmap layer's pixels and what each agent event redraws are checked in this process on Qt's
offscreen platform.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from desktop import open_button_window, require_display
from PIL import Image

import ui.overlay
from agent.actions import Click, Point, Space
from agent.capture import CaptureConfig, ScreenCapture, Screenshot
from agent.coords import Frame, Monitor
from agent.events import ActionProposed, ScreenCaptured, StepFinished, StepStarted
from agent.latency import LatencySaved
from agent.records import Attempt, StepRecord, VisionCacheUse
from pixelprune import Selection
from pixelprune.heatmap import render_heatmap
from tools.processes import stop_processes
from ui.overlay import (
    HUD_BACKGROUND,
    MARKER_COLOR,
    OUTLINE_COLOR,
    HudState,
    Overlay,
    OverlayConfig,
    dots_region,
    hud_lines,
    kept_cell_rects,
)

ROOT = Path(__file__).resolve().parents[1]
MONITOR = Monitor(1920, 0, 2560, 1440)


@contextmanager
def overlay_process(mode: str, out: Path, *args: str):
    out.mkdir(parents=True, exist_ok=True)
    geometry = f"{MONITOR.left},{MONITOR.top},{MONITOR.width},{MONITOR.height}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.apps.overlay_window",
            mode,
            "--monitor",
            geometry,
            "--out",
            str(out),
            *args,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_file(out / "ready", process)
        yield process
    finally:
        stop_processes([process])


def wait_for_file(path: Path, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{path.name} never appeared; overlay output:\n{process.stdout.read()}")
        time.sleep(0.05)


def screen() -> np.ndarray:
    """The overlay's monitor as it is on the screen now."""
    layout = CaptureConfig(monitor=1, layout=(MONITOR,))
    return np.asarray(ScreenCapture(layout).grab().image)


def is_color(pixels: np.ndarray, color: tuple[int, int, int]) -> np.ndarray:
    return (pixels == np.array(color, dtype=np.uint8)).all(axis=-1)


@pytest.fixture(autouse=True)
def _display() -> None:
    require_display()


def test_kept_cells_and_the_marker_land_on_the_right_screen_pixels(tmp_path):
    with overlay_process("static", tmp_path, "--marker", "3000,700"):
        state = json.loads((tmp_path / "state.json").read_text())
        pixels = screen()
    assert state["translucent"] is False  # Xvfb: no compositor, shaped window
    keep = np.array(state["keep"], dtype=bool)
    rows, cols = keep.shape
    # the centre pixel of every cell: the kept-cell mark exactly where the cell is kept
    tops = -(-np.arange(rows + 1) * MONITOR.height // rows)
    lefts = -(-np.arange(cols + 1) * MONITOR.width // cols)
    centres_y, centres_x = (tops[:-1] + tops[1:]) // 2, (lefts[:-1] + lefts[1:]) // 2
    marked = is_color(pixels[centres_y[:, None], centres_x[None, :]], OUTLINE_COLOR)
    hud = np.zeros_like(keep)  # the HUD box covers a few cells at the top right
    hud[:5, cols - 30 :] = True
    assert (marked == keep)[~hud].all()
    assert 0.1 < keep.mean() < 0.6
    # cell corners stay the screen's own pixels
    corners = pixels[tops[:-1, None] + 1, lefts[None, :-1] + 1]
    assert not is_color(corners, OUTLINE_COLOR)[~hud].any()
    marker = pixels[700 - MONITOR.top, 3000 - MONITOR.left]
    assert tuple(marker) == MARKER_COLOR


def test_clicks_pass_through_the_overlay(tmp_path):
    with open_button_window((1920, 0, 2560, 1440), tmp_path / "window") as window:
        x, y = window.centre("Foxtrot")
        with overlay_process("static", tmp_path / "overlay", "--marker", f"{x},{y}"):
            drawn = screen()[y - MONITOR.top, x - MONITOR.left]
            assert tuple(drawn) == MARKER_COLOR  # the overlay is drawn right there
            subprocess.run(["xdotool", "mousemove", str(x), str(y), "click", "1"], check=True)
            [click] = window.wait_for(lambda e: e["type"] == "clicked")
    assert click["target"] == "Foxtrot"


@pytest.mark.parametrize("mode", ["agent", "app"])
def test_the_overlay_is_never_in_the_agents_screenshots(mode, tmp_path):
    with open_button_window((1920, 0, 2560, 1440), tmp_path / "window"):
        desktop = whole_screen()  # before the app or the overlay exist
        out = tmp_path / "overlay"
        with overlay_process(mode, out, "--steps", "3") as process:
            wait_for_file(out / "step-1", process)
            visible = overlay_marks_appear()  # between captures (a grab may catch it hidden)
            wait_for_file(out / "done", process)
            done = json.loads((out / "done").read_text())
            cleared = screen_settles(lambda pixels: not is_color(pixels, OUTLINE_COLOR).any())
            if mode == "app":
                wait_for_file(out / "back.json", process)
    assert visible and cleared  # shown during the run, gone at its end
    assert done["status"] == "max_steps"
    shots = sorted(Path(done["dir"]).glob("step-*[0-9].png"))
    assert len(shots) == 3
    for shot in shots:
        pixels = np.asarray(shot_image(shot))
        assert not is_color(pixels, OUTLINE_COLOR).any(), shot.name
        assert not is_color(pixels, MARKER_COLOR).any(), shot.name
    if mode == "app":  # the control app is in no screenshot, and back once the run is over
        x, y, width, height = json.loads((out / "app.json").read_text())["frame"]
        where = np.s_[max(y, 0) : y + height, max(x, 0) : x + width]
        assert desktop[where].size > 0 and desktop[where].std() < 1  # nothing there before
        for shot in shots:
            assert np.array_equal(np.asarray(shot_image(shot))[where], desktop[where]), shot.name
        back = json.loads((out / "back.json").read_text())
        assert back["visible"] and not back["minimized"]


def whole_screen() -> np.ndarray:
    return np.asarray(ScreenCapture(CaptureConfig(monitor=1)).grab().image)


def test_hotkeys_toggle_the_heatmap_and_the_hud(tmp_path):
    def counts() -> tuple[int, int]:
        pixels = screen()
        return is_color(pixels, OUTLINE_COLOR).sum(), is_color(pixels, HUD_BACKGROUND).sum()

    def press(keys: str) -> tuple[int, int]:
        """The counts once the toggle has redrawn: changed, and the same on two reads in a row
        (or as they are after 5 s, for the assertion to show)."""
        before = counts()
        subprocess.run(["xdotool", "key", keys], check=True)
        deadline = time.monotonic() + 5
        last, now = before, counts()
        while (now == before or now != last) and time.monotonic() < deadline:
            time.sleep(0.05)
            last, now = now, counts()
        return now

    with overlay_process("static", tmp_path, "--marker", "3000,700"):
        marks, hud = counts()
        assert marks > 1000 and hud > 1000
        assert press("ctrl+shift+F10") == (0, hud)
        assert press("ctrl+shift+F10") == (marks, hud)
        marks_without_hud, hud_left = press("ctrl+shift+F11")
        assert hud_left == 0 and marks_without_hud >= marks  # cells under the HUD show now


def test_with_nothing_to_draw_the_overlay_shows_the_screen_below(tmp_path):
    # Qt reads an empty shape as "no shape": heatmap and HUD off without a marker must not turn
    # the shaped window into a black rectangle over the whole monitor
    def press(keys: str) -> None:
        subprocess.run(["xdotool", "key", keys], check=True)

    with open_button_window((1920, 0, 2560, 1440), tmp_path / "window"):
        below = screen()
        with overlay_process("static", tmp_path / "overlay"):
            marks, hud = counts(screen())
            assert marks > 1000 and hud > 1000
            press("ctrl+shift+F10")
            press("ctrl+shift+F11")
            assert screen_settles(lambda pixels: differs(pixels, below) < 0.001)
            press("ctrl+shift+F10")  # the heatmap alone comes back, cells under the HUD too
            assert screen_settles(lambda pixels: counts(pixels)[0] >= marks)
            assert counts(screen())[1] == counts(below)[1]  # the window's own dark pixels
            press("ctrl+shift+F11")
            assert screen_settles(lambda pixels: counts(pixels) == (marks, hud))


def counts(pixels: np.ndarray) -> tuple[int, int]:
    """Kept-cell mark and HUD background pixels on the screen."""
    return is_color(pixels, OUTLINE_COLOR).sum(), is_color(pixels, HUD_BACKGROUND).sum()


def differs(pixels: np.ndarray, before: np.ndarray) -> float:
    """The share of pixels that changed (a text caret may blink)."""
    return (pixels != before).any(axis=-1).mean()


def screen_settles(check, timeout: float = 3.0) -> bool:
    """Whether the screen passes `check` within `timeout` (the overlay redraws asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check(screen()):
            return True
        time.sleep(0.1)
    return False


def finished_step(number: int, timings: dict[str, float], saved: LatencySaved | None = None):
    """A finished step's record with these stage timings, 568 of 2,691 image tokens kept."""
    attempt = Attempt("", None, timings, None, 2691, 568)
    return StepRecord(number, 0.0, attempts=[attempt], timings=timings, latency=saved)


def test_hud_says_what_is_measured_estimated_or_unknown():
    state = HudState()
    state.take(finished_step(3, {"vision": 0.2, "prefill": 0.1}))
    lines = hud_lines(state)
    assert lines[0] == "PixelPrune · step 3 · tokens 568/2,691 (21.1%)"
    assert lines[1] == "vision 200 ms · prefill 100 ms · decode ?"
    assert lines[2] == "saved ? (no stage timings or no pruning)"  # no total of no step
    assert len(lines) == 3  # no vision cache known: no line for it
    state.take(finished_step(4, {"vision": 0.1}, LatencySaved(0.31, 0.61, 0.3, measured=True)))
    assert hud_lines(state)[2] == "saved 310 ms (measured) · total 0.31 s over 1 step (measured)"
    state.take(finished_step(5, {"vision": 0.1}, LatencySaved(0.29, 0.59, 0.3, measured=False)))
    assert hud_lines(state)[2] == "saved 290 ms (est.) · total 0.60 s over 2 steps (est.)"


def test_a_step_in_progress_shows_no_figures_until_one_has_finished():
    state = HudState(step=1)
    assert hud_lines(state) == ["PixelPrune · step 1 in progress"]  # no "0 steps", no "?"s
    state.take(finished_step(1, {"vision": 0.2, "prefill": 0.1, "decode": 0.05}))
    state.step = 2  # the agent captured step 2's screen and asks the model
    lines = hud_lines(state)
    assert lines[0] == "PixelPrune · step 2 in progress · step 1: tokens 568/2,691 (21.1%)"
    assert lines[1] == "vision 200 ms · prefill 100 ms · decode 50 ms"


def test_hud_shows_the_vision_cache_apart_from_pruning():
    state = HudState(step=4, figures_step=4, saved=0.3, saved_total=0.9, saved_steps=3)
    state.cache = VisionCacheUse(tokens_encoded=905, hits=2, seconds_saved=0.42)
    state.cache_saved_total = 1.26
    lines = hud_lines(state)
    assert lines[2] == "saved 300 ms (est.) · total 0.90 s over 3 steps (est.)"  # pruning alone
    assert lines[3] == (
        "vision cache: 2 images reused, 905 tokens encoded · saved 420 ms (est.) · total 1.26 s"
    )
    state.cache = VisionCacheUse(tokens_encoded=1, hits=1, seconds_saved=0.42)
    assert hud_lines(state)[3].startswith("vision cache: 1 image reused, 1 token encoded")


def overlay_marks_appear(timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_color(screen(), OUTLINE_COLOR).sum() > 1000:
            return True
        time.sleep(0.1)
    return False


def shot_image(path: Path):
    from PIL import Image

    return Image.open(path).convert("RGB")


def random_selection(grid: tuple[int, int], seed: int = 0):
    keep = np.random.default_rng(seed).random(grid) < 0.4
    return Selection("random", 1, 0.0, "max", True, keep, None, 0.0)


def step_events(number: int, selection, monitor: Monitor, click: tuple[int, int]):
    """One step's events in the order the agent emits them."""
    frame = Frame(monitor, (monitor.width, monitor.height), (monitor.width, monitor.height))
    screenshot = Screenshot(Image.new("RGB", (8, 8)), monitor, 0.0)
    action = Click(point=Point(*click, Space.SCREEN))
    record = StepRecord(
        number,
        time.time(),
        frame=frame,
        attempts=[Attempt("", None, {}, None, selection.n_cells, selection.n_kept)],
        actions=[action],
        timings={"vision": 0.2, "prefill": 0.1, "decode": 0.3},
    )
    return [
        StepStarted(number),
        ScreenCaptured(number, screenshot, selection, frame),
        ActionProposed(number, action, frame),
        StepFinished(record),
    ]


@pytest.mark.parametrize("translucent", [True, False], ids=["translucent", "shaped"])
def test_the_heatmap_is_rendered_once_per_selection_and_quiet_events_redraw_nothing(
    qapp, monkeypatch, translucent
):
    built = []

    def counted(*args):
        built.append(args)
        return render_layer(*args)

    render_layer = ui.overlay.heatmap_layer
    monkeypatch.setattr(ui.overlay, "heatmap_layer", counted)
    monitor = Monitor(100, 50, 1366, 768)
    overlay = Overlay(OverlayConfig(heatmap_hotkey=None, hud_hotkey=None, translucent=translucent))
    updates = []
    overlay.update = lambda *area: updates.append(area)  # what each event asks Qt to repaint
    first, second = random_selection((39, 69), 1), random_selection((39, 69), 2)
    started, captured, proposed, finished = step_events(1, first, monitor, (700, 400))
    try:
        overlay.on_event(started)
        assert not built and not updates
        overlay.on_event(captured)
        assert len(built) == 1 and updates == [()]  # a new picture: the whole window
        layer = overlay.layer
        overlay.on_event(proposed)  # the marker appears: only its box is repainted
        [(marker,)] = updates[1:]
        assert marker.boundingRect().contains(700 - 100, 400 - 50)
        assert marker.boundingRect().width() < 64
        overlay.on_event(finished)  # the HUD's figures: only the HUD box
        [(hud,)] = updates[2:]
        assert hud.boundingRect().top() < 100 and not hud.intersects(marker)
        overlay.on_event(StepStarted(2))
        overlay.on_event(finished)  # the same figures again
        assert len(updates) == 3
        overlay.toggle("hud")
        overlay.toggle("hud")
        toggled = [area.boundingRect() for (area,) in updates[3:]]
        assert len(toggled) == 2  # a HUD-only change repaints the HUD box, nothing else
        assert all(hud.boundingRect().contains(area) for area in toggled)
        assert len(built) == 1 and overlay.layer is layer
        next_step = step_events(2, second, monitor, (900, 500))
        for event in next_step:
            overlay.on_event(event)
        assert len(built) == 2 and overlay.layer is not layer
        overlay.on_event(next_step[1])  # the same selection object once more
        assert len(built) == 2
    finally:
        overlay.close()


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080), (2560, 1440), (100, 50)])
def test_the_translucent_layer_is_render_heatmaps_picture(qapp, size):
    monitor = Monitor(1920, 0, *size)
    selection = random_selection((37, 61) if size[0] > 100 else (3, 7))
    overlay = Overlay(
        OverlayConfig(heatmap_hotkey=None, hud_hotkey=None, hud=False, translucent=True)
    )
    try:
        overlay.on_event(step_events(1, selection, monitor, (0, 0))[1])
        picture = overlay.render_picture()
        pixels = np.frombuffer(picture.constBits().asstring(picture.sizeInBytes()), np.uint8)
        expected = np.asarray(render_heatmap(selection, size))
        assert np.array_equal(pixels.reshape(size[1], size[0], 4), expected)
    finally:
        overlay.close()


@pytest.mark.parametrize("size", [(1920, 1080), (2560, 1440), (30, 20)], ids=str)
def test_the_shape_has_one_dot_at_the_centre_of_each_kept_cell(qapp, size):
    from PyQt6.QtCore import QPoint, QRect
    from PyQt6.QtGui import QRegion

    monitor = Monitor(0, 0, *size)
    grid = (40, 70)  # at 30x20, cells of a pixel or less: the dots touch
    selection = random_selection(grid, 3)
    region = dots_region(selection, size)
    assert not region.isEmpty()
    for top, bottom, left, right in kept_cell_rects(selection, monitor):
        if bottom > top and right > left:
            assert region.contains(QPoint((left + right) // 2, (top + bottom) // 2))
    if size[0] < 100:
        return
    rows, cols = grid
    tops = -(-np.arange(rows + 1) * size[1] // rows)
    lefts = -(-np.arange(cols + 1) * size[0] // cols)
    dropped = QRegion()
    for r, c in np.argwhere(~selection.keep):
        dropped = dropped.united(
            QRect(lefts[c], tops[r], lefts[c + 1] - lefts[c], tops[r + 1] - tops[r])
        )
    assert region.intersected(dropped).isEmpty()
    corners = [QPoint(left, top) for top, _, left, _ in kept_cell_rects(selection, monitor)]
    assert not any(region.contains(corner) for corner in corners)
