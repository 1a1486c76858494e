"""The confirm-mode question as a Qt dialog, asked from the agent's thread.

    confirm = GuiConfirm(window)
    agent = Agent(backend, mode="confirm", confirm=confirm)   # the agent runs on another thread

The executor calls its confirm callback on the agent's thread and needs a yes or no before it
goes on, but widgets may only be touched on the GUI thread. `GuiConfirm` is a QObject living in
the GUI thread: a call from the agent's thread queues the question to it by a signal, the GUI
thread opens a (non-blocking) modal dialog, and the agent's thread waits on a threading.Event
until the person answers. `cancel()` (the app's Stop, closing the window) answers "no" at once
and closes the dialog, so a stop never waits on an open question, and it keeps answering "no"
until `reset()`, so a question that was on its way when the stop came is never shown.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from PyQt6.QtCore import QObject, Qt, QThread, pyqtSignal, pyqtSlot
from PyQt6.QtWidgets import QMessageBox, QWidget

from agent.actions import Action, describe

__all__ = ["GuiConfirm"]


@dataclass
class _Question:
    """One question from the agent's thread; `answered` is set once `yes` holds the answer."""

    action: Action
    answered: threading.Event = field(default_factory=threading.Event)
    yes: bool = False


class GuiConfirm(QObject):
    """A confirm callback (action -> bool) for the agent's thread that asks in a Qt dialog."""

    _asked = pyqtSignal(object)  # a _Question, delivered to the GUI thread

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        secrets: tuple[str, ...] = (),
        before_asking: Callable[[], None] | None = None,
    ) -> None:
        """`before_asking`: called on the GUI thread before each dialog opens (the app comes
        back into view)."""
        super().__init__(parent)
        self.before_asking = before_asking
        self.secrets = secrets  # values masked in the dialog text
        self.dialog: QMessageBox | None = None  # the open question, for the app and for tests
        self._lock = threading.Lock()
        self._pending: _Question | None = None
        self._cancelled = False
        self._parent = parent
        # (PyQt6's stubs omit connect's connection type)
        self._asked.connect(self._show, Qt.ConnectionType.QueuedConnection)  # type: ignore[call-arg]

    def __call__(self, action: Action) -> bool:
        """Ask the person about `action`; blocks the calling (agent) thread until answered."""
        if QThread.currentThread() is self.thread():
            raise RuntimeError(
                "call GuiConfirm from the agent's thread: on the GUI thread it would wait on itself"
            )
        question = _Question(action)
        with self._lock:
            if self._cancelled:
                return False
            self._pending = question
        self._asked.emit(question)
        question.answered.wait()
        with self._lock:
            self._pending = None
        return question.yes

    def cancel(self) -> None:
        """Answer "no" to the open question and to every later one until `reset()`."""
        with self._lock:
            self._cancelled = True
            question, self._pending = self._pending, None
        if question is not None:
            question.answered.set()
        if self.dialog is not None:
            self.dialog.done(QMessageBox.StandardButton.No.value)

    def reset(self) -> None:
        """Ask again (a new run starts)."""
        with self._lock:
            self._cancelled = False

    @pyqtSlot(object)
    def _show(self, question: _Question) -> None:
        if question.answered.is_set():  # cancelled while the signal was on its way
            return
        if self.before_asking is not None:
            self.before_asking()
        dialog = QMessageBox(
            QMessageBox.Icon.Question,
            "Confirm action",
            f"Perform this action?\n\n{describe(question.action, secrets=self.secrets)}",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self._parent,
        )
        if question.action.thought:
            dialog.setInformativeText(f"The model's reason: {question.action.thought}")
        dialog.setDefaultButton(QMessageBox.StandardButton.No)
        dialog.setWindowModality(Qt.WindowModality.ApplicationModal)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answer(_result: int) -> None:
            button = dialog.clickedButton()  # None when cancel() closed it
            yes = QMessageBox.StandardButton.Yes
            question.yes = button is not None and dialog.standardButton(button) == yes
            question.answered.set()
            if self.dialog is dialog:
                self.dialog = None

        dialog.finished.connect(answer)
        self.dialog = dialog
        dialog.open()
