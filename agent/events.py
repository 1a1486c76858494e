"""Events the agent loop emits, and the bus that hands them to subscribers.

Events are plain frozen dataclasses; a UI subscribes with a callable and turns them into its own
signals (ui/ does that for Qt; nothing here imports a GUI toolkit). Subscribers run on the loop's
thread, in order, and must return quickly. A subscriber that raises is logged and kept out of
the agent's way: a broken overlay must not stop an agent in the middle of a task.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.actions import Action
from agent.capture import Screenshot
from agent.coords import Frame
from pixelprune import Selection

if TYPE_CHECKING:
    from agent.records import RunResult, StepRecord

__all__ = [
    "ActionProposed",
    "Event",
    "EventBus",
    "ModelFailed",
    "RunFinished",
    "RunStarted",
    "ScreenCaptured",
    "StepFinished",
    "StepStarted",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """Base of every event."""


@dataclass(frozen=True)
class RunStarted(Event):
    task: str  # secrets masked
    model: str
    parser: str
    run_dir: str | None


@dataclass(frozen=True)
class StepStarted(Event):
    number: int


@dataclass(frozen=True)
class ScreenCaptured(Event):
    number: int
    screenshot: Screenshot
    selection: Selection | None  # the current screenshot's kept cells (None: not pruned)
    frame: Frame


@dataclass(frozen=True)
class ModelFailed(Event):
    """An answer that could not be used; the loop will ask again while attempts remain."""

    number: int
    attempt: int
    output: str
    error: str


@dataclass(frozen=True)
class ActionProposed(Event):
    """The next action, mapped to the screen, before it is confirmed and performed."""

    number: int
    action: Action
    frame: Frame


@dataclass(frozen=True)
class StepFinished(Event):
    record: StepRecord


@dataclass(frozen=True)
class RunFinished(Event):
    result: RunResult


class EventBus:
    """Subscribers by registration order; thread-safe to subscribe from a UI thread."""

    def __init__(self) -> None:
        self._subscribers: list[Callable[[Event], None]] = []
        self._lock = threading.Lock()

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call `callback(event)` for every event; returns a function that unsubscribes."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def emit(self, event: Event) -> None:
        """Hand the event to every subscriber; one that raises is logged and skipped."""
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:
                log.exception("event subscriber %r failed on %s", callback, type(event).__name__)
