"""`OutOfView`: the control app keeps off the screen the agent captures while a run goes on.

    out_of_view = OutOfView(window)
    agent.capture_guards.append(out_of_view)      # before each grab: the window is minimised
    out_of_view.come_back()                       # pause, a confirm question, an error, the end

The app would otherwise fill the agent's screenshots with its own form and heatmap preview,
and a click could land on it; the overlay (with its HUD) is the live view meanwhile. The window
stays minimised between captures and comes back only when the person is needed or the run ends.
On Wayland it is hidden instead: a compositor need not honour minimising (sway has none).
"""

from __future__ import annotations

import threading

from PyQt6.QtCore import QObject, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QGuiApplication
from PyQt6.QtWidgets import QWidget

from agent.errors import CaptureError

__all__ = ["OutOfView", "on_wayland"]

SETTLE_SECONDS = 0.3  # after minimising, before the grab: the window manager unmaps it
WAIT_SECONDS = 5.0


class OutOfView(QObject):
    """A capture guard for `window`, active while `active` is set (a run on the real screen)."""

    _hide_requested = pyqtSignal(object)  # a threading.Event, set once the window is gone
    _back_requested = pyqtSignal()

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.window = window
        self.active = False
        self._hidden = False  # hidden by this guard (on Wayland), to be shown again
        queued = Qt.ConnectionType.QueuedConnection  # (PyQt6's stubs omit connect's type)
        self._hide_requested.connect(self._hide_now, queued)  # type: ignore[call-arg]
        self._back_requested.connect(self._back_now, queued)  # type: ignore[call-arg]

    def hide_for_capture(self) -> None:
        """(Agent thread) Return once the window is minimised and the screen repainted."""
        if not self.active:
            return
        done = threading.Event()
        self._hide_requested.emit(done)
        if not done.wait(WAIT_SECONDS):
            raise CaptureError(f"the app window did not get out of view within {WAIT_SECONDS:g} s")

    def show_after_capture(self) -> None:
        """It stays away until `come_back`: a window flashing at every step helps no one."""

    def come_back(self) -> None:
        """Bring the window back (from any thread)."""
        self._back_requested.emit()

    def _hide_now(self, done: threading.Event) -> None:
        if not self.active or self.window.isMinimized() or not self.window.isVisible():
            done.set()
            return
        if on_wayland():  # sway has no minimising, and no compositor must honour it
            self.window.hide()
            self._hidden = True
        else:
            self.window.showMinimized()
        QTimer.singleShot(round(SETTLE_SECONDS * 1000), done.set)

    def _back_now(self) -> None:
        if self._hidden:
            self.window.show()
            self._hidden = False
        if self.window.isMinimized():
            self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()


def on_wayland() -> bool:
    """Whether Qt draws on a Wayland compositor: windows cannot place or minimise themselves."""
    return QGuiApplication.platformName().startswith("wayland")
