"""The trajectory viewer: step through a recorded run to see what the agent saw, thought and did.

A person debugging a run wants, per step, the screenshot the model saw with the cells PixelPrune
kept, where the action landed on it, the model's raw answers (failed attempts too), and where
the time went. Everything is read from the run folder (`agent.trajectory.load_run`); a step
whose images are missing shows a placeholder and the rest of the run stays browsable, and a
record that misses steps (a torn last line, no steps.jsonl) says so in the header and title.

    window = ViewerWindow(load_run("runs/20261127-210405-open-settings"))
    window.show()          # Right/Left, PageDown/PageUp, Home/End, H: heatmap, Ctrl+S: export
    window.export_step("step.png")
"""

from __future__ import annotations

import html
from pathlib import Path

from PIL import Image, ImageDraw
from PyQt6.QtCore import QSize, Qt
from PyQt6.QtGui import (
    QAction,
    QColor,
    QImage,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QPixmap,
    QTextDocument,
)
from PyQt6.QtWidgets import (
    QFileDialog,
    QLabel,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTextBrowser,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from agent.actions import Action, Point, Space, describe
from agent.coords import Frame, from_screen
from agent.errors import ActionError
from agent.records import StepRecord
from agent.trajectory import RecordedRun
from ui.images import heatmap_over, to_qimage

__all__ = ["MARKER_COLOR", "STAGES", "ViewerError", "ViewerWindow", "render_step"]

MARKER_COLOR = (0, 200, 255)  # cyan: stands out from the orange kept-cell tint
OUTLINE_COLOR = (0, 0, 0)
# the loop's timing stages in the order they happen; a stage a backend did not measure is absent
STAGES = ("capture", "prune", "vision", "prefill", "decode", "model", "parse", "act", "total")
_POINT_FIELDS = ("start", "point", "end")
_MISSING = "–"


class ViewerError(Exception):
    """A step cannot be shown or exported; the message says which file or what is missing."""


class ViewerWindow(QMainWindow):
    """One recorded run: a step list, the step's picture and its texts, driven by the keyboard."""

    def __init__(self, run: RecordedRun, *, start: int = 0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run = run
        self._index = 0
        self._heatmap = True
        self._image: Image.Image | None = None  # the current step as shown, full resolution
        self._build()
        self._add_actions()
        for step in run.steps:
            self.step_list.addItem(_step_label(step))
        self._header.setText(header_html(run))
        self.resize(1400, 900)
        self.show_step(start)

    @property
    def index(self) -> int:
        """The current step's position in `run.steps` (0-based)."""
        return self._index

    @property
    def heatmap(self) -> bool:
        return self._heatmap

    @property
    def placeholder(self) -> str:
        """The text shown instead of a picture ("" while a picture is shown)."""
        return self.picture.text

    def show_step(self, index: int) -> None:
        """Show step `index` (clamped to the run), its picture and texts."""
        count = len(self.run.steps)
        self._index = min(max(index, 0), max(count - 1, 0))
        name = self.run.folder.name + (" (incomplete record)" if self.run.lost else "")
        if count == 0:
            self.setWindowTitle(f"{name} — no steps — PixelPrune viewer")
            self._image = None
            self.picture.set_image(None, "no steps: the run ended before its first step")
            self._details.setHtml("<p><b>no steps</b></p>")
            self._attempts.setHtml("")
            return
        step = self.run.steps[self._index]
        self.setWindowTitle(f"{name} — step {self._index + 1}/{count} — PixelPrune viewer")
        self.step_list.blockSignals(True)
        self.step_list.setCurrentRow(self._index)
        self.step_list.blockSignals(False)
        self._details.setHtml(step_html(step))
        self._attempts.setHtml(attempts_html(step))
        self._render()

    def next_step(self) -> None:
        self.show_step(self._index + 1)

    def previous_step(self) -> None:
        self.show_step(self._index - 1)

    def first_step(self) -> None:
        self.show_step(0)

    def last_step(self) -> None:
        self.show_step(len(self.run.steps) - 1)

    def set_heatmap(self, on: bool) -> None:
        """Show or hide the kept-cell tint (the marker stays)."""
        self._heatmap = on
        self._heatmap_action.setChecked(on)
        if self.run.steps:
            self._render()

    def toggle_heatmap(self) -> None:
        self.set_heatmap(not self._heatmap)

    def current_image(self) -> Image.Image | None:
        """The current step's screenshot with heatmap and marker as shown; None when missing."""
        return None if self._image is None else self._image.copy()

    def details_text(self) -> str:
        """Every text the window shows for the current step, as plain text (for tests, copying)."""
        header = QTextDocument()
        header.setHtml(self._header.text())
        parts = (header.toPlainText(), self._details.toPlainText(), self._attempts.toPlainText())
        return "\n".join(parts)

    def export_step(self, path: str | Path) -> Path:
        """Write the current step's picture, as shown but at full resolution, to a PNG."""
        if self._image is None:
            raise ViewerError(f"step {self._index + 1} has no screenshot to export")
        path = Path(path)
        try:
            self._image.save(path, format="PNG")
        except OSError as error:
            raise ViewerError(f"cannot write {path}: {error}") from None
        return path

    def _render(self) -> None:
        step = self.run.steps[self._index]
        try:
            self._image = render_step(self.run, step, heatmap=self._heatmap)
        except ViewerError as error:
            self._image = None
            self.picture.set_image(None, str(error))
            return
        self.picture.set_image(to_qimage(self._image), "")

    def _export_dialog(self) -> None:
        if self._image is None:
            QMessageBox.information(self, "Export step", "This step has no screenshot.")
            return
        suggested = Path.cwd() / f"{self.run.folder.name}-step-{self._index + 1:03d}.png"
        path, _ = QFileDialog.getSaveFileName(
            self, "Export step as PNG", str(suggested), "PNG images (*.png)"
        )
        if not path:
            return
        try:
            self.export_step(path)
        except ViewerError as error:
            QMessageBox.warning(self, "Export step", str(error))

    def _build(self) -> None:
        self._header = QLabel()
        self._header.setWordWrap(True)
        self._header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._header.setContentsMargins(8, 4, 8, 4)
        self.step_list = QListWidget()  # one row per step; a click jumps there
        self.step_list.currentRowChanged.connect(self.show_step)
        self.picture = _ImageView()  # the step's picture scaled to fit, or a placeholder
        self._details = _text_pane()
        self._attempts = _text_pane()
        texts = QSplitter(Qt.Orientation.Horizontal)
        texts.addWidget(self._details)
        texts.addWidget(self._attempts)
        texts.setSizes([520, 640])
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.picture)
        right.addWidget(texts)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 1)
        right.setSizes([660, 200])
        body = QSplitter(Qt.Orientation.Horizontal)
        body.addWidget(self.step_list)
        body.addWidget(right)
        body.setStretchFactor(1, 1)
        body.setSizes([210, 1190])
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._header)
        layout.addWidget(body, 1)
        self.setCentralWidget(central)

    def _add_actions(self) -> None:
        """Toolbar buttons whose shortcuts work wherever the focus is in the window."""
        toolbar = QToolBar("Steps")
        toolbar.setMovable(False)
        self.addToolBar(toolbar)
        for text, keys, slot in (
            ("First", ["Home"], self.first_step),
            ("◀ Previous", ["Left", "PgUp"], self.previous_step),
            ("Next ▶", ["Right", "PgDown"], self.next_step),
            ("Last", ["End"], self.last_step),
        ):
            action = QAction(text, self)
            action.setShortcuts([QKeySequence(key) for key in keys])
            action.setToolTip(f"{text.strip('◀▶ ')} step ({', '.join(keys)})")
            action.triggered.connect(slot)
            toolbar.addAction(action)
        toolbar.addSeparator()
        self._heatmap_action = QAction("Heatmap", self)
        self._heatmap_action.setCheckable(True)
        self._heatmap_action.setChecked(True)
        self._heatmap_action.setShortcut(QKeySequence("H"))
        self._heatmap_action.setToolTip("show the cells PixelPrune kept (H)")
        self._heatmap_action.triggered.connect(self.set_heatmap)
        toolbar.addAction(self._heatmap_action)
        export = QAction("Export PNG…", self)
        export.setShortcut(QKeySequence.StandardKey.Save)
        export.setToolTip("save this step's picture as shown (Ctrl+S)")
        export.triggered.connect(self._export_dialog)
        toolbar.addAction(export)


def render_step(run: RecordedRun, step: StepRecord, *, heatmap: bool = True) -> Image.Image:
    """The step's screenshot, its kept cells tinted (with `heatmap`) and its action marked.

    Raises ViewerError naming the file when the step has no readable screenshot. A missing or
    unreadable mask only loses the tint: the screenshot is still worth seeing.
    """
    name = run.screenshots.get(step.number)
    try:
        screenshot = run.screenshot(step)
    except OSError as error:
        raise ViewerError(f"screenshot {name} cannot be read: {_reason(error)}") from None
    if screenshot is None:
        raise ViewerError(f"step {step.number} recorded no screenshot")
    image = screenshot.convert("RGB")
    if heatmap and step.selection is not None:
        image = heatmap_over(image, step.selection)
    _draw_marker(image, step)
    return image


def header_html(run: RecordedRun) -> str:
    """The run's task, model and parser, how it ended ("unfinished" without result.json), and
    what its record misses (in red: steps the reader would otherwise not know are gone)."""
    header = run.header
    if run.result is None:
        ending = "<b>unfinished</b> (no result.json: the process died or is still running)"
    else:
        answer = run.result.answer
        ending = f"<b>{_e(run.result.status)}</b>" + (f": {_e(answer)}" if answer else "")
    lost = f"<br><span style='color:#c00'>incomplete record: {_e(run.lost)}</span>"
    return (
        f"<b>{_e(run.folder.name)}</b> &nbsp; task: {_e(header.task)}<br>"
        f"model: {_e(header.model)} &nbsp; parser: {_e(header.parser)}"
        f" &nbsp; steps: {len(run.steps)} &nbsp; ending: {ending}" + (lost if run.lost else "")
    )


def step_html(step: StepRecord) -> str:
    """The step's thought, action, outcome, tokens and timings."""
    thought = (step.model_action.thought if step.model_action else "") or _MISSING
    rows = [
        ("thought", _e(thought)),
        ("action", _e(_actions_text(step) or "no action")),
        ("outcome", _e(step.outcome or _MISSING)),
    ]
    if step.error:
        rows.append(("error", f"<span style='color:#c00'>{_e(step.error)}</span>"))
    rows.append(("tokens", _e(_tokens(step))))
    if (selection := step.selection) is not None:
        grid = "x".join(str(n) for n in selection.grid)
        rows.append(("pruning", _e(f"{selection.method} τ={selection.tau} grid {grid}")))
    if (latency := step.latency) is not None:
        how = "measured" if latency.measured else "estimated"
        rows.append(("saved", _e(f"{_ms(latency.seconds)} ({how})")))
    if (cache := step.vision_cache) is not None:
        rows.append(
            (
                "vision cache",
                _e(
                    f"{cache.hits} image(s) reused, {cache.tokens_encoded} tokens "
                    f"encoded, saved {_ms(cache.seconds_saved)} (est.)"
                ),
            )
        )
    rows.append(("timings", _e(timings_text(step.timings))))
    cells = "".join(
        f"<tr><td valign='top'><b>{name}</b>&nbsp;</td><td>{value}</td></tr>"
        for name, value in rows
    )
    return f"<p><b>step {step.number}</b></p><table>{cells}</table>"


def attempts_html(step: StepRecord) -> str:
    """The raw model output of every attempt; a failed attempt shows why it was not used."""
    if not step.attempts:
        return "<p>no model call</p>"
    parts = []
    for number, attempt in enumerate(step.attempts, start=1):
        error = attempt.error
        verdict = f"<span style='color:#c00'>failed: {_e(error)}</span>" if error else "accepted"
        parts.append(
            f"<p><b>attempt {number}</b> — {verdict}</p>"
            f"<pre style='white-space:pre-wrap'>{_e(attempt.output)}</pre>"
        )
    return "".join(parts)


def timings_text(timings: dict[str, float]) -> str:
    """Every stage in milliseconds; a stage that was not measured shows "–", never 0."""
    names = list(STAGES) + [name for name in timings if name not in STAGES]
    return " · ".join(
        f"{name} {_ms(timings[name]) if name in timings else _MISSING}" for name in names
    )


class _ImageView(QWidget):
    """Paints an image scaled to fit, aspect ratio kept, or a placeholder text."""

    def __init__(self) -> None:
        super().__init__()
        self._image: QImage | None = None
        self._scaled: QPixmap | None = None
        self._text = ""
        self.setMinimumSize(200, 120)

    def set_image(self, image: QImage | None, text: str) -> None:
        self._image, self._text, self._scaled = image, text, None
        self.update()

    @property
    def text(self) -> str:
        return "" if self._image is not None else self._text

    def sizeHint(self) -> QSize:
        return QSize(1170, 660)

    def paintEvent(self, event: QPaintEvent | None) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(40, 40, 40))
        if self._image is None:
            painter.setPen(QColor(230, 230, 230))
            painter.drawText(
                self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._text
            )
            return
        if self._scaled is None or self._scaled.size() != self._fit():
            self._scaled = QPixmap.fromImage(
                self._image.scaled(
                    self._fit(),
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            )
        left = (self.width() - self._scaled.width()) // 2
        top = (self.height() - self._scaled.height()) // 2
        painter.drawPixmap(left, top, self._scaled)

    def _fit(self) -> QSize:
        if self._image is None:
            return self.size()
        return self._image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)


def _draw_marker(image: Image.Image, step: StepRecord) -> None:
    """A ring and dot where each action acted; a drag gets a line from start to end."""
    if step.frame is None:
        return
    for action in step.actions:
        _draw_action(image, _image_points(action, step.frame, image.size))


def _draw_action(image: Image.Image, points: dict[str, tuple[float, float]]) -> None:
    if not points:
        return
    draw = ImageDraw.Draw(image)
    width = max(3, round(min(image.size) / 270))
    radius = max(10, round(min(image.size) / 40))
    if "start" in points and "end" in points:
        line = [points["start"], points["end"]]
        draw.line(line, fill=OUTLINE_COLOR, width=width + 2)
        draw.line(line, fill=MARKER_COLOR, width=width)
    for name, (x, y) in points.items():
        ring = radius if name != "start" else radius // 2
        box = [x - ring, y - ring, x + ring, y + ring]
        draw.ellipse(box, outline=OUTLINE_COLOR, width=width + 2)
        draw.ellipse(box, outline=MARKER_COLOR, width=width)
        dot = width
        draw.ellipse([x - dot, y - dot, x + dot, y + dot], fill=MARKER_COLOR)


def _image_points(
    action: Action, frame: Frame, size: tuple[int, int]
) -> dict[str, tuple[float, float]]:
    """The screen points of one action mapped into the screenshot's pixels."""
    points = {}
    for name in _POINT_FIELDS:
        point = getattr(action, name, None)
        if not isinstance(point, Point):
            continue
        try:  # screen → monitor fraction through the one coordinate module, then → pixels
            fraction = from_screen(point, frame, Space.NORM_1)
        except ActionError:
            continue
        points[name] = (fraction.x * size[0], fraction.y * size[1])
    return points


def _step_label(step: StepRecord) -> str:
    text = _actions_text(step) or ("failed" if step.error else "no action")
    return f"{step.number}. {text} [{step.outcome or _MISSING}]"


def _actions_text(step: StepRecord) -> str:
    return "; ".join(describe(action) for action in step.actions)


def _tokens(step: StepRecord) -> str:
    full, kept = step.image_tokens
    if full is None or kept is None:
        return f"image tokens kept {_MISSING}"
    share = step.selection.kept_share if step.selection else (kept / full if full else None)
    percent = _MISSING if share is None else f"{100 * share:.1f} %"
    return f"{kept} / {full} image tokens kept ({percent})"


def _ms(seconds: float) -> str:
    ms = 1000 * seconds
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def _text_pane() -> QTextBrowser:
    pane = QTextBrowser()
    pane.setOpenLinks(False)
    return pane


def _reason(error: OSError) -> str:
    return "file is missing" if isinstance(error, FileNotFoundError) else str(error)


def _e(value: object) -> str:
    return html.escape(str(value))
