"""A full-screen Wayland window that shows a known picture and logs the input it gets.

    QT_QPA_PLATFORM=wayland python -m tests.apps.wayland_probe --out DIR

A Wayland client cannot place itself, so the probe asks to be full screen: the compositor puts
it over the whole output, and a point in the window is the same point of the output. It paints
a picture with no two neighbouring pixels alike (so a capture that is off by one pixel, or
scaled, does not match it), and once the compositor shows it, writes DIR/picture.png (what it
rendered, in device pixels) and then DIR/ready. Each input is one JSON line in
DIR/events.jsonl (x, y: the window's device pixels, as the output shows them at an integer
scale; logical_x, logical_y: the compositor's layout units):

    {"type": "press", "button": "left", "x": 10.0, "y": 20.0, "logical_x": 5.0, "logical_y": 10.0}
    {"type": "release", ...}
    {"type": "wheel", "dx": 0, "dy": -120}
    {"type": "text", "text": "é"}   (a paste, Shift+Insert or Ctrl+V, adds "pasted": true)

SIGTERM ends it with exit status 0.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

import numpy as np
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QImage, QKeyEvent, QKeySequence, QMouseEvent, QPainter, QWheelEvent
from PyQt6.QtWidgets import QApplication, QWidget

__all__ = ["pattern"]

BUTTONS = {
    Qt.MouseButton.LeftButton: "left",
    Qt.MouseButton.RightButton: "right",
    Qt.MouseButton.MiddleButton: "middle",
}


def pattern(width: int, height: int) -> np.ndarray:
    """An RGB picture in which every pixel differs from its neighbours and rows differ."""
    x = np.arange(width, dtype=np.uint32)[None, :]
    y = np.arange(height, dtype=np.uint32)[:, None]
    red = (x * 37 + y * 11) % 251
    green = (x * 7 + y * 53) % 241
    blue = ((x ^ y) * 29) % 239
    return np.stack(np.broadcast_arrays(red, green, blue), axis=-1).astype(np.uint8)


class Probe(QWidget):
    def __init__(self, out: Path, *, pointer: bool = False) -> None:
        super().__init__()
        self.out = out
        self.log = (out / "events.jsonl").open("a", encoding="utf-8")
        self.picture: QImage | None = None
        if not pointer:  # the pointer is not part of the picture
            self.setCursor(Qt.CursorShape.BlankCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def device_size(self) -> tuple[int, int]:
        ratio = self.devicePixelRatioF()
        return round(self.width() * ratio), round(self.height() * ratio)

    def paintEvent(self, event: object) -> None:
        width, height = self.device_size()
        if self.picture is None or (self.picture.width(), self.picture.height()) != (width, height):
            pixels = np.ascontiguousarray(pattern(width, height))
            image = QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888)
            self.picture = image.copy()
            self.picture.setDevicePixelRatio(self.devicePixelRatioF())
            self.picture.save(str(self.out / "picture.png"))
        painter = QPainter(self)
        painter.drawImage(0, 0, self.picture)
        painter.end()
        if not (self.out / "ready").exists():
            QTimer.singleShot(300, lambda: (self.out / "ready").write_text("ready"))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._mouse("press", event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._mouse("release", event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta()
        self._write({"type": "wheel", "dx": delta.x(), "dy": delta.y()})

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Paste):  # as a text field pastes
            self._write({"type": "text", "text": QApplication.clipboard().text(), "pasted": True})
            return
        if event.text():
            self._write({"type": "text", "text": event.text().replace("\r", "\n")})
        modifiers = event.modifiers()
        if modifiers & Qt.KeyboardModifier.ControlModifier:
            self._write({"type": "shortcut", "key": event.key(), "modifiers": "ctrl"})

    def _mouse(self, kind: str, event: QMouseEvent) -> None:
        ratio = self.devicePixelRatioF()
        point = event.position()
        self._write(
            {
                "type": kind,
                "button": BUTTONS.get(event.button(), "other"),
                "x": point.x() * ratio,
                "y": point.y() * ratio,
                "logical_x": point.x(),
                "logical_y": point.y(),
            }
        )

    def _write(self, event: dict) -> None:
        self.log.write(json.dumps(event, ensure_ascii=False) + "\n")
        self.log.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pointer", action="store_true", help="show the pointer over it")
    args = parser.parse_args()
    application = QApplication(sys.argv[:1])
    signal.signal(signal.SIGTERM, lambda *_: application.quit())
    timer = QTimer()  # lets Python see SIGTERM while Qt waits
    timer.start(100)
    timer.timeout.connect(lambda: None)
    probe = Probe(args.out, pointer=args.pointer)
    probe.showFullScreen()
    return application.exec()


if __name__ == "__main__":
    raise SystemExit(main())
