"""The desktop control app: a scripted model, a still screen and a fake pyautogui behind the form.

Qt runs on the offscreen platform and the runner gets `StillCapture` and `FakeScreen`, so no test
here captures or touches the real screen; the one exception is the last test, which starts
`main.py app` on the Xvfb display of tools/test.sh and checks that its window appears and goes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest
from conftest import DATA
from fakes import FakeScreen, StillCapture
from main_process import run_main
from PIL import Image

from agent.backends.scripted import ScriptedBackend
from agent.backends.spec import read_script
from agent.events import StepFinished
from agent.records import StepRecord
from agent.settings import ModelSpec

ROOT = Path(__file__).resolve().parents[1]
SCREEN = Image.open(DATA / "desktop-xterm-1920x1080.png").convert("RGB")
CLICK = "Thought: open it\nAction: click(start_box='(966,546)')"  # centre of 1932x1092
TYPE = "Thought: say hi\nAction: type(content='hi')"
FINISH = "Thought: all done\nAction: finished(content='done')"
WAIT_SECONDS = 10.0
ENDED = ("finished", "stopped", "rejected", "error", "failed", "max_steps", "malformed_output")


@pytest.fixture
def make_window(qapp, tmp_path):
    """Builds app windows on a still screen with a fake pyautogui; stops and closes them after."""
    windows = []

    def make(outputs=(), *, mode="dry-run", delay=0.0, screen=None):
        from agent.backends.spec import open_backend
        from ui.app import AppWindow

        window = AppWindow(
            runs_dir=str(tmp_path / "runs"),
            screen_capture=StillCapture(SCREEN),
            screen=screen or FakeScreen(),
            opener=partial(slow_backend, delay=delay) if delay else open_backend,
        )
        script = tmp_path / "outputs.json"
        script.write_text(json.dumps(list(outputs)))
        window.task_text.setPlainText("open the terminal")
        window.scripted.setChecked(True)
        window.script_path.setText(str(script))
        window.parser.setCurrentText("uitars")
        window.mode.setCurrentText(mode)
        window.kill_hotkey.setChecked(False)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.runner.stop("test over")
        window.runner.wait(WAIT_SECONDS)
        window.close()
        window.deleteLater()


def slow_backend(model: ModelSpec, *, delay: float) -> ScriptedBackend:
    """The form's scripted backend, taking `delay` seconds per answer (to act while it thinks)."""
    return ScriptedBackend(read_script(model.scripted), delay=delay)


def wait_until(predicate, what: str, timeout: float = WAIT_SECONDS) -> None:
    """Process Qt events until `predicate()` holds; fail the test after `timeout` seconds."""
    from PyQt6.QtTest import QTest

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        QTest.qWait(10)


def cells(window, row: int) -> list[str]:
    return [window.steps.item(row, column).text() for column in range(window.steps.columnCount())]


def open_boxes(window):
    from PyQt6.QtWidgets import QMessageBox

    return [box for box in window.findChildren(QMessageBox) if box.isVisible()]


def test_a_dry_run_fills_the_steps_the_screenshot_and_the_status(make_window):
    screen = FakeScreen()
    window = make_window([CLICK, TYPE, FINISH], screen=screen)
    window.start_button.click()
    wait_until(lambda: window.state in ENDED, "the run to end")
    assert window.state == "finished", window.status.text()
    assert "done" in window.status.text() and window.run_dir in window.status.text()
    assert window.steps.rowCount() == 3
    step, thought, action, outcome, model_ms, tokens, kept = cells(window, 0)
    assert (step, thought, outcome) == ("1", "open it", "dry-run")
    assert action.startswith("left click (")
    assert float(model_ms) >= 0
    kept_tokens, full_tokens = map(int, tokens.split("/"))
    assert 0 < kept_tokens < full_tokens and kept.endswith("%")
    assert cells(window, 2)[3] == "no-op"
    assert window.shot.source is not None and window.shot.source.size().width() == 1920
    assert "cells kept" in window.shot_caption.text()
    assert screen.calls == []  # dry-run: nothing performed
    run_dir = Path(window.run_dir)
    assert len((run_dir / "steps.jsonl").read_text().splitlines()) == 3
    assert window.start_button.isEnabled() and not window.stop_button.isEnabled()


def test_stop_ends_a_run_promptly_and_the_window_stays_responsive(make_window):
    from PyQt6.QtCore import QTimer

    window = make_window([CLICK] * 50, delay=0.2)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(20)
    window.start_button.click()
    wait_until(lambda: window.steps.rowCount() >= 2, "two steps")
    assert len(ticks) >= 10  # the event loop ran while the agent worked
    window.stop_button.click()
    stopped = time.monotonic()
    wait_until(lambda: window.state == "stopped", "the stop", timeout=5.0)
    timer.stop()
    assert time.monotonic() - stopped < 2.0  # the model call in flight (0.2 s) ends, no more
    assert "stopped from the app" in window.status.text()
    assert window.steps.rowCount() < 10
    assert window.start_button.isEnabled()


def test_pause_waits_between_steps_and_resume_goes_on(make_window):
    from PyQt6.QtTest import QTest

    window = make_window([CLICK] * 50, delay=0.05)
    events = []  # (arrival time, event)
    window.runner.agent_event.connect(lambda event: events.append((time.monotonic(), event)))
    window.start_button.click()
    wait_until(lambda: window.steps.rowCount() >= 1, "a step")
    window.pause_button.click()
    assert window.state == "paused" and window.pause_button.text() == "Resume"

    def waiting() -> bool:  # the step in progress (if any) has ended and no other began
        arrived, last = events[-1]
        return isinstance(last, StepFinished) and time.monotonic() - arrived > 0.3

    wait_until(waiting, "the step in progress to end")
    rows, seen = window.steps.rowCount(), len(events)
    QTest.qWait(400)
    assert (window.steps.rowCount(), len(events)) == (rows, seen)
    window.pause_button.click()
    assert window.state == "running" and window.pause_button.text() == "Pause"
    wait_until(lambda: window.steps.rowCount() > rows, "a step after resume")
    window.stop_button.click()
    wait_until(lambda: window.state == "stopped", "the stop")


def confirm_dialog(window):
    wait_until(lambda: window.confirm.dialog is not None, "the confirm dialog")
    dialog = window.confirm.dialog
    wait_until(dialog.isVisible, "the dialog to show")
    assert dialog in open_boxes(window)
    assert "left click" in dialog.text() and "open it" in dialog.informativeText()
    return dialog


def test_confirm_no_rejects_the_action(make_window):
    from PyQt6.QtWidgets import QMessageBox

    screen = FakeScreen()
    window = make_window([CLICK, FINISH], mode="confirm", screen=screen)
    window.start_button.click()
    confirm_dialog(window).button(QMessageBox.StandardButton.No).click()
    wait_until(lambda: window.state in ENDED, "the run to end")
    assert window.state == "rejected"
    assert cells(window, 0)[3] == "rejected" and screen.calls == []


def test_confirm_yes_performs_the_action(make_window):
    from PyQt6.QtWidgets import QMessageBox

    screen = FakeScreen()
    window = make_window([CLICK, FINISH], mode="confirm", screen=screen)
    window.start_button.click()
    confirm_dialog(window).button(QMessageBox.StandardButton.Yes).click()
    wait_until(lambda: window.state in ENDED, "the run to end")
    assert window.state == "finished"
    [(name, (x, y), _)] = screen.calls
    assert name == "click" and abs(x - 960) <= 2 and abs(y - 540) <= 2


def test_stop_while_the_confirm_dialog_is_open_answers_no(make_window):
    screen = FakeScreen()
    window = make_window([CLICK, FINISH], mode="confirm", screen=screen)
    window.start_button.click()
    confirm_dialog(window)
    window.stop_button.click()
    wait_until(lambda: window.state == "stopped", "the stop", timeout=3.0)
    assert window.confirm.dialog is None and not open_boxes(window)
    assert screen.calls == []


def test_closing_the_window_waits_for_the_step_and_records_the_run(make_window):
    window = make_window([CLICK] * 50, delay=0.2)
    window.start_button.click()
    wait_until(lambda: window.steps.rowCount() >= 1, "a step")
    window.close()
    assert window.isVisible()  # the step in progress is still being recorded
    wait_until(lambda: not window.isVisible(), "the window to close", timeout=3.0)
    result = json.loads((Path(window.run_dir) / "result.json").read_text())
    assert result["status"] == "stopped"


def test_a_task_file_fills_the_form(make_window, tmp_path):
    (tmp_path / "answers.json").write_text(json.dumps([FINISH]))
    task = tmp_path / "task.toml"
    task.write_text(
        'task = "Open the settings"\n'
        '[model]\nscripted = "answers.json"\nparser = "uitars"\nfamily = "qwen2"\n'
        '[prune]\nmethod = "raster"\ntau = 0.25\n'
        '[run]\nmode = "auto"\nmax_steps = 7\nmax_seconds = 30\nhistory = 1\n'
        'kill_hotkey = false\nrecord_to = "myruns"\n'
        '[secrets]\npassword = "hunter2"\n'
    )
    window = make_window()
    assert window.load_task_file(task)
    assert window.task_text.toPlainText() == "Open the settings"
    assert window.scripted.isChecked()
    assert window.script_path.text() == str(tmp_path / "answers.json")
    assert (window.method.currentText(), window.tau.value()) == ("raster", 0.25)
    assert (window.mode.currentText(), window.max_steps.value()) == ("auto", 7)
    assert (window.max_seconds.value(), window.history.value()) == (30, 1)
    assert not window.kill_hotkey.isChecked()
    assert window.runs_dir.text() == str(tmp_path / "myruns")
    assert "1 secret" in window.task_file.text()
    spec = window.settings()
    assert spec.secrets == {"password": "hunter2"} and spec.model.family == "qwen2"
    assert spec.agent.prune.method == "raster" and spec.agent.kill_hotkey is None


def test_a_task_files_vision_settings_stay_with_its_local_model(make_window, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    task = tmp_path / "task.toml"
    task.write_text(
        f'task = "x"\n[model]\npath = "{folder}"\nquantize_vision = true\nvision_cache = false\n'
    )
    window = make_window()
    assert window.load_task_file(task)
    model = window.settings().model
    assert model.path == str(folder) and model.quantize_vision and not model.vision_cache
    window.model_path.setText("http://gpu-box:8000/v1")  # a server: local settings stay behind
    model = window.settings().model
    assert model.server and not model.quantize_vision and model.vision_cache


def test_a_server_url_in_the_model_field_is_a_model_server(make_window, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_APP_SERVER_KEY", "sk-test")
    task = tmp_path / "task.toml"
    task.write_text(
        'task = "Open the settings"\n[model]\nserver = "http://gpu-box:8000/v1"\n'
        'server_model = "ui-tars"\napi_key_env = "TEST_APP_SERVER_KEY"\nfamily = "qwen2.5"\n'
    )
    window = make_window()
    assert window.load_task_file(task)
    assert not window.scripted.isChecked()
    assert window.model_path.text() == "http://gpu-box:8000/v1"
    model = window.settings().model
    assert (model.server, model.path, model.server_model) == (
        "http://gpu-box:8000/v1",
        None,
        "ui-tars",
    )
    assert model.api_key == "sk-test" and model.family == "qwen2.5"
    window.model_path.setText("https://other-box/v1")  # another server never gets the key
    model = window.settings().model
    assert (model.server, model.api_key, model.server_model) == ("https://other-box/v1", None, None)


def test_a_bad_task_file_is_a_message(make_window, tmp_path):
    task = tmp_path / "bad.toml"
    task.write_text('task = "x"\n[run]\nmoed = "auto"\n')
    window = make_window()
    assert not window.load_task_file(task)
    assert "run.moed" in window.error_line.text() and str(task) in window.error_line.text()
    assert any("run.moed" in box.text() for box in open_boxes(window))
    assert not window.load_task_file(tmp_path / "missing.toml")
    assert "cannot read task file" in window.error_line.text()
    task.write_text('task = "x"\n[model]\nscripted = "a.json"\n[prune]\nmethod = "pred2d"\n')
    assert not window.load_task_file(task)
    assert "unknown method 'pred2d'" in window.error_line.text()
    assert str(task) in window.error_line.text()
    assert window.task_text.toPlainText() == "open the terminal"  # the form is as it was


def test_a_missing_model_folder_is_a_message(make_window, tmp_path):
    window = make_window()
    window.scripted.setChecked(False)
    window.model_path.setText(str(tmp_path / "no-model-here"))
    assert not window.start()
    assert "no model folder" in window.error_line.text()
    assert open_boxes(window) and not window.runner.running


def test_a_model_that_cannot_load_is_a_message(make_window, tmp_path):
    window = make_window()
    window.script_path.setText(str(tmp_path / "missing.json"))
    window.start_button.click()
    wait_until(lambda: window.state in ENDED, "the failure")
    assert window.state == "failed"
    assert "cannot read the script" in window.error_line.text()
    wait_until(lambda: not window.runner.running, "the worker to end")
    assert window.start_button.isEnabled()


def test_a_failed_run_keeps_its_steps(make_window):
    window = make_window([CLICK])  # the script runs out at step 2: a model failure
    window.start_button.click()
    wait_until(lambda: window.state in ENDED, "the run to end")
    assert window.state == "error"
    assert "no answer left" in window.error_line.text()
    assert [cells(window, row)[3] for row in range(2)] == ["dry-run", "failed"]
    assert "no answer left" in cells(window, 1)[2]
    steps = (Path(window.run_dir) / "steps.jsonl").read_text().splitlines()
    assert len(steps) == 2


def test_a_step_without_figures_shows_question_marks():
    from ui.app import step_row

    row = step_row(StepRecord(4, 0.0, outcome="stopped"))
    assert row == ["4", "", "", "stopped", "?", "?", "?"]


def main(*args: str) -> subprocess.CompletedProcess[str]:
    return run_main(*args, timeout=60)


def test_help():
    done = main("app", "--help")
    assert done.returncode == 0 and "--demo" in done.stdout and "--screenshot" in done.stdout


def test_the_demo_renders_a_screenshot(tmp_path):
    out = tmp_path / "app.png"
    image = DATA / "desktop-xterm-1920x1080.png"
    done = main("app", "--demo", str(image), "--screenshot", str(out), "--runs-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "propagateSizeHints" not in done.stderr  # the offscreen platform's noise
    assert Image.open(out).size == (1400, 900)
    [run_dir] = [path for path in tmp_path.iterdir() if path.is_dir()]
    assert json.loads((run_dir / "result.json").read_text())["status"] == "finished"
    header = json.loads((run_dir / "run.json").read_text())
    assert header["task"] == "Show the Zen of Python in the terminal on the right"


def test_the_demo_tells_its_story_only_on_its_own_image(tmp_path):
    from ui.commands.app import demo_outputs

    told = demo_outputs(1920, 1080, story=True)
    plain = demo_outputs(1920, 1080, story=False)
    assert "xterm FAQ" in told[0] and not any("xterm" in answer for answer in plain)
    assert "written in advance, not by a model" in plain[0]
    other = tmp_path / "other.png"
    Image.new("RGB", (1280, 800), "white").save(other)
    out = tmp_path / "app.png"
    done = main("app", "--demo", str(other), "--screenshot", str(out), "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    [run_dir] = [path for path in tmp_path.iterdir() if path.is_dir()]
    steps = [json.loads(line) for line in (run_dir / "steps.jsonl").read_text().splitlines()]
    assert all("xterm" not in step["attempts"][0]["output"] for step in steps)
    assert all(step["timings"]["model"] < 0.8 for step in steps)  # no invented 0.8 s delay


def test_the_app_opens_its_window_on_the_display_and_closes():
    import os

    from desktop import require_display
    from Xlib import display as xdisplay

    require_display()
    env = dict(os.environ, QT_QPA_PLATFORM="xcb")
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "app", "--exit-after", "1.5"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        server = xdisplay.Display()
        deadline = time.monotonic() + 20
        while not _has_window(server, "PixelPrune agent"):
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the app window did not appear"
            time.sleep(0.05)
        server.close()
        _, stderr = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, stderr


def _has_window(server, title: str) -> bool:
    """A mapped window with this title anywhere under the root."""
    from Xlib import X

    pending = [server.screen().root]
    while pending:
        window = pending.pop()
        try:
            if window.get_wm_name() == title and window.get_attributes().map_state == X.IsViewable:
                return True
            pending.extend(window.query_tree().children)
        except Exception:  # a window that went away while we looked
            continue
    return False


def test_the_form_and_the_command_line_override_a_task_file_alike(make_window, tmp_path):
    from agent.commands.run import settings_from
    from tests.test_cli_run import run_args

    (tmp_path / "answers.json").write_text("[]")
    task = tmp_path / "task.toml"
    task.write_text(
        'task = "Open the settings"\n[model]\nscripted = "answers.json"\nfamily = "qwen2"\n'
        '[prune]\nmetric = "mae"\n[run]\nmonitor = "mouse"\nmax_retries = 5\n'
        '[secrets]\npassword = "hunter2"\n'
    )
    window = make_window()
    assert window.load_task_file(task)
    window.method.setCurrentText("raster")
    window.tau.setValue(0.5)
    window.mode.setCurrentText("auto")
    window.max_steps.setValue(9)
    window.history.setValue(3)
    window.kill_hotkey.setChecked(False)
    window.parser.setCurrentText("uitars")
    window.runs_dir.setText(str(tmp_path / "elsewhere"))
    from_the_form = window.settings()
    from_the_command_line = settings_from(
        run_args(
            str(task),
            *("--prune", "raster:0.5:mae", "--mode", "auto", "--max-steps", "9"),
            *("--history", "3", "--no-kill-hotkey", "--parser", "uitars"),
            *("--runs-dir", str(tmp_path / "elsewhere")),
        )
    )
    assert from_the_form == from_the_command_line
    assert from_the_form.agent.capture.monitor == "mouse" and from_the_form.agent.max_retries == 5
