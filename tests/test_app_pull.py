"""The app offers a missing hub model for download before its run, against a hub on loopback.

The window runs offscreen on a still screen (no desktop is touched); its question is answered by
the `ask_download` callable instead of a click, except in the test of the dialog itself. The hub
is tests/fake_hub.py serving a tiny random-weight model; huggingface_hub reads its endpoint and
cache folder once, at import, so the tests point those module constants at the fake hub and a
temporary HF_HOME (and put them back after).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import test_app as app_tests
from conftest import DATA
from fake_hub import FakeHub
from fakes import FakeScreen, StillCapture
from PIL import Image

REPO = "someone/tiny-vl"
WAIT_SECONDS = 120.0  # a tiny model's download, load and one step, on a busy two-core machine
ENDED = ("finished", "stopped", "rejected", "error", "failed", "max_steps", "malformed_output")
SCREEN = Image.open(DATA / "desktop-xterm-1920x1080.png").convert("RGB").resize((960, 540))


class HeldHub(FakeHub):
    """A fake hub that holds back the body of one file until `release` is set (a slow link)."""

    def __init__(self, folder: Path, repo: str, held: str) -> None:
        super().__init__(folder, repo)
        self.held = held
        self.release = threading.Event()

    def _handler(self):
        hub, base = self, super()._handler()

        class Held(base):
            def do_GET(self) -> None:
                if self.path.endswith(f"/{hub.held}"):
                    hub.release.wait(WAIT_SECONDS)
                super().do_GET()

        return Held


def point_hub_at(monkeypatch, url: str, home: Path, *, offline: bool = False) -> None:
    """huggingface_hub's endpoint, cache and offline switch, as HF_ENDPOINT and HF_HOME set them."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setattr(constants, "ENDPOINT", url)
    template = url + "/{repo_id}/resolve/{revision}/{filename}"
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)


def snapshot(home: Path) -> Path:
    return home / "hub" / "models--someone--tiny-vl" / "snapshots"


def largest(folder: Path) -> str:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return max(files, key=lambda p: p.stat().st_size).relative_to(folder).as_posix()


@pytest.fixture
def make_window(qapp, tmp_path):
    """App windows for the tiny hub model, dry-run on a still screen; stopped and closed after."""
    windows = []

    def make(model: str = REPO, *, ask=None):
        from ui.app import AppWindow

        window = AppWindow(
            runs_dir=str(tmp_path / "runs"),
            screen_capture=StillCapture(SCREEN),
            screen=FakeScreen(),
            **({} if ask is None else {"ask_download": ask}),
        )
        window.task_text.setPlainText("open the terminal")
        window.model_path.setText(model)
        window.quantization.setCurrentText("none")
        window.mode.setCurrentText("dry-run")
        window.max_steps.setValue(1)
        window.kill_hotkey.setChecked(False)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.stop()
        window.runner.stop("test over")
        window.runner.wait(WAIT_SECONDS)
        window.download.wait(WAIT_SECONDS)
        window.close()
        window.deleteLater()


def wait_until(predicate, what: str) -> None:
    """test_app's wait, with this module's longer limit (a download, a load and a step)."""
    app_tests.wait_until(predicate, what, WAIT_SECONDS)


def test_yes_downloads_with_progress_then_the_run_starts(
    make_window, tiny_model_dirs, tmp_path, monkeypatch
):
    folder, home = tiny_model_dirs["qwen2.5"], tmp_path / "hf-home"
    asked = []
    with FakeHub(folder, REPO) as hub:
        point_hub_at(monkeypatch, hub.url, home)
        window = make_window(ask=lambda found: asked.append(found) or True)
        progress: list[tuple[int, int]] = []
        window.download.progress.connect(lambda done, total: progress.append((done, total)))
        assert window.start()
        wait_until(lambda: window.state in ENDED, "the download and the run")
        assert window.state != "failed", window.status.text()
        size = sum((folder / name).stat().st_size for name in hub.files)
        assert [(found.model, found.files, found.size) for found in asked] == [
            (REPO, len(hub.files), size)
        ]
        assert progress and progress[-1] == (size, size)
        assert window.steps.rowCount() == 1 and window.run_dir is not None  # the run ran
        name = largest(folder)
        copy = next(snapshot(home).iterdir()) / name
        assert copy.read_bytes() == (folder / name).read_bytes()
        assert not window.download_bar.isVisible() and window.start_button.isEnabled()

        wait_until(lambda: not window.runner.running, "the worker to end")
        assert window.start()  # in the cache now: no question, the run starts
        wait_until(lambda: window.state in ENDED, "the second run")
        assert len(asked) == 1 and window.state != "failed", window.status.text()


def test_no_downloads_nothing_and_says_how_to_get_it(
    make_window, tiny_model_dirs, tmp_path, monkeypatch
):
    home = tmp_path / "hf-home"
    with FakeHub(tiny_model_dirs["qwen2.5"], REPO) as hub:
        point_hub_at(monkeypatch, hub.url, home)
        window = make_window(ask=lambda found: False)
        assert window.start()
        wait_until(lambda: window.state == "not started", "the refusal")
    status = window.status.text()
    assert f"python main.py pull {REPO}" in status and f"hf download {REPO}" in status
    assert not snapshot(home).exists() and not window.runner.running
    assert window.start_button.isEnabled() and not window.stop_button.isEnabled()


@pytest.mark.parametrize(
    ("model", "offline", "message"),
    [
        ("someone/not-there", False, "no model 'someone/not-there'"),
        (REPO, True, "offline"),
    ],
)
def test_an_unknown_model_or_offline_is_a_clear_message(
    make_window, tiny_model_dirs, tmp_path, monkeypatch, model, offline, message
):
    asked = []
    with FakeHub(tiny_model_dirs["qwen2.5"], REPO) as hub:
        point_hub_at(monkeypatch, hub.url, tmp_path / "hf-home", offline=offline)
        window = make_window(model, ask=asked.append)
        assert window.start()
        wait_until(lambda: window.state == "failed", "the message")
    assert message in window.error_line.text() and "Traceback" not in window.error_line.text()
    assert not asked and not window.runner.running and window.start_button.isEnabled()


def test_no_hub_at_all_is_a_clear_message(make_window, tmp_path, monkeypatch):
    point_hub_at(monkeypatch, "http://127.0.0.1:9", tmp_path / "hf-home")
    window = make_window(ask=lambda found: True)
    assert window.start()
    wait_until(lambda: window.state == "failed", "the message")
    assert "cannot reach" in window.error_line.text()


@pytest.mark.parametrize("where", ["absolute", "./relative"])
def test_a_missing_local_folder_is_an_error_not_an_offer(make_window, tmp_path, where):
    path = str(tmp_path / "no-model") if where == "absolute" else "./no-such/model"
    asked = []
    window = make_window(path, ask=asked.append)
    assert not window.start()
    assert "no model folder" in window.error_line.text()
    assert not asked and not window.busy


def test_stop_cancels_the_download_and_the_next_start_resumes_it(
    make_window, tiny_model_dirs, tmp_path, monkeypatch
):
    folder, home = tiny_model_dirs["qwen2.5"], tmp_path / "hf-home"
    with HeldHub(folder, REPO, held=largest(folder)) as hub:
        point_hub_at(monkeypatch, hub.url, home)
        window = make_window(ask=lambda found: True)
        assert window.start()
        wait_until(lambda: window.state == "downloading", "the download")
        assert window.download_bar.isVisible() and window.stop_button.isEnabled()
        window.stop_button.click()
        assert window.state == "stopped" and "download stopped" in window.status.text()
        assert window.start_button.isEnabled() and not window.runner.running
        hub.release.set()  # the held file comes; the cancelled download stops at it
        assert window.download.wait(WAIT_SECONDS)
        assert window.state == "stopped" and not window.runner.running  # no late start
        assert not (snapshot(home).exists() and any(snapshot(home).rglob(hub.held)))

        assert window.start()
        wait_until(lambda: window.state in ENDED, "the resumed download and the run")
    assert window.state != "failed", window.status.text()
    assert window.steps.rowCount() == 1


def test_the_question_is_a_dialog_naming_the_model_and_its_size(
    make_window, tiny_model_dirs, tmp_path, monkeypatch
):
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QMessageBox

    from agent.commands.pull import size_text

    shown: list[str] = []

    def answer_no() -> None:  # the dialog runs its own event loop: answered from a timer
        for box in window.findChildren(QMessageBox):
            if box.isVisible() and REPO in box.text():
                shown.append(box.text())
                box.button(QMessageBox.StandardButton.No).click()

    with FakeHub(tiny_model_dirs["qwen2.5"], REPO) as hub:
        point_hub_at(monkeypatch, hub.url, tmp_path / "hf-home")
        window = make_window()
        timer = QTimer(window)
        timer.timeout.connect(answer_no)
        timer.start(20)
        assert window.start()
        wait_until(lambda: window.state == "not started", "the answer")
        timer.stop()
    size = sum((tiny_model_dirs["qwen2.5"] / name).stat().st_size for name in hub.files)
    assert len(shown) == 1 and f"{len(hub.files)} files, {size_text(size)}" in shown[0]
