"""The desktop control app: set up a run, start, pause and stop it, and watch every step.

    window = AppWindow(runs_dir="runs")
    window.show()

The form holds what `main.py run` takes on its command line: the model (a folder, a hub id, or a
scripted outputs file clearly marked as no model), pruning, mode, limits and the runs folder. A
task file fills the form; what the form does not show (secrets, model family, monitor, retries)
is kept from the file, as the CLI keeps it when options override a file. The run itself goes on
an `AgentRunner` thread; its events update the step table, the screenshot with its PixelPrune
heatmap and the status line here, on the GUI thread. Every failure ends as a message in the
window (and a message box), never as a traceback, and the steps of a failed run stay listed and
in the run folder.

A local model named by a hub id that is not in the Hugging Face cache is offered for download
before the run starts (`ask_download`, a dialog naming the model and its size, as `main.py pull`
asks); the download runs on a worker thread with its progress shown, Stop cancels it, and the
run starts once it is done.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QCloseEvent, QPixmap, QResizeEvent
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from agent.actions import describe
from agent.backends.base import Backend
from agent.backends.spec import open_backend
from agent.capture import Grabber
from agent.commands.pull import HubModel, size_text
from agent.errors import AgentError
from agent.events import (
    ActionProposed,
    Event,
    ModelFailed,
    RunFinished,
    RunStarted,
    ScreenCaptured,
    StepFinished,
    StepStarted,
)
from agent.executor import MODES, Mode
from agent.hotkey import DEFAULT_KILL_HOTKEY
from agent.loop import CaptureGuard
from agent.parsers.registry import PARSERS
from agent.records import StepRecord
from agent.secrets import redact
from agent.settings import (
    QUANTIZATIONS,
    RUNS_DIR,
    AgentConfig,
    ModelSpec,
    Settings,
    load_task_file,
)
from pixelprune import METHODS, PruneConfig, Selection
from ui.confirm import GuiConfirm
from ui.download import ModelDownload
from ui.images import heatmap_over, to_pixmap
from ui.out_of_view import OutOfView, on_wayland
from ui.overlay import Overlay
from ui.runner import AgentRunner

__all__ = ["COLUMNS", "AppWindow", "ShotView", "download_question", "step_row"]

COLUMNS = ("step", "thought", "action", "outcome", "model ms", "tokens kept/full", "kept")
DEFAULT_PARSER = "(the model's own)"


class AppWindow(QMainWindow):
    """The main window; `screen_capture`, `screen` and `opener` go to the runner (tests, demos).

    `ask_download(found) -> bool` answers whether to download a missing hub model (default: a
    dialog); tests give their answer here instead of clicking.
    """

    def __init__(
        self,
        *,
        runs_dir: str = RUNS_DIR,
        screen_capture: Grabber | None = None,
        screen: object = None,
        opener: Callable[[ModelSpec], Backend] = open_backend,
        ask_download: Callable[[HubModel], bool] | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("PixelPrune agent")
        self.state = "idle"  # idle | loading | running | paused | stopping | how the run ended
        self.run_dir: str | None = None
        self.loaded: Settings | None = None  # the task file behind the form, if any
        self._secrets: tuple[str, ...] = ()
        self._shown_step = 0  # the step whose screenshot is on view
        self._close_when_done = False
        self._real_screen = screen_capture is None  # a still image (tests, demos): no overlay
        self.out_of_view = OutOfView(self)  # off the captured screen while a run goes on
        self.confirm = GuiConfirm(self, before_asking=self.out_of_view.come_back)
        self.runner = AgentRunner(
            confirm=self.confirm,
            screen_capture=screen_capture,
            screen=screen,
            opener=opener,
            parent=self,
        )
        self.runner.agent_event.connect(self.on_event)
        self.runner.failed.connect(self.on_failure)
        self.overlay: Overlay | None = None  # made on the first run that asks for it
        self.runner.ended.connect(self._on_ended)
        self.ask_download = ask_download or self._ask_in_dialog
        self._waiting: Settings | None = None  # the run to start once its model is there
        self._downloading = ""  # the hub id being downloaded, for the status line
        self.download = ModelDownload(self)
        self.download.ready.connect(self._on_model_ready)
        self.download.offered.connect(self._on_download_offered)
        self.download.progress.connect(self._on_download_progress)
        self.download.failed.connect(self._on_download_failed)
        self._build(runs_dir)
        self._set_state("idle", "fill in the form and press Start")

    # -- the form ---------------------------------------------------------------------------

    def settings(self) -> Settings:
        """The run the form describes, over the loaded task file; `AgentError` says what's wrong.

        What the form does not show (secrets, model family, monitor, retries, a server's key)
        is kept from the file by `Settings.with_overrides`, as on the command line.
        """
        task = self.task_text.toPlainText().strip()
        if not task:
            raise AgentError("type a task, or open a task file")
        form = {"task": task} | self._form_model() | self._form_run()
        if self.loaded is None:
            return Settings.for_task(**form)
        return self.loaded.with_overrides(**form)

    def _form_model(self) -> dict[str, Any]:
        """The model the form names: a script, a server URL, or a local folder or hub id."""
        if self.scripted.isChecked():
            script = self.script_path.text().strip()
            if not script:
                raise AgentError("choose a scripted outputs file (a JSON list of model answers)")
            return {"scripted": script}
        path = self.model_path.text().strip()
        if not path:
            raise AgentError("choose a model folder, type a hub id or a server URL")
        if path.startswith(("http://", "https://")):
            return {"server": path}
        if path.startswith(("/", "~", ".")) and not Path(path).expanduser().is_dir():
            raise AgentError(f"no model folder at {path}")
        return {"path": path, "quantization": self.quantization.currentText()}

    def _form_run(self) -> dict[str, Any]:
        """Pruning, output format, mode, limits, kill hotkey and runs folder as the form says."""
        prune = (self.loaded.agent.prune if self.loaded else None) or PruneConfig()
        parser = self.parser.currentText()
        return {
            "prune": dataclasses.replace(
                prune, method=self.method.currentText(), tau=self.tau.value()
            )
            if self.prune.isChecked()
            else None,
            "parser": None if parser == DEFAULT_PARSER else parser,
            "mode": _mode(self.mode.currentText()),
            "max_steps": self.max_steps.value(),
            "max_seconds": float(self.max_seconds.value()) or None,
            "history": self.history.value(),
            "kill_hotkey": self._hotkey if self.kill_hotkey.isChecked() else None,
            "record_to": self.runs_dir.text().strip() or RUNS_DIR,
        }

    def load_task_file(self, path: str | Path) -> bool:
        """Fill the form from a task file; a bad file is shown as a message (False)."""
        try:
            spec = load_task_file(path)
        except AgentError as error:
            self.show_error(str(error))
            return False
        unknown = _unknown_choices(spec)
        if unknown:
            self.show_error(f"{path}: {unknown}")
            return False
        self.loaded = spec
        self.task_text.setPlainText(spec.task)
        self.scripted.setChecked(spec.model.scripted is not None)
        self.script_path.setText(spec.model.scripted or "")
        self.model_path.setText(spec.model.path or spec.model.server or "")
        self.quantization.setCurrentText(spec.model.quantization or "none")
        config = spec.agent
        self.parser.setCurrentText(config.parser or DEFAULT_PARSER)
        self.prune.setChecked(config.prune is not None)
        if config.prune is not None:
            self.method.setCurrentText(config.prune.method)
            self.tau.setValue(config.prune.tau)
        self.mode.setCurrentText(config.mode)
        self.max_steps.setValue(config.max_steps)
        self.max_seconds.setValue(math.ceil(config.max_seconds or 0))  # a limit stays a limit
        self.history.setValue(config.history)
        self._hotkey = config.kill_hotkey or DEFAULT_KILL_HOTKEY
        self.kill_hotkey.setText(f"kill hotkey {self._hotkey} (stops the run from any window)")
        self.kill_hotkey.setChecked(config.kill_hotkey is not None)
        if config.record_to is not None:
            self.runs_dir.setText(config.record_to)
        secrets = f", {len(spec.secrets)} secret(s)" if spec.secrets else ""
        self.task_file.setText(f"task file: {path}{secrets}")
        self.error_line.clear()
        return True

    # -- run control ------------------------------------------------------------------------

    def start(self) -> bool:
        """Start the run the form describes; False (with a message) when it cannot start.

        A local model is first looked for in the cache (on a worker thread): a hub id that is
        not there is offered for download, and the run starts once the model is there.
        """
        if self.busy:
            return False
        try:
            spec = self.settings()
        except AgentError as error:
            self.show_error(str(error))
            return False
        self._secrets = tuple(spec.secrets.values())
        self.steps.setRowCount(0)
        self.error_line.clear()
        self.run_dir, self._shown_step = None, 0
        if spec.model.path is None:
            self._launch(spec)
            return True
        self._waiting = spec
        self.download.check(spec.model.path)
        self._set_state("loading", f"looking for {spec.model.path} (the window stays usable)")
        return True

    @property
    def busy(self) -> bool:
        """A run, or the model check or download before it, is in progress."""
        return self.runner.running or self._waiting is not None

    def _launch(self, spec: Settings) -> None:
        """Open the model and run the task on the runner's thread."""
        self._prepare_overlay(self.show_overlay.isChecked())
        self.out_of_view.active = self._real_screen
        self.runner.start(spec)
        what = "scripted outputs" if spec.model.scripted else "the model"
        self._set_state("loading", f"opening {what} (the window stays usable)")

    def _prepare_overlay(self, wanted: bool) -> None:
        """Follow the run with the live overlay (and keep it out of the agent's captures)."""
        if wanted and self.overlay is None:
            self.overlay = Overlay()
            self.runner.agent_event.connect(self.overlay.on_event)
            self.overlay.start_hotkeys()
        if self.overlay is not None:
            self.overlay.setVisible(False)
            self.overlay.following = wanted
        guards: list[CaptureGuard] = [self.overlay] if wanted and self.overlay else []
        if self._real_screen:
            guards.append(self.out_of_view)
        self.runner.capture_guards[:] = guards

    def toggle_pause(self) -> None:
        if not self.runner.running:
            return
        if self.runner.paused:
            self.runner.resume()
            self._set_state("running", "resumed")
        else:
            self.runner.pause()
            self.out_of_view.come_back()
            self._set_state("paused", "the step in progress finishes, then the run waits")

    def stop(self) -> None:
        if self._waiting is not None:
            self._cancel_download()
            return
        if self.runner.running:
            self.runner.stop()
            self._set_state("stopping", "the step in progress ends, nothing more is performed")

    # -- a missing model ----------------------------------------------------------------------

    def _on_model_ready(self) -> None:
        spec, self._waiting = self._waiting, None
        self.download_bar.setVisible(False)
        if spec is not None:
            self._launch(spec)

    def _on_download_offered(self, found: HubModel) -> None:
        """Ask; yes downloads (then the run starts), no leaves the run unstarted."""
        if self._waiting is None:  # stopped while the lookup was on its way
            return
        if not self.ask_download(found):
            self._waiting = None
            self._set_state("not started", f"{found.model} is not downloaded: {_get_it(found)}")
            return
        self.download.fetch(found)
        self.download_bar.setRange(0, 1000)
        self.download_bar.setValue(0)
        self.download_bar.setVisible(True)
        self._downloading = found.model
        self._set_state("downloading", f"{found} (Stop cancels; a later download resumes)")

    def _on_download_progress(self, done: int, total: int) -> None:
        self.download_bar.setValue(round(1000 * done / total) if total else 0)
        self._set_state(
            "downloading",
            f"{self._downloading}: {size_text(done)} of {size_text(total)} "
            "(Stop cancels; a later download resumes)",
        )

    def _on_download_failed(self, message: str) -> None:
        self._waiting = None
        self.download_bar.setVisible(False)
        self._set_state("failed", message)
        self.show_error(message)

    def _cancel_download(self) -> None:
        """Stop looking up or downloading; the run does not start."""
        self.download.cancel()
        self._waiting = None
        self.download_bar.setVisible(False)
        detail = "download stopped; what was downloaded stays, and the next Start resumes it"
        self._set_state("stopped", detail if self.state == "downloading" else "not started")

    def _ask_in_dialog(self, found: HubModel) -> bool:
        """The default `ask_download`: a modal question, No by default (a download is large)."""
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Download the model?",
            download_question(found),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self,
        )
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.exec()
        clicked = box.clickedButton()
        return clicked is not None and box.standardButton(clicked) == QMessageBox.StandardButton.Yes

    # -- events from the runner -------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """One agent event, on the GUI thread."""
        match event:
            case RunStarted(task=task, model=model, parser=parser, run_dir=run_dir):
                self.run_dir = run_dir
                if self.state == "loading":
                    self._set_state("running", f"{task} — {model} ({parser})")
            case StepStarted(number=number):
                self._set_detail(f"step {number}: asking the model")
            case ScreenCaptured(number=number, screenshot=shot, selection=selection):
                self._show_screenshot(number, shot.image, selection)
            case ModelFailed(number=number, attempt=attempt, error=error):
                self._set_detail(f"step {number}, attempt {attempt}: unusable answer: {error}")
            case ActionProposed(number=number, action=action):
                self._set_detail(f"step {number}: {describe(action, secrets=self._secrets)}")
            case StepFinished(record=record):
                self._add_step(record)
            case RunFinished(result=result):
                self._back_in_view()
                folder = f" — run folder: {result.run_dir}" if result.run_dir else ""
                self.run_dir = result.run_dir
                self._set_state(result.status, f"{result.answer}{folder}")
                if result.status == "error":
                    self.show_error(f"the run failed: {result.answer}")

    def on_failure(self, message: str) -> None:
        """The run could not start (model, hotkey, run folder) or broke."""
        self._back_in_view()
        self._set_state("failed", message)
        self.show_error(message)

    def show_error(self, message: str) -> None:
        """An error line in the window and a message box that does not block the app."""
        self.error_line.setText(message)
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "PixelPrune agent",
            message,
            QMessageBox.StandardButton.Ok,
            self,
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def closeEvent(self, event: QCloseEvent | None) -> None:
        """Closing stops the run; the window goes once the step in progress is recorded."""
        if event is None:
            return
        if self._waiting is not None:
            self._cancel_download()
        if self.runner.running and not self.runner.loading:
            self._close_when_done = True
            self.stop()
            event.ignore()
            return
        if self.runner.running:  # still loading the model: nothing recorded yet
            self.runner.stop("window closed")
        if self.overlay is not None:
            self.overlay.shutdown()
        event.accept()

    def _on_ended(self) -> None:
        if self.busy:  # a new run began (or is being prepared) before this signal arrived
            return
        self._back_in_view()
        if self.state in ("loading", "running", "paused", "stopping"):
            self._set_state("stopped", "the run ended")  # no RunFinished came (e.g. not started)
        self._update_buttons()
        if self._close_when_done:
            self.close()

    def _back_in_view(self) -> None:
        """The run is over: the window comes back and stays."""
        self.out_of_view.active = False
        self.out_of_view.come_back()

    # -- views ------------------------------------------------------------------------------

    def _add_step(self, record: StepRecord) -> None:
        row = self.steps.rowCount()
        self.steps.insertRow(row)
        for column, text in enumerate(step_row(record, self._secrets)):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            self.steps.setItem(row, column, item)
        self.steps.scrollToBottom()
        if record.screenshot is not None and record.number != self._shown_step:
            self._show_screenshot(record.number, record.screenshot.image, record.selection)
        outcome = record.outcome + (f" ({record.error})" if record.error else "")
        self._set_detail(f"step {record.number}: {outcome}")

    def _show_screenshot(
        self, number: int, image: Image.Image, selection: Selection | None
    ) -> None:
        self._shown_step = number
        shown = image if selection is None else heatmap_over(image, selection)
        self.shot.show_image(shown)
        kept = "" if selection is None else f", {selection.kept_share:.0%} of cells kept"
        self.shot_caption.setText(f"step {number}: {image.width}x{image.height}{kept}")

    def _set_state(self, state: str, detail: str) -> None:
        self.state = state
        self._detail = detail
        self.status.setText(f"{state}: {detail}")
        self._update_buttons()

    def _set_detail(self, detail: str) -> None:
        if self.state in ("running", "paused", "stopping"):
            self._set_state(self.state, detail)

    def _update_buttons(self) -> None:
        running = self.runner.running
        self.start_button.setEnabled(not self.busy)
        self.pause_button.setEnabled(running)
        self.stop_button.setEnabled(self.busy)
        self.pause_button.setText("Resume" if running and self.runner.paused else "Pause")
        self.form.setEnabled(not self.busy)

    def _choose_model_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model folder")
        if folder:
            self.model_path.setText(folder)
            self.scripted.setChecked(False)

    def _choose_script(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Scripted outputs", "", "JSON (*.json)")
        if path:
            self.script_path.setText(path)
            self.scripted.setChecked(True)

    def _choose_task_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Task file", "", "Task files (*.toml)")
        if path:
            self.load_task_file(path)

    # -- layout -----------------------------------------------------------------------------

    def _build(self, runs_dir: str) -> None:
        self.form = QWidget()
        form = QVBoxLayout(self.form)
        form.addWidget(self._model_box())
        form.addWidget(self._task_box())
        form.addWidget(self._run_box(runs_dir))
        form.addStretch(1)
        self.start_button = _button("Start", self.start)
        self.pause_button = _button("Pause", self.toggle_pause)
        self.stop_button = _button("Stop", self.stop)
        self.recalibrate_button = _button("Recalibrate", self.runner.recalibrate)
        self.recalibrate_button.setToolTip(
            "measure the unpruned model time again at the next step (latency saved)"
        )
        buttons = QHBoxLayout()
        for button in (
            self.start_button,
            self.pause_button,
            self.stop_button,
            self.recalibrate_button,
        ):
            buttons.addWidget(button)
        hint = QLabel(
            "Stop: the Stop button, or Ctrl+Shift+F12 from any window while the agent works; "
            "FAILSAFE: move the mouse into a screen corner."
        )
        hint.setWordWrap(True)
        left = QWidget()
        column = QVBoxLayout(left)
        column.addWidget(self.form, 1)
        column.addLayout(buttons)
        column.addWidget(hint)

        self.shot = ShotView()
        self.shot_caption = QLabel("no screenshot yet")
        self.steps = QTableWidget(0, len(COLUMNS))
        self.steps.setHorizontalHeaderLabels(COLUMNS)
        self.steps.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        vertical, header = self.steps.verticalHeader(), self.steps.horizontalHeader()
        if vertical is None or header is None:  # a QTableWidget always has both
            raise RuntimeError("the step table has no headers")
        vertical.setVisible(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        for column_index in (1, 2):
            header.setSectionResizeMode(column_index, QHeaderView.ResizeMode.Stretch)
        view = QWidget()
        shot_column = QVBoxLayout(view)
        shot_column.setContentsMargins(0, 0, 0, 0)
        shot_column.addWidget(self.shot, 1)
        shot_column.addWidget(self.shot_caption)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(view)
        right.addWidget(self.steps)
        right.setSizes([500, 300])

        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_line = QLabel()
        self.error_line.setWordWrap(True)
        self.error_line.setStyleSheet("color: #b00020")
        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(left)
        main.addWidget(right)
        main.setStretchFactor(1, 1)
        main.setSizes([380, 900])
        central = QWidget()
        page = QVBoxLayout(central)
        page.addWidget(main, 1)
        self.download_bar = QProgressBar()
        self.download_bar.setVisible(False)
        page.addWidget(self.download_bar)
        page.addWidget(self.status)
        page.addWidget(self.error_line)
        self.setCentralWidget(central)
        self.resize(1360, 860)

    def _model_box(self) -> QGroupBox:
        self.model_path = QLineEdit()
        self.model_path.setPlaceholderText(
            "folder, hub id (ByteDance-Seed/UI-TARS-1.5-7B) or server URL (http://host:8000/v1)"
        )
        self.quantization = _combo(QUANTIZATIONS)
        self.scripted = QCheckBox("scripted (no model): replay answers from a JSON file")
        self.script_path = QLineEdit()
        self.script_path.setPlaceholderText("outputs.json")
        self.parser = _combo((DEFAULT_PARSER, *sorted(PARSERS)))
        self.scripted.toggled.connect(self._on_scripted)
        self._on_scripted(False)
        box = QGroupBox("Model")
        layout = QFormLayout(box)
        layout.addRow("model", _row(self.model_path, _button("Folder…", self._choose_model_folder)))
        layout.addRow("quantization", self.quantization)
        layout.addRow(self.scripted)
        layout.addRow("script", _row(self.script_path, _button("File…", self._choose_script)))
        layout.addRow("output format", self.parser)
        return box

    def _task_box(self) -> QGroupBox:
        self.task_text = QPlainTextEdit()
        self.task_text.setPlaceholderText("What should the agent do?")
        self.task_text.setMaximumHeight(80)
        self.task_file = QLabel("no task file")
        self.task_file.setWordWrap(True)
        box = QGroupBox("Task")
        layout = QVBoxLayout(box)
        layout.addWidget(self.task_text)
        layout.addWidget(_row(self.task_file, _button("Open task file…", self._choose_task_file)))
        return box

    def _run_box(self, runs_dir: str) -> QGroupBox:
        self.prune = QCheckBox("prune screenshots (PixelPrune)")
        self.prune.setChecked(True)
        self.method = _combo(tuple(METHODS))
        self.tau = QDoubleSpinBox()
        self.tau.setRange(0.0, 1.0)  # a distance between pixel values on [0, 1]
        self.tau.setDecimals(3)
        self.tau.setSingleStep(0.01)
        self.tau.setToolTip("0 = lossless: only exact duplicate cells are dropped")
        self.mode = _combo(MODES)
        self.mode.setCurrentText(AgentConfig.mode)
        self.max_steps = _spin(1, 1000, AgentConfig.max_steps)
        self.max_seconds = _spin(0, 86400, 0)
        self.max_seconds.setSpecialValueText("no limit")
        self.max_seconds.setSuffix(" s")
        self.history = _spin(0, 20, AgentConfig.history)
        self._hotkey = DEFAULT_KILL_HOTKEY
        self.kill_hotkey = QCheckBox(f"kill hotkey {self._hotkey} (stops the run from any window)")
        self.kill_hotkey.setChecked(True)
        self.runs_dir = QLineEdit(runs_dir)
        self.show_overlay = QCheckBox(
            "overlay on the screen: kept cells, next action, latency saved (Ctrl+Shift+F10/F11)"
        )
        self.show_overlay.setChecked(self._real_screen)
        if on_wayland():  # a Wayland window cannot put itself over the screen at a place
            self.show_overlay.setChecked(False)
            self.show_overlay.setEnabled(False)
            self.show_overlay.setToolTip(
                "the live overlay needs X11 for now: on Wayland a window cannot place itself "
                "over the screen; step through the run in the viewer afterwards"
            )
        box = QGroupBox("Pruning, mode and limits")
        layout = QFormLayout(box)
        layout.addRow(self.prune)
        layout.addRow("method", self.method)
        layout.addRow("τ", self.tau)
        layout.addRow("mode", self.mode)
        layout.addRow("max steps", self.max_steps)
        layout.addRow("max time", self.max_seconds)
        layout.addRow("history", self.history)
        layout.addRow(self.kill_hotkey)
        layout.addRow(self.show_overlay)
        layout.addRow("runs folder", self.runs_dir)
        return box

    def _on_scripted(self, scripted: bool) -> None:
        self.model_path.setEnabled(not scripted)
        self.quantization.setEnabled(not scripted)
        self.script_path.setEnabled(scripted)


class ShotView(QLabel):
    """The last screenshot (with its heatmap), scaled to fit and kept sharp on resize."""

    def __init__(self) -> None:
        super().__init__("no screenshot yet")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.source: QPixmap | None = None  # at full size

    def show_image(self, image: Image.Image) -> None:
        self.source = to_pixmap(image)
        self._fit()

    def resizeEvent(self, event: QResizeEvent | None) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if self.source is not None:
            self.setPixmap(
                self.source.scaled(
                    self.size(),
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            )


def step_row(record: StepRecord, secrets: tuple[str, ...] = ()) -> list[str]:
    """The table's cells for one step; "?" where a figure is unknown."""
    thought = "" if record.model_action is None else redact(record.model_action.thought, secrets)
    action = "; ".join(describe(a, secrets=secrets) for a in record.actions) or record.error or ""
    model = record.timings.get("model")
    full, kept = record.image_tokens
    return [
        str(record.number),
        thought,
        action,
        record.outcome or "?",
        "?" if model is None else f"{model * 1000:.0f}",
        "?" if full is None or kept is None else f"{kept}/{full}",
        "?" if not full or kept is None else f"{kept / full:.0%}",
    ]


def download_question(found: HubModel) -> str:
    """The dialog's question: the model id and the size, as `main.py pull` shows them."""
    return (
        f"{found.model} is not in the local Hugging Face cache.\n\n"
        f"Download it now? {found.files} files, {size_text(found.size)}, into the Hugging Face "
        "cache; the run starts when it is done."
    )


def _get_it(found: HubModel) -> str:
    """How to get the model another time (the same advice as the loader's error)."""
    return (
        f"download it with `python main.py pull {found.model}` (or `hf download {found.model}`), "
        "or press Start again"
    )


def _mode(text: str) -> Mode:
    """The combo's text as a mode (the combo lists MODES only)."""
    for mode in MODES:
        if mode == text:
            return mode
    raise AgentError(f"mode must be one of {', '.join(MODES)}, got {text!r}")


def _unknown_choices(spec: Settings) -> str:
    """What in a task file the form has no choice for (a typo must not become another setting)."""
    config = spec.agent  # (an unknown pruning method cannot be loaded at all: PruneConfig refuses)
    if config.parser is not None and config.parser not in PARSERS:
        return f"unknown output format {config.parser!r}; known: {', '.join(sorted(PARSERS))}"
    return ""


def _button(text: str, slot: Callable[[], object]) -> QPushButton:
    button = QPushButton(text)
    button.clicked.connect(lambda _checked=False: slot())
    return button


def _combo(items: tuple[str, ...]) -> QComboBox:
    combo = QComboBox()
    combo.addItems(items)
    return combo


def _spin(low: int, high: int, value: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    return spin


def _row(*widgets: QWidget) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget, 1 if isinstance(widget, (QLineEdit, QLabel)) else 0)
    return row
