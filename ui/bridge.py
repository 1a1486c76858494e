"""Agent events as Qt signals: the one place where the agent's thread meets the GUI thread.

The agent calls its subscribers on its own thread; emitting a Qt signal from there queues the
event to the receivers' (GUI) thread, so windows update without blocking the loop and without
touching widgets from a foreign thread.
"""

from __future__ import annotations

from PyQt6.QtCore import QObject, pyqtSignal

from agent.events import Event, EventBus

__all__ = ["AgentBridge"]


class AgentBridge(QObject):
    """Re-emits every event of an agent's bus as `agent_event(object)` on the GUI thread.

    (Not named `event`: that would hide `QObject.event`, which Qt calls to deliver events.)
    """

    agent_event = pyqtSignal(object)

    def __init__(self, bus: EventBus, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._unsubscribe = bus.subscribe(self._forward)

    def close(self) -> None:
        """Stop forwarding (call before the agent outlives the window)."""
        self._unsubscribe()

    def _forward(self, event: Event) -> None:
        self.agent_event.emit(event)
