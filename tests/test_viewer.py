"""The trajectory viewer on a real run folder written by the loop (scripted model, still screen).

Qt runs on the offscreen platform; the window is shown and activated so that its keyboard
shortcuts fire as they do for a person. `main.py view` is checked end to end in a subprocess.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA
from fakes import FakeScreen, StillCapture
from main_process import run_main
from PIL import Image

from agent.actions import Drag, Hotkey, Point, Space
from agent.backends.scripted import ScriptedBackend
from agent.coords import Frame, Monitor
from agent.loop import Agent
from agent.records import RunHeader, StepRecord
from agent.trajectory import RecordedRun, load_run
from pixelprune import PruneConfig
from pixelprune.heatmap import KEPT_COLOR

ROOT = Path(__file__).resolve().parents[1]
SCREEN = Image.open(DATA / "desktop-xterm-1920x1080.png").convert("RGB")
MONITOR = Monitor(1920, 0, 1920, 1080, index=2)  # a second monitor: the offset must come off
CLICK = "Thought: open it\nAction: click(start_box='(966,546)')"  # centre of 1932x1092
NOT_AN_ACTION = "I would type hi"
TYPE = "Thought: say hi\nAction: type(content='hi')"
FINISH = "Thought: all done\nAction: finished(content='done')"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """Three steps: a click, a failed attempt then a type, finished; pruned."""
    agent = Agent(
        ScriptedBackend([CLICK, NOT_AN_ACTION, TYPE, FINISH]),
        screen_capture=StillCapture(SCREEN, MONITOR),
        screen=FakeScreen(),
        mode="auto",
        kill_hotkey=None,
        parser="uitars",
        prune=PruneConfig(),
        record_to=str(tmp_path_factory.mktemp("runs")),
    )
    result = agent.run("open the terminal")
    assert result.status == "finished" and len(result.steps) == 3
    return Path(result.run_dir)


@pytest.fixture
def window(qapp, run_dir):
    from PyQt6.QtTest import QTest

    from ui.viewer import ViewerWindow

    window = ViewerWindow(load_run(run_dir))
    window.show()
    window.activateWindow()
    QTest.qWaitForWindowActive(window)
    yield window
    window.close()


def key(window, name: str) -> None:
    from PyQt6.QtCore import Qt
    from PyQt6.QtTest import QTest

    QTest.keyClick(window, getattr(Qt.Key, f"Key_{name}"))


def test_keys_step_through_the_run(window):
    assert window.index == 0 and "step 1/3" in window.windowTitle()
    assert window.run.folder.name in window.windowTitle()
    key(window, "Right")
    assert window.index == 1 and "step 2/3" in window.windowTitle()
    key(window, "End")
    assert window.index == 2
    key(window, "Right")  # stays on the last step
    assert window.index == 2
    key(window, "Home")
    assert window.index == 0
    key(window, "PageDown")
    key(window, "PageDown")
    assert window.index == 2
    key(window, "PageUp")
    key(window, "Left")
    assert window.index == 0
    window.step_list.setCurrentRow(2)  # a click in the step list
    assert window.index == 2 and "step 3/3" in window.windowTitle()


def test_texts_show_thought_outputs_action_outcome_timings_and_header(window):
    text = window.details_text()
    assert "open the terminal" in text and "scripted" in text and "uitars" in text
    assert "finished: done" in text
    assert "open it" in text  # thought
    assert "click(start_box='(966,546)')" in text  # raw output
    assert "left click (2880, 540)" in text and "performed" in text
    assert "capture 1.0 ms" in text and "vision –" in text and "decode –" in text
    assert "model 0 ms" not in text and "/ 2691 image tokens kept (" in text
    window.next_step()
    text = window.details_text()
    assert "attempt 1" in text and NOT_AN_ACTION in text and "failed: " in text
    assert "found 0 actions" in text  # why the first attempt was not used
    assert "attempt 2" in text and "type(content='hi')" in text and "say hi" in text
    assert "type 'hi'" in text


def test_the_heatmap_key_changes_the_picture(window):
    shown, on_screen = np.asarray(window.current_image()), window.picture.grab().toImage()
    key(window, "H")
    assert not window.heatmap
    plain = np.asarray(window.current_image())
    assert (shown != plain).any(axis=2).mean() > 0.05
    assert np.array_equal(plain[:100, :100], np.asarray(SCREEN)[:100, :100])
    assert window.picture.grab().toImage() != on_screen  # the widget repainted without tint
    key(window, "H")
    assert window.heatmap and np.array_equal(np.asarray(window.current_image()), shown)
    assert window.picture.grab().toImage() == on_screen


def test_export_shows_the_tint_on_kept_cells_and_the_marker_on_the_click(window, tmp_path):
    from ui.viewer import MARKER_COLOR

    path = window.export_step(tmp_path / "step.png")
    exported = np.asarray(Image.open(path).convert("RGB")).astype(int)
    original = np.asarray(SCREEN).astype(int)
    assert exported.shape == original.shape
    mask = window.run.mask(window.run.steps[0])
    rows, cols = mask.shape
    alpha = KEPT_COLOR[3] / 255
    kept = [(r, c) for r, c in zip(*np.nonzero(mask), strict=True) if abs(c - cols // 2) > 3]
    dropped = [(r, c) for r, c in zip(*np.nonzero(~mask), strict=True) if c < cols // 3]
    for (r, c), tinted in ((kept[0], True), (dropped[0], False)):
        y = int((r + 0.5) * 1080 / rows)
        x = int((c + 0.5) * 1920 / cols)
        expected = original[y, x] * (1 - alpha) + np.array(KEPT_COLOR[:3]) * alpha
        want = expected if tinted else original[y, x]
        assert np.abs(exported[y, x] - want).max() <= 2, (r, c, tinted)
    # the click went to screen (2880, 540) on a monitor whose left edge is x = 1920
    assert tuple(exported[540, 960]) == MARKER_COLOR


def test_a_keyboard_action_gets_no_marker_and_a_drag_a_line(qapp, tmp_path):
    from ui.viewer import MARKER_COLOR, render_step

    Image.new("RGB", (2000, 1000), "white").save(tmp_path / "step-001.png")
    # a 200 % HiDPI monitor at (100, 50): screen (600, 300) is captured pixel (1001, 501)
    frame = Frame(Monitor(100, 50, 1000, 500, index=1), (2000, 1000), (2000, 1000))
    start, end = Point(600, 300, Space.SCREEN), Point(900, 300, Space.SCREEN)
    drag = StepRecord(1, 0.0, frame=frame, actions=[Drag(start=start, end=end)])
    keys = StepRecord(2, 0.0, frame=frame, actions=[Hotkey(keys=("ctrl", "c"))])
    header = RunHeader("t", "m", None, "uitars", {}, [], 0.0)
    run = RecordedRun(tmp_path, header, [drag, keys], None, {1: "step-001.png", 2: "step-001.png"})
    drawn = np.asarray(render_step(run, drag))
    assert tuple(drawn[501, 1001]) == MARKER_COLOR and tuple(drawn[501, 1601]) == MARKER_COLOR
    assert tuple(drawn[501, 1300]) == MARKER_COLOR  # the line between them
    assert (np.asarray(render_step(run, keys)) == 255).all()


def test_a_missing_screenshot_shows_a_placeholder_and_the_rest_stays(qapp, run_dir, tmp_path):
    from ui.viewer import ViewerError, ViewerWindow

    broken = shutil.copytree(run_dir, tmp_path / run_dir.name)
    (broken / "step-002.png").unlink()
    window = ViewerWindow(load_run(broken), start=1)
    assert window.current_image() is None and "step-002.png" in window.placeholder
    assert "say hi" in window.details_text()
    with pytest.raises(ViewerError, match="no screenshot"):
        window.export_step(tmp_path / "out.png")
    window.next_step()
    assert window.current_image() is not None and window.placeholder == ""
    window.close()


def test_a_run_without_steps_shows_its_header(qapp, run_dir, tmp_path):
    from ui.viewer import ViewerWindow

    empty = tmp_path / "empty-run"
    empty.mkdir()
    shutil.copy(run_dir / "run.json", empty / "run.json")
    window = ViewerWindow(load_run(empty))
    assert "no steps" in window.windowTitle() and "no steps" in window.placeholder
    text = window.details_text()
    assert "open the terminal" in text and "unfinished" in text and "no steps" in text
    assert "incomplete record: no steps.jsonl" in text
    window.next_step()
    window.set_heatmap(False)
    assert window.current_image() is None
    window.close()


def test_a_torn_record_says_so_in_the_title_header_and_terminal(qapp, run_dir, tmp_path, capsys):
    from main import main
    from ui.viewer import ViewerWindow

    whole = ViewerWindow(load_run(run_dir))
    assert "incomplete" not in whole.windowTitle() + whole.details_text()
    whole.close()
    torn = shutil.copytree(run_dir, tmp_path / "torn")
    text = (torn / "steps.jsonl").read_text()
    (torn / "steps.jsonl").write_text(text[: len(text) - 40])  # died writing step 3
    window = ViewerWindow(load_run(torn))
    assert window.step_list.count() == 2 and "incomplete record" in window.windowTitle()
    assert "incomplete record: step 3 was cut off (torn last line)" in window.details_text()
    window.close()
    assert main(["view", str(torn), "--screenshot", str(tmp_path / "torn.png")]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "warning: the record is incomplete: step 3 was cut off (torn last line)"
    ]


def view(*args: str) -> subprocess.CompletedProcess[str]:
    return run_main("view", *args, env={"QT_QPA_PLATFORM": "offscreen"}, timeout=60)


def test_view_on_a_folder_that_is_no_run_says_why_and_exits_2(tmp_path):
    done = view(str(tmp_path))
    assert done.returncode == 2 and "not a run folder" in done.stderr
    assert "Traceback" not in done.stderr


def test_view_on_a_corrupt_run_or_a_wrong_step_exits_2(run_dir, tmp_path, capsys):
    from main import main

    corrupt = shutil.copytree(run_dir, tmp_path / "corrupt")
    lines = (corrupt / "steps.jsonl").read_text().splitlines()
    lines[1] = lines[1][: len(lines[1]) // 2]  # a torn middle line: not a crash mid-write
    (corrupt / "steps.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["view", str(corrupt)]) == 2
    assert "steps.jsonl:2 is not valid JSON" in capsys.readouterr().err
    (corrupt / "run.json").write_text("{")
    assert main(["view", str(corrupt)]) == 2
    assert "cannot view" in capsys.readouterr().err
    assert main(["view", str(run_dir), "--step", "9"]) == 2
    assert "outside the run's 3 step(s)" in capsys.readouterr().err


def test_view_screenshot_renders_the_window_to_a_png(run_dir, tmp_path):
    out = tmp_path / "viewer.png"
    done = view(str(run_dir), "--step", "2", "--size", "1000x700", "--screenshot", str(out))
    assert done.returncode == 0, done.stderr
    assert Image.open(out).size == (1000, 700)
    assert done.stderr == ""  # Qt's offscreen "does not support propagateSizeHints()" left out


def test_the_window_commands_pass_every_other_qt_message_on():
    script = (
        "from PyQt6.QtCore import qWarning\n"
        "from ui.commands import QUIET_QT_MESSAGES, qt_application\n"
        "app = qt_application('picture.png')\n"
        "for message in ['a real problem', *QUIET_QT_MESSAGES, 'another one']:\n"
        "    qWarning(message)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == ["a real problem", "another one"]
