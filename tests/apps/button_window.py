"""A frameless window of named buttons at known screen places that logs every input it gets.

    python -m tests.apps.button_window --geometry X,Y,W,H --out DIR

End-to-end tests click and type into it (with xdotool or the agent) and then read what really
arrived. Twelve buttons named Alpha … Lima sit on a 4 × 3 grid spread over the whole window
(corners, edge middles, near the centre), a text field ("text") between the first two rows and a
status label ("status", showing the last event for a model to read) between the last two.
The window is frameless, so it lands exactly on the requested rectangle with or without a window
manager (its position is user-specified, which window managers honour).

Once the window is exposed it writes DIR/layout.json (rectangles read back from Qt in global
screen pixels) and then DIR/ready. Each input becomes one JSON line appended to
DIR/events.jsonl; see `EventLog` for the line shapes. SIGTERM ends it with exit status 0.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time
from pathlib import Path

from PyQt6.QtCore import QEvent, QObject, QPoint, QPointF, Qt, QTimer
from PyQt6.QtGui import QMouseEvent, QWheelEvent, QWindow
from PyQt6.QtWidgets import QApplication, QLabel, QLineEdit, QPushButton, QWidget

__all__ = ["BUTTON_NAMES", "widget_rects"]

BUTTON_NAMES = (
    "Alpha", "Bravo", "Charlie", "Delta",
    "Echo", "Foxtrot", "Golf", "Hotel",
    "India", "Juliett", "Kilo", "Lima",
)  # fmt: skip
COLUMNS, ROWS = 4, 3
BUTTON_SIZE = (90, 40)
TEXT_SIZE = (240, 32)
STATUS_SIZE = (480, 28)
MARGIN = 16  # from the window edge to the corner buttons
DRAG_PIXELS = 8  # a press and release further apart than this is also logged as a drag
MOUSE_BUTTONS = {
    Qt.MouseButton.LeftButton: "left",
    Qt.MouseButton.RightButton: "right",
    Qt.MouseButton.MiddleButton: "middle",
}


def widget_rects(width: int, height: int) -> dict[str, tuple[int, int, int, int]]:
    """Each named widget's (x, y, w, h) inside a window of that size, in logical pixels.

    Button row r, column c sits at fraction c/3 across and r/2 down the free space, so the
    grid scales from 1280×800 to 2560×1440 with the outer buttons MARGIN from the edges.
    """
    bw, bh = BUTTON_SIZE
    rects = {}
    for index, name in enumerate(BUTTON_NAMES):
        row, column = divmod(index, COLUMNS)
        x = MARGIN + column * (width - 2 * MARGIN - bw) / (COLUMNS - 1)
        y = MARGIN + row * (height - 2 * MARGIN - bh) / (ROWS - 1)
        rects[name] = (round(x), round(y), bw, bh)
    row_tops = [rects[BUTTON_NAMES[row * COLUMNS]][1] for row in range(ROWS)]
    for name, (w, h), (upper, lower) in (
        ("text", TEXT_SIZE, row_tops[0:2]),
        ("status", STATUS_SIZE, row_tops[1:3]),
    ):
        middle = (upper + bh + lower) / 2
        rects[name] = (round((width - w) / 2), round(middle - h / 2), w, h)
    return rects


class EventLog:
    """Appends one flushed JSON line per event to events.jsonl. The lines look like:

    {"t": 1.5, "type": "press", "button": "left", "x": 10, "y": 20, "target": "Alpha",
     "focus": null}
    {"t": …, "type": "release", (the same fields as press)}
    {"t": …, "type": "double_click", (the same fields as press)}
    {"t": …, "type": "drag", "button": "left", "from": [x, y], "to": [x, y],
     "from_target": "background", "to_target": "Golf"}
    {"t": …, "type": "wheel", "direction": "up", "x": …, "y": …, "target": …}
    {"t": …, "type": "key", "key": "A", "text": "a", "modifiers": ["shift"], "focus": "text"}
    {"t": …, "type": "clicked", "target": "Alpha"}        (a button's clicked signal)
    {"t": …, "type": "text", "value": "hello"}            (the text field's content changed)

    x, y are global screen pixels; target is the widget under the pointer ("background" for
    none); focus is the widget keys go to (None before any was clicked); t is time.time().
    """

    def __init__(self, path: Path) -> None:
        self._file = path.open("a", encoding="utf-8")

    def write(self, kind: str, **fields: object) -> None:
        line = json.dumps({"t": round(time.time(), 3), "type": kind, **fields})
        self._file.write(line + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class ButtonWindow(QWidget):
    """The window; an application event filter on its QWindow sees each input exactly once."""

    def __init__(self, geometry: tuple[int, int, int, int], log: EventLog) -> None:
        # frameless: the window is exactly the requested rectangle, with or without a window
        # manager. It takes the keyboard focus the way a real window does (a window manager
        # gives it on a click; without one the X focus follows the pointer).
        super().__init__(flags=Qt.WindowType.FramelessWindowHint)
        self.log = log
        self.setWindowTitle("PixelPrune test buttons")
        self.setObjectName("background")
        self.setStyleSheet("ButtonWindow { background: #e8eef4; }")
        x, y, width, height = geometry
        self.setGeometry(x, y, width, height)
        self.named: dict[str, QWidget] = {}
        for name, rect in widget_rects(width, height).items():
            if name == "text":
                widget: QWidget = QLineEdit(self)
                widget.setPlaceholderText("type here")
                widget.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
                widget.textChanged.connect(lambda value: self.log.write("text", value=value))
            elif name == "status":
                widget = QLabel("ready", self)
                widget.setAlignment(Qt.AlignmentFlag.AlignCenter)
            else:
                widget = QPushButton(name, self)
                widget.clicked.connect(lambda _=False, n=name: self._clicked(n))
            widget.setObjectName(name)
            widget.setGeometry(*rect)
            # only a click focuses a widget: when the window manager activates the window, Qt
            # does not hand the focus to the first widget, so keys typed before any click show
            # focus None and reach nothing
            if widget.focusPolicy() != Qt.FocusPolicy.NoFocus:
                widget.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
            self.named[name] = widget
        self._pressed: dict[str, tuple[tuple[int, int], str]] = {}
        self.announced = False  # layout.json and ready written

    def layout_json(self) -> dict[str, object]:
        """Where everything really is, read back from Qt, in global screen pixels."""
        return {
            "window": self._global_rect(self),
            "widgets": {name: self._global_rect(w) for name, w in self.named.items()},
            "window_id": int(self.winId()),
        }

    def _global_rect(self, widget: QWidget) -> list[int]:
        ratio = self.devicePixelRatioF()
        top_left = widget.mapToGlobal(QPoint(0, 0))
        values = (top_left.x(), top_left.y(), widget.width(), widget.height())
        return [round(v * ratio) for v in values]

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if isinstance(watched, QWindow):
            kind = event.type()
            if kind in _MOUSE_KINDS and isinstance(event, QMouseEvent):
                self._mouse(_MOUSE_KINDS[kind], event)
            elif kind == QEvent.Type.Wheel and isinstance(event, QWheelEvent):
                self._wheel(event)
            elif kind == QEvent.Type.KeyPress:
                self._key(event)
        return False

    def _mouse(self, kind: str, event: QMouseEvent) -> None:
        button = MOUSE_BUTTONS.get(event.button(), str(event.button()))
        point = self._screen_point(event.globalPosition())
        target = self._target(event.position())
        self.log.write(
            kind, button=button, x=point[0], y=point[1], target=target, focus=self._focus()
        )
        self._show(f"{kind} {button} {target}")
        if kind == "press":
            self._pressed[button] = (point, target)
        elif kind == "release" and button in self._pressed:
            start, start_target = self._pressed.pop(button)
            if math.dist(start, point) > DRAG_PIXELS:
                self.log.write(
                    "drag",
                    button=button,
                    **{"from": list(start), "to": list(point)},
                    from_target=start_target,
                    to_target=target,
                )
                self._show(f"drag {start_target} → {target}")

    def _wheel(self, event: QWheelEvent) -> None:
        delta = event.angleDelta()
        if abs(delta.y()) >= abs(delta.x()):
            direction = "up" if delta.y() > 0 else "down"
        else:
            direction = "left" if delta.x() > 0 else "right"
        point = self._screen_point(event.globalPosition())
        target = self._target(event.position())
        self.log.write("wheel", direction=direction, x=point[0], y=point[1], target=target)
        self._show(f"wheel {direction} {target}")

    def _key(self, event: QEvent) -> None:
        key = Qt.Key(event.key()).name.removeprefix("Key_") if event.key() else ""
        flags = event.modifiers()
        modifiers = [name for flag, name in _MODIFIER_NAMES if flags & flag]
        focus = self._focus()
        self.log.write("key", key=key, text=event.text(), modifiers=modifiers, focus=focus)
        self._show(f"key {'+'.join([*modifiers, key])} → {focus}")

    def _clicked(self, name: str) -> None:
        self.log.write("clicked", target=name)
        self._show(f"clicked {name}")

    def _screen_point(self, point: QPointF) -> tuple[int, int]:
        ratio = self.devicePixelRatioF()
        return round(point.x() * ratio), round(point.y() * ratio)

    def _target(self, local: QPointF) -> str:
        widget = self.childAt(local.toPoint())
        while widget is not None and widget.objectName() not in self.named:
            widget = widget.parentWidget()
        return widget.objectName() if widget is not None else "background"

    def _focus(self) -> str | None:
        # the window's focus child, which Qt hands keys to (also when the X focus follows the
        # pointer and Qt never counts the window as active)
        widget = self.focusWidget()
        return widget.objectName() if widget is not None else None

    def _show(self, text: str) -> None:
        self.named["status"].setText(text)


_MOUSE_KINDS = {
    QEvent.Type.MouseButtonPress: "press",
    QEvent.Type.MouseButtonRelease: "release",
    QEvent.Type.MouseButtonDblClick: "double_click",
}
_MODIFIER_NAMES = (
    (Qt.KeyboardModifier.ControlModifier, "ctrl"),
    (Qt.KeyboardModifier.ShiftModifier, "shift"),
    (Qt.KeyboardModifier.AltModifier, "alt"),
    (Qt.KeyboardModifier.MetaModifier, "super"),
)


def parse_geometry(text: str) -> tuple[int, int, int, int]:
    """ "X,Y,W,H" → a tuple; argparse turns the ValueError into a usage message."""
    values = tuple(int(part) for part in text.split(","))
    if len(values) != 4 or values[2] <= 0 or values[3] <= 0:
        raise ValueError(text)
    return values  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--geometry", type=parse_geometry, required=True, help="X,Y,W,H")
    parser.add_argument("--out", type=Path, required=True, help="folder for the files it writes")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    app = QApplication(sys.argv[:1])
    log = EventLog(args.out / "events.jsonl")
    window = ButtonWindow(args.geometry, log)
    app.installEventFilter(window)
    signal.signal(signal.SIGTERM, lambda *_: app.quit())
    heartbeat = QTimer(interval=50)  # lets Python run its signal handler while Qt waits
    heartbeat.timeout.connect(lambda: _announce_when_exposed(window, args.out))
    heartbeat.start()
    window.show()
    status = app.exec()
    log.close()
    return status


def _announce_when_exposed(window: ButtonWindow, out: Path) -> None:
    """Writes layout.json, then ready, once the X server has mapped and exposed the window."""
    handle = window.windowHandle()
    if window.announced or handle is None or not handle.isExposed():
        return
    window.announced = True
    (out / "layout.json").write_text(json.dumps(window.layout_json(), indent=1))
    (out / "ready").write_text("ready\n")


if __name__ == "__main__":
    sys.exit(main())
