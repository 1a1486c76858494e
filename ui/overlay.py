"""The live overlay: kept cells, where the next action lands, and what pruning saved.

    overlay = Overlay()
    overlay.attach(agent)            # follows its events; hidden around each of its captures

A click-through, always-on-top window that the agent never sees: hidden before every grab (with
`settle_seconds` to repaint) and shown after; without a compositor it is shaped, with opaque
squares instead of a tint. The vision cache's saving is shown apart, never added to pruning's.
Each selection's heatmap layer is built once and only changed boxes are repainted (a few ms per
step at 1080p; a full redraw cost 60-260 ms).
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass, field

import numpy as np
from PyQt6.QtCore import QPoint, QRect, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import (
    QBitmap,
    QColor,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QImage,
    QPainter,
    QPaintEvent,
    QPen,
    QRegion,
)
from PyQt6.QtWidgets import QWidget

from agent.actions import Drag, Point, points_of
from agent.coords import Frame, Monitor
from agent.errors import CaptureError, HotkeyError
from agent.events import (
    ActionProposed,
    Event,
    RunFinished,
    RunStarted,
    ScreenCaptured,
    StepFinished,
)
from agent.hotkey import GlobalHotkey
from agent.records import StepRecord, VisionCacheUse
from agent.wording import plural
from pixelprune import Selection
from pixelprune.heatmap import KEPT_COLOR, render_heatmap
from ui.bridge import AgentBridge

__all__ = [
    "HUD_BACKGROUND",
    "MARKER_COLOR",
    "OUTLINE_COLOR",
    "HeatmapLayer",
    "HudState",
    "Overlay",
    "OverlayConfig",
    "cell_edges",
    "dots_region",
    "heatmap_layer",
    "hud_lines",
    "kept_cell_rects",
]

log = logging.getLogger(__name__)
OUTLINE_COLOR = KEPT_COLOR[:3]  # opaque kept-cell mark when there is no compositor
MARKER_COLOR = (0, 200, 255)
HUD_BACKGROUND = (20, 20, 20)
HUD_MARGIN = 24
HUD_STAGES = ("vision", "prefill", "decode")  # the model's stages, as the loop records them
MARKER_RADIUS = 14
MARKER_PEN = 3
# the shape of a drawing that paints nothing: Qt reads an empty mask as "no mask", which shows
# the whole window (black without a compositor); one pixel just outside it shows none of it
NOTHING_SHOWN = QRect(-1, -1, 1, 1)


@dataclass(frozen=True)
class OverlayConfig:
    """What the overlay shows and how it gets out of the way."""

    heatmap: bool = True
    hud: bool = True
    heatmap_hotkey: str | None = "ctrl+shift+f10"
    hud_hotkey: str | None = "ctrl+shift+f11"
    settle_seconds: float = 0.08  # after hiding, before the grab: windows below repaint
    translucent: bool | None = None  # None: translucent exactly when a compositor runs


@dataclass
class HudState:
    """The figures the HUD shows; None where a backend does not know them.

    `step` is the step the agent is on, `figures_step` the one the figures come from: while a
    step asks the model, the HUD keeps the last finished step's figures and says whose they are.
    """

    step: int = 0
    figures_step: int = 0  # 0: no step has finished yet
    full: int | None = None
    kept: int | None = None
    stages: dict[str, float] = field(default_factory=dict)
    saved: float | None = None
    saved_measured: bool = False
    saved_total: float = 0.0
    saved_steps: int = 0  # steps whose saving is known (the total is over these)
    saved_measured_steps: int = 0  # of those, measured side by side (the others estimated)
    cache: VisionCacheUse | None = None  # this step's vision cache use; None: not known
    cache_saved_total: float = 0.0
    ending: str = ""

    def take(self, record: StepRecord) -> None:
        """The figures of a finished step; its saving joins the run's total."""
        self.step = self.figures_step = record.number
        self.full, self.kept = record.image_tokens
        self.stages = {k: v for k, v in record.timings.items() if k in HUD_STAGES}
        latency = record.latency
        self.saved = None if latency is None else latency.seconds
        self.saved_measured = latency is not None and latency.measured
        if latency is not None:
            self.saved_total += latency.seconds
            self.saved_steps += 1
            self.saved_measured_steps += latency.measured
        self.cache = record.vision_cache
        if record.vision_cache is not None:
            self.cache_saved_total += record.vision_cache.seconds_saved


def hud_lines(state: HudState) -> list[str]:
    """The HUD's text: honest about what was measured, estimated or unknown, and whose it is."""
    ending = [state.ending] if state.ending else []
    if state.figures_step == 0:  # nothing has finished: no figures yet, rather than "?"s
        return [f"PixelPrune · step {state.step} in progress", *ending]
    whose = (
        " ·" if state.figures_step == state.step else f" in progress · step {state.figures_step}:"
    )
    head = f"PixelPrune · step {state.step}{whose}"
    tokens = "tokens ?"
    if state.full is not None and state.kept is not None:
        share = f" ({state.kept / state.full:.1%})" if state.full else ""
        tokens = f"tokens {state.kept:,}/{state.full:,}{share}"
    stages = " · ".join(
        f"{name} {state.stages[name] * 1000:.0f} ms" if name in state.stages else f"{name} ?"
        for name in HUD_STAGES
    )
    if state.saved is None:
        saved = "saved ? (no stage timings or no pruning)"
    else:
        saved = f"saved {state.saved * 1000:.0f} ms ({_how(state.saved_measured)})"
    if state.saved_steps:
        all_measured = state.saved_measured_steps == state.saved_steps
        saved += (
            f" · total {state.saved_total:.2f} s over {plural(state.saved_steps, 'step')}"
            f" ({_how(all_measured)})"
        )
    lines = [f"{head} {tokens}", stages, saved]
    if state.cache is not None:  # apart from pruning's saving, never added to it
        lines.append(
            f"vision cache: {plural(state.cache.hits, 'image')} reused, "
            f"{plural(state.cache.tokens_encoded, 'token')} encoded · saved "
            f"{state.cache.seconds_saved * 1000:.0f} ms (est.) · "
            f"total {state.cache_saved_total:.2f} s"
        )
    return lines + ending


def _how(measured: bool) -> str:
    return "measured" if measured else "est."


class Overlay(QWidget):
    """The click-through window over the agent's monitor (see the module docstring)."""

    _hide_requested = pyqtSignal(object)
    _show_requested = pyqtSignal()
    _toggle_requested = pyqtSignal(str)

    def __init__(self, config: OverlayConfig | None = None) -> None:
        super().__init__(None)
        self.config = config or OverlayConfig()
        translucent = self.config.translucent
        self.translucent = compositing() if translucent is None else translucent
        self.setWindowFlags(
            Qt.WindowType.FramelessWindowHint
            | Qt.WindowType.WindowStaysOnTopHint
            | Qt.WindowType.Tool
            | Qt.WindowType.X11BypassWindowManagerHint
            | Qt.WindowType.WindowTransparentForInput
            | Qt.WindowType.WindowDoesNotAcceptFocus
        )
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground, self.translucent)
        self.show_heatmap, self.show_hud = self.config.heatmap, self.config.hud
        self.hud = HudState()
        self.monitor: Monitor | None = None
        self.selection: Selection | None = None
        self.marker: tuple[Point, ...] = ()
        self.layer: HeatmapLayer | None = None  # the last selection's heatmap, kept while it stays
        self._drawn: _Drawing | None = None  # what the window shows now
        self._shape: QRegion | None = None  # the window's shape now (no compositor)
        self._font = QFont("DejaVu Sans Mono", 11)
        self._bridges: list[AgentBridge] = []
        self._hotkeys: list[GlobalHotkey] = []
        self._wanted = False  # shown unless hidden for a capture
        self.following = True  # False: ignore events and stay hidden (the app's checkbox)
        queued = Qt.ConnectionType.QueuedConnection  # (PyQt6's stubs omit connect's type)
        self._hide_requested.connect(self._hide_now, queued)  # type: ignore[call-arg]
        self._show_requested.connect(self._show_now, queued)  # type: ignore[call-arg]
        self._toggle_requested.connect(self.toggle, queued)  # type: ignore[call-arg]
        # bypassing the window manager keeps clicks passing through (a managed window gets a
        # frame that takes them), but the manager may raise windows over it: stay on top
        self._keep_on_top = QTimer(self)
        self._keep_on_top.setInterval(300)
        self._keep_on_top.timeout.connect(self._stay_on_top)
        self._keep_on_top.start()

    def _stay_on_top(self) -> None:
        if self.isVisible():
            self.raise_()

    def attach(self, agent) -> None:  # agent.loop.Agent (not imported: ui follows agent events)
        """Follow `agent`'s events and keep out of its screenshots."""
        bridge = AgentBridge(agent.events, self)
        bridge.agent_event.connect(self.on_event)
        self._bridges.append(bridge)
        agent.capture_guards.append(self)
        self.start_hotkeys()

    def detach(self, agent) -> None:
        """Stop following `agent` (its captures no longer wait for the overlay)."""
        if self in agent.capture_guards:
            agent.capture_guards.remove(self)
        for bridge in self._bridges:
            bridge.close()
        self._bridges.clear()
        for hotkey in self._hotkeys:
            hotkey.stop()
        self._hotkeys.clear()

    def shutdown(self) -> None:
        """Release the toggle hotkeys and close the window (the app is quitting)."""
        for hotkey in self._hotkeys:
            hotkey.stop()
        self._hotkeys.clear()
        self.close()

    # --- events (GUI thread) -------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Update from one agent event."""
        if not self.following:
            return
        match event:
            case RunStarted():
                self.hud = HudState()
                self.marker = ()
            case ScreenCaptured(number=number, selection=selection, frame=frame):
                self.hud.step = number
                self.selection = selection
                self.marker = ()
                self._place(frame)
            case ActionProposed(action=action, frame=frame):
                self._place(frame)
                points = points_of(action)
                if isinstance(action, Drag) and action.start is None:
                    points.pop("start", None)
                self.marker = tuple(points.values())
            case StepFinished(record=record):
                self.hud.take(record)
            case RunFinished(result=result):  # the overlay clears: the run is over
                self.hud.ending = f"{result.status}: {result.answer}"[:120]
                self.marker = ()
                self._wanted = False
                self.hide()
                return
            case _:  # StepStarted, ModelFailed: nothing the overlay draws changes
                return
        self._redraw()

    def _place(self, frame: Frame) -> None:
        monitor = frame.monitor
        if monitor != self.monitor:
            self.monitor = monitor
            self.setGeometry(QRect(monitor.left, monitor.top, monitor.width, monitor.height))
        if not self._wanted:
            self._wanted = True
            self._show_now()

    # --- toggles -------------------------------------------------------------------------

    def toggle(self, what: str) -> None:
        """Flip "heatmap" or "hud" (hotkeys call this through the GUI thread)."""
        if what == "heatmap":
            self.show_heatmap = not self.show_heatmap
        elif what == "hud":
            self.show_hud = not self.show_hud
        self._redraw()

    def start_hotkeys(self) -> None:
        """Grab the toggle hotkeys (attach does it; where unavailable, a warning is logged)."""
        if self._hotkeys:
            return
        for what, combo in (
            ("heatmap", self.config.heatmap_hotkey),
            ("hud", self.config.hud_hotkey),
        ):
            if combo is None:
                continue
            try:
                hotkey = GlobalHotkey(combo, functools.partial(self._toggle_requested.emit, what))
                hotkey.start()
            except HotkeyError as error:
                log.warning("overlay %s hotkey unavailable: %s", what, error)
                continue
            self._hotkeys.append(hotkey)

    # --- capture guard (agent thread) ----------------------------------------------------

    def hide_for_capture(self) -> None:
        """Hide and give the windows below time to repaint; returns when the screen is clean."""
        if threading.current_thread() is threading.main_thread():
            raise CaptureError("the overlay must run the agent off the GUI thread")
        done = threading.Event()
        self._hide_requested.emit(done)
        if not done.wait(5.0):
            raise CaptureError("the overlay did not hide within 5 s (GUI thread busy?)")

    def show_after_capture(self) -> None:
        self._show_requested.emit()

    def _hide_now(self, done: threading.Event) -> None:
        self.hide()
        QTimer.singleShot(round(self.config.settle_seconds * 1000), done.set)

    def _show_now(self) -> None:
        if self._wanted and self.following and self.monitor is not None:
            self.show()
            self.raise_()

    # --- drawing -------------------------------------------------------------------------

    def _placed(self) -> Monitor:
        """The monitor the overlay covers (set by its first screenshot, before any drawing)."""
        if self.monitor is None:
            raise RuntimeError("the overlay draws nothing before its first screenshot")
        return self.monitor

    def _redraw(self) -> None:
        """Repaint only what changed since the last redraw; a step that changes nothing drawn
        costs nothing, and the heatmap layer is built once per selection."""
        if self.monitor is None:
            return
        drawing = self._drawing()
        before = self._drawn
        if drawing == before:
            return
        self._drawn = drawing
        if not self.translucent:
            shape = drawing.shape()
            if shape != self._shape:
                self._shape = shape
                self.setMask(shape)
        if before is None or drawing.layer is not before.layer:
            self.update()
            return
        dirty = QRegion()
        if drawing.marker != before.marker:
            dirty = dirty.united(before.marker_box).united(drawing.marker_box)
        if drawing.hud != before.hud:
            dirty = dirty.united(before.hud_box).united(drawing.hud_box)
        self.update(dirty)

    def render_picture(self) -> QImage:
        """What the overlay shows, at monitor size, transparent where it shows nothing."""
        monitor = self._placed()
        picture = QImage(monitor.width, monitor.height, QImage.Format.Format_RGBA8888)
        picture.fill(Qt.GlobalColor.transparent)
        painter = QPainter(picture)
        self._paint(painter, picture.rect(), self._drawing())
        painter.end()
        return picture

    def _drawing(self) -> _Drawing:
        """What the overlay should show now, in window pixels."""
        left, top = self._placed().left, self._placed().top
        marker = tuple((int(p.x) - left, int(p.y) - top) for p in self.marker)
        hud = tuple(hud_lines(self.hud)) if self.show_hud else ()
        previous = self._drawn
        marker_region = None
        if previous is not None and previous.marker == marker:
            marker_region = previous.marker_region
        elif not self.translucent:
            marker_region = marker_shape(marker)
        return _Drawing(
            layer=self._current_layer(),
            marker=marker,
            marker_box=marker_box(marker),
            marker_region=marker_region,
            hud=hud,
            hud_box=self._hud_box(hud),
        )

    def _current_layer(self) -> HeatmapLayer | None:
        """The cached layer while selection, monitor size and mode stay; else a new one."""
        if not self.show_heatmap or self.selection is None:
            return None
        size = (self._placed().width, self._placed().height)
        layer = self.layer
        if layer is None or not layer.shows(self.selection, size, self.translucent):
            layer = self.layer = heatmap_layer(self.selection, size, self.translucent)
        return layer

    def _hud_box(self, lines: tuple[str, ...]) -> QRect:
        if not lines:
            return QRect()
        metrics = QFontMetrics(self._font)
        width = max(metrics.horizontalAdvance(line) for line in lines) + 24
        height = metrics.height() * len(lines) + 16
        return QRect(self._placed().width - width - HUD_MARGIN, HUD_MARGIN, width, height)

    def _paint(self, painter: QPainter, area: QRect, drawing: _Drawing) -> None:
        """Paint `area` of `drawing`: the cached heatmap layer, then marker and HUD over it."""
        layer = drawing.layer
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        if layer is not None and layer.image is not None:
            painter.drawImage(area, layer.image, area)
        else:
            painter.fillRect(area, Qt.GlobalColor.transparent)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceOver)
        if layer is not None and layer.image is None:
            painter.save()
            painter.setClipRegion(layer.region.intersected(area))
            painter.fillRect(area, QColor(*OUTLINE_COLOR))
            painter.restore()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, self.translucent)
        if drawing.marker and drawing.marker_box.intersects(area):
            draw_marker(painter, drawing.marker)
        if drawing.hud and drawing.hud_box.intersects(area):
            self._draw_hud(painter, drawing.hud, drawing.hud_box)

    def _draw_hud(self, painter: QPainter, lines: tuple[str, ...], box: QRect) -> None:
        painter.setFont(self._font)
        metrics = QFontMetrics(self._font)
        painter.fillRect(box, QColor(*HUD_BACKGROUND, 200 if self.translucent else 255))
        painter.setPen(QColor(240, 240, 240))
        for i, line in enumerate(lines):
            painter.drawText(
                box.left() + 12, box.top() + 8 + metrics.ascent() + i * metrics.height(), line
            )

    def paintEvent(self, event: QPaintEvent | None) -> None:
        if event is None:
            return
        painter = QPainter(self)
        if self._drawn is None:
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
            painter.fillRect(event.rect(), Qt.GlobalColor.transparent)
        else:
            self._paint(painter, event.rect(), self._drawn)
        painter.end()


@dataclass(frozen=True, eq=False)
class HeatmapLayer:
    """The heatmap of one selection at one monitor size: built once per step, drawn until the next.

    Translucent mode: `image`, the tint at monitor size, pixel for pixel `render_heatmap`'s.
    Shaped mode: `region`, an opaque square at the centre of each kept cell, which is both what
    is painted and (with the marker and HUD) the window's shape. Compared by identity: a new
    layer means a new picture.
    """

    selection: Selection
    size: tuple[int, int]
    image: QImage | None
    region: QRegion
    pixels: np.ndarray | None = field(default=None, repr=False)  # the buffer `image` points into

    def shows(self, selection: Selection, size: tuple[int, int], translucent: bool) -> bool:
        """Whether this layer is the picture of `selection` at `size` in that mode."""
        same_mode = (self.image is not None) == translucent
        return self.selection is selection and self.size == size and same_mode


def heatmap_layer(selection: Selection, size: tuple[int, int], translucent: bool) -> HeatmapLayer:
    """The layer of `selection` on a monitor of `size` = (width, height) (see HeatmapLayer).

    The heatmap is rendered at the selection's grid (one pixel per cell) and each cell's pixel
    repeated over the monitor pixels `cell_edges` gives it: the same picture as rendering at
    monitor size, without computing a cell per pixel. (Qt's nearest-neighbour scaling samples
    pixel centres, which moves some cell edges by a pixel, so it is not used.)
    """
    if not translucent:
        return HeatmapLayer(selection, size, None, dots_region(selection, size))
    rows, cols = selection.grid
    tile = np.asarray(render_heatmap(selection, (cols, rows)))  # (rows, cols, 4) RGBA
    words = np.ascontiguousarray(tile).view(np.uint32)[..., 0]  # one 32-bit pixel per cell
    tops, lefts = cell_edges(selection.grid, size)
    pixels = words.repeat(np.diff(lefts), axis=1).repeat(np.diff(tops), axis=0)
    width, height = size
    # the layer keeps `pixels` alive as long as the image points into it
    image = QImage(pixels.data, width, height, 4 * width, QImage.Format.Format_RGBA8888)  # type: ignore[call-overload]
    return HeatmapLayer(selection, size, image, QRegion(), pixels)


def cell_edges(grid: tuple[int, int], size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The first monitor pixel row of each cell row, and column of each cell column, each with
    the monitor's height/width appended.

    Pixel x belongs to cell x * cols // width (`render_heatmap`'s rule), so cell c starts at
    ceil(c * width / cols).
    """
    rows, cols = grid
    width, height = size
    return -(-np.arange(rows + 1) * height // rows), -(-np.arange(cols + 1) * width // cols)


def kept_cell_rects(selection: Selection, monitor: Monitor) -> list[tuple[int, int, int, int]]:
    """(top, bottom, left, right) monitor pixels of each kept cell, bottom/right exclusive."""
    tops, lefts = cell_edges(selection.grid, (monitor.width, monitor.height))
    rows, cols = np.nonzero(selection.keep)
    return list(
        zip(
            tops[rows].tolist(),
            tops[rows + 1].tolist(),
            lefts[cols].tolist(),
            lefts[cols + 1].tolist(),
            strict=True,
        )
    )


def dots_region(selection: Selection, size: tuple[int, int]) -> QRegion:
    """A square at the centre of each kept cell: an X shape the server can take (a shape of
    per-cell outlines runs to hundreds of thousands of rectangles and is refused).

    One side for all the squares, so the squares of a cell row share their top and height:
    then the row-major squares are already what QRegion.setRects asks for (Y-X sorted, rows of
    one top and height, none overlapping or touching side by side) and the region is built in
    one call instead of one union per kept cell.
    """
    tops, lefts = cell_edges(selection.grid, size)
    side = max(3, min(int(np.diff(tops).min()), int(np.diff(lefts).min())) // 4)
    ys = (tops[:-1] + tops[1:]) // 2 - side // 2
    xs = (lefts[:-1] + lefts[1:]) // 2 - side // 2
    rows, cols = np.nonzero(selection.keep)
    corners = zip(xs[cols].tolist(), ys[rows].tolist(), strict=True)
    dots = [QRect(x, y, side, side) for x, y in corners]
    region = QRegion()
    if (np.diff(xs) > side).all() and (np.diff(ys) >= side).all():
        region.setRects(dots)
        return region
    for dot in dots:  # cells so small that their squares touch
        region = region.united(dot)
    return region


def marker_box(points: tuple[tuple[int, int], ...]) -> QRect:
    """What `draw_marker` may paint, in window pixels (empty without points)."""
    if not points:
        return QRect()
    xs, ys = [x for x, _ in points], [y for _, y in points]
    reach = MARKER_RADIUS + MARKER_PEN
    return QRect(QPoint(min(xs) - reach, min(ys) - reach), QPoint(max(xs) + reach, max(ys) + reach))


def draw_marker(painter: QPainter, points: tuple[tuple[int, int], ...]) -> None:
    """A ring with a dot at each point, and the line between a drag's two points."""
    color = QColor(*MARKER_COLOR)
    painter.setPen(QPen(color, MARKER_PEN))
    local = [QPoint(x, y) for x, y in points]
    if len(local) == 2:
        painter.drawLine(local[0], local[1])
    for point in local:
        painter.drawEllipse(point, MARKER_RADIUS, MARKER_RADIUS)
        painter.fillRect(QRect(point.x() - 2, point.y() - 2, 5, 5), color)


def marker_shape(points: tuple[tuple[int, int], ...]) -> QRegion:
    """The pixels `draw_marker` paints without antialiasing: its part of the window's shape."""
    box = marker_box(points)
    if box.isEmpty():
        return QRegion()
    image = QImage(box.size(), QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.translate(-box.left(), -box.top())
    draw_marker(painter, points)
    painter.end()
    return QRegion(QBitmap.fromImage(image.createAlphaMask())).translated(box.topLeft())


@dataclass(frozen=True)
class _Drawing:
    """What the overlay shows, in window pixels; equal drawings look the same."""

    layer: HeatmapLayer | None  # compared by identity: one per selection
    marker: tuple[tuple[int, int], ...]
    hud: tuple[str, ...]
    marker_box: QRect = field(compare=False)
    marker_region: QRegion | None = field(compare=False)  # shaped mode only
    hud_box: QRect = field(compare=False)

    def shape(self) -> QRegion:
        """The window's shape without a compositor: every pixel this drawing paints, and no
        window pixel when it paints none (heatmap and HUD off, no marker)."""
        region = QRegion() if self.layer is None else self.layer.region
        if self.marker_region is not None:
            region = region.united(self.marker_region)
        region = region.united(self.hud_box)
        return QRegion(NOTHING_SHOWN) if region.isEmpty() else region


def compositing() -> bool:
    """Whether translucent windows blend on this desktop (a compositing manager runs)."""
    if QGuiApplication.platformName() != "xcb":
        return True  # Windows, macOS and Wayland compositors always blend
    try:
        from Xlib import display as xdisplay

        connection = xdisplay.Display()
    except Exception:
        return False
    try:
        atom = connection.intern_atom(f"_NET_WM_CM_S{connection.get_default_screen()}")
        return bool(connection.get_selection_owner(atom) != 0)
    finally:
        connection.close()
