"""The live overlay: kept cells, where the next action lands, and what pruning saved.

    overlay = Overlay()
    overlay.attach(agent)            # follows its events; hidden around each of its captures

A frameless, always-on-top window over the captured monitor that takes no input (clicks and
keys go to the windows below). It draws the kept-cell heatmap mapped from the model's resized
grid to the monitor's pixels (the rule of `pixelprune.render_heatmap`: pixel x belongs to cell
x * cols // width), a marker where the proposed action lands, and a HUD: step, kept/full tokens,
vision/prefill/decode times and the latency saved this step and in total ("measured" on a
calibration step, "est." against a stored baseline, "?" when the backend cannot time stages).

With a compositing manager (every Windows/macOS desktop, most Linux ones) the heatmap is a
translucent tint. Without one (plain X11, Xvfb) translucency would paint the screen black, so
the window is shaped to what it draws and kept cells get an opaque square at their centre instead.

The agent never sees the overlay: it is a capture guard, hidden (and the screen given
`settle_seconds` to repaint) before every grab and shown again after. Ctrl+Shift+F10 toggles the
heatmap and Ctrl+Shift+F11 the HUD (global hotkeys: the window never has focus).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import numpy as np
from PyQt6.QtCore import QPoint, QRect, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QBitmap, QColor, QFont, QGuiApplication, QImage, QPainter, QPen, QRegion
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
from agent.records import StepRecord
from pixelprune import Selection
from pixelprune.heatmap import KEPT_COLOR, render_heatmap
from ui.bridge import AgentBridge
from ui.images import to_qimage

__all__ = [
    "HUD_BACKGROUND",
    "MARKER_COLOR",
    "OUTLINE_COLOR",
    "HudState",
    "Overlay",
    "OverlayConfig",
    "hud_lines",
    "kept_cell_rects",
]

log = logging.getLogger(__name__)
OUTLINE_COLOR = KEPT_COLOR[:3]  # opaque kept-cell mark when there is no compositor
MARKER_COLOR = (0, 200, 255)
HUD_BACKGROUND = (20, 20, 20)
HUD_MARGIN = 24


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
    """The figures the HUD shows; None where a backend does not know them."""

    step: int = 0
    full: int | None = None
    kept: int | None = None
    stages: dict[str, float] = field(default_factory=dict)
    saved: float | None = None
    saved_measured: bool = False
    saved_total: float = 0.0
    saved_steps: int = 0
    ending: str = ""


def hud_lines(state: HudState) -> list[str]:
    """The HUD's text: honest about what was measured, estimated or unknown."""
    tokens = "tokens ?"
    if state.full is not None and state.kept is not None:
        share = f" ({state.kept / state.full:.1%})" if state.full else ""
        tokens = f"tokens {state.kept:,}/{state.full:,}{share}"
    stages = " · ".join(
        f"{name} {state.stages[name] * 1000:.0f} ms" if name in state.stages else f"{name} ?"
        for name in ("vision", "prefill", "decode")
    )
    if state.saved is None:
        saved = "saved ? (no stage timings or no pruning)"
    else:
        label = "measured" if state.saved_measured else "est."
        saved = f"saved {state.saved * 1000:.0f} ms ({label})"
    total = f"total {state.saved_total:.2f} s over {state.saved_steps} step(s) (est.)"
    lines = [f"PixelPrune · step {state.step} · {tokens}", stages, f"{saved} · {total}"]
    if state.ending:
        lines.append(state.ending)
    return lines


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
        self._picture = QImage()
        self._bridges: list[AgentBridge] = []
        self._hotkeys: list[GlobalHotkey] = []
        self._wanted = False  # shown unless hidden for a capture
        self.following = True  # False: ignore events and stay hidden (the app's checkbox)
        self._hide_requested.connect(self._hide_now, Qt.ConnectionType.QueuedConnection)
        self._show_requested.connect(self._show_now, Qt.ConnectionType.QueuedConnection)
        self._toggle_requested.connect(self.toggle, Qt.ConnectionType.QueuedConnection)
        # bypassing the window manager keeps clicks passing through (a managed window gets a
        # frame that takes them), but the manager may raise windows over it: stay on top
        self._keep_on_top = QTimer(self, interval=300)
        self._keep_on_top.timeout.connect(lambda: self.isVisible() and self.raise_())
        self._keep_on_top.start()

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
                self._take(record)
            case RunFinished(result=result):
                self.hud.ending = f"{result.status}: {result.answer}"[:120]
                self.marker = ()
        self._redraw()

    def _take(self, record: StepRecord) -> None:
        self.hud.step = record.number
        self.hud.full, self.hud.kept = record.image_tokens
        self.hud.stages = {
            k: v for k, v in record.timings.items() if k in ("vision", "prefill", "decode")
        }
        latency = record.latency
        self.hud.saved = None if latency is None else latency.seconds
        self.hud.saved_measured = latency is not None and latency.measured
        if latency is not None:
            self.hud.saved_total += latency.seconds
            self.hud.saved_steps += 1

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
                hotkey = GlobalHotkey(combo, lambda w=what: self._toggle_requested.emit(w))
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

    def _redraw(self) -> None:
        """Render everything into one image; without a compositor, shape the window to it."""
        if self.monitor is None:
            return
        self._picture = self.render_picture()
        if not self.translucent:
            self.setMask(QRegion(QBitmap.fromImage(self._picture.createAlphaMask())))
        self.update()

    def render_picture(self) -> QImage:
        """What the overlay shows, at monitor size, transparent where it shows nothing."""
        width, height = self.monitor.width, self.monitor.height
        heatmap = self.show_heatmap and self.selection is not None
        if heatmap and self.translucent:
            picture = to_qimage(render_heatmap(self.selection, (width, height)))
        else:
            picture = QImage(width, height, QImage.Format.Format_RGBA8888)
            picture.fill(Qt.GlobalColor.transparent)
        painter = QPainter(picture)
        if heatmap and not self.translucent:
            self._draw_dots(painter)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, self.translucent)
        self._draw_marker(painter)
        if self.show_hud:
            self._draw_hud(painter)
        painter.end()
        return picture

    def _draw_dots(self, painter: QPainter) -> None:
        """A square at the centre of each kept cell: an X shape the server can take (a shape of
        per-cell outlines runs to hundreds of thousands of rectangles and is refused)."""
        color = QColor(*OUTLINE_COLOR)
        for top, bottom, left, right in kept_cell_rects(self.selection, self.monitor):
            side = max(3, min(right - left, bottom - top) // 4)
            x, y = (left + right) // 2 - side // 2, (top + bottom) // 2 - side // 2
            painter.fillRect(QRect(x, y, side, side), color)

    def _draw_marker(self, painter: QPainter) -> None:
        if not self.marker:
            return
        color = QColor(*MARKER_COLOR)
        painter.setPen(QPen(color, 3))
        local = [
            QPoint(int(p.x) - self.monitor.left, int(p.y) - self.monitor.top) for p in self.marker
        ]
        if len(local) == 2:
            painter.drawLine(local[0], local[1])
        for point in local:
            painter.drawEllipse(point, 14, 14)
            painter.fillRect(QRect(point.x() - 2, point.y() - 2, 5, 5), color)

    def _draw_hud(self, painter: QPainter) -> None:
        lines = hud_lines(self.hud)
        font = QFont("DejaVu Sans Mono", 11)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        width = max(metrics.horizontalAdvance(line) for line in lines) + 24
        height = metrics.height() * len(lines) + 16
        box = QRect(self.monitor.width - width - HUD_MARGIN, HUD_MARGIN, width, height)
        painter.fillRect(box, QColor(*HUD_BACKGROUND, 200 if self.translucent else 255))
        painter.setPen(QColor(240, 240, 240))
        for i, line in enumerate(lines):
            painter.drawText(
                box.left() + 12, box.top() + 8 + metrics.ascent() + i * metrics.height(), line
            )

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.drawImage(0, 0, self._picture)
        painter.end()


def kept_cell_rects(selection: Selection, monitor: Monitor) -> list[tuple[int, int, int, int]]:
    """(top, bottom, left, right) monitor pixels of each kept cell, bottom/right exclusive.

    Pixel x belongs to cell x * cols // width (`render_heatmap`'s rule), so cell c starts at
    ceil(c * width / cols).
    """
    rows, cols = selection.grid
    tops = -(-np.arange(rows + 1) * monitor.height // rows)
    lefts = -(-np.arange(cols + 1) * monitor.width // cols)
    return [
        (int(tops[r]), int(tops[r + 1]), int(lefts[c]), int(lefts[c + 1]))
        for r, c in np.argwhere(selection.keep)
    ]


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
        return connection.get_selection_owner(atom) != 0
    finally:
        connection.close()
