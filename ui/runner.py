"""Runs one agent off the GUI thread, so the window stays responsive while a model loads and thinks.

    runner = AgentRunner(confirm=GuiConfirm(window))
    runner.agent_event.connect(window.on_event)      # agent events, on the GUI thread
    runner.failed.connect(window.on_failure)   # the run could not start: a message, no traceback
    runner.start(settings)                    # returns at once
    runner.pause(); runner.resume(); runner.stop()

The worker thread opens the backend (loading a model takes from seconds to minutes), builds the
`Agent` and runs the task; its events reach the GUI thread through an `AgentBridge`. Pause and
stop may come at any time, also before the agent exists: they are remembered and applied as soon
as it does, so a Stop pressed while the model loads ends the run before its first step (it is
still recorded, as stopped). Stop also answers an open confirm question "no", so it never waits
on the person.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from PyQt6.QtCore import QObject, pyqtSignal

from agent.backends.base import Backend
from agent.backends.spec import open_backend
from agent.capture import Grabber
from agent.errors import AgentError
from agent.events import Event, EventBus, RunStarted
from agent.loop import Agent, CaptureGuard
from agent.settings import ModelSpec, Settings
from ui.bridge import AgentBridge
from ui.confirm import GuiConfirm

__all__ = ["AgentRunner"]

log = logging.getLogger(__name__)


class AgentRunner(QObject):
    """One run at a time on a worker thread; signals arrive on the GUI thread."""

    agent_event = pyqtSignal(object)  # every agent event (agent.events), in order; not `event`:
    # that name would hide QObject.event(), which Qt calls to deliver queued signals
    failed = pyqtSignal(str)  # the run could not start or broke: a message for the person
    ended = pyqtSignal()  # the worker is done (after the last event or `failed`)

    def __init__(
        self,
        *,
        confirm: GuiConfirm | None = None,
        screen_capture: Grabber | None = None,
        screen: object = None,
        opener: Callable[[ModelSpec], Backend] = open_backend,
        parent: QObject | None = None,
    ) -> None:
        """`screen_capture` and `screen` replace mss and pyautogui (tests, demos on a still image);
        `opener` replaces `open_backend` (a backend built in memory)."""
        super().__init__(parent)
        self.capture_guards: list[CaptureGuard] = []  # e.g. the overlay: hidden at each capture
        self.confirm = confirm
        self._capture = screen_capture
        self._screen = screen
        self._opener = opener
        self._relay = EventBus()  # the agent's bus forwards to it; the bridge lives on our thread
        self._bridge = AgentBridge(self._relay, self)
        self._bridge.agent_event.connect(self.agent_event)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._agent: Agent | None = None
        self._stop_reason: str | None = None
        self._paused = False
        self._loading = False
        self._active = False

    @property
    def running(self) -> bool:
        """True from `start()` until the worker ends."""
        return self._active

    @property
    def loading(self) -> bool:
        """True while the worker is opening the backend."""
        return self._loading

    @property
    def paused(self) -> bool:
        return self._paused

    def start(self, spec: Settings) -> None:
        """Open the spec's model and run its task on a new worker thread; returns at once."""
        if self.running:
            raise AgentError("a run is in progress; stop it first")
        with self._lock:
            self._agent, self._stop_reason, self._paused = None, None, False
        if self.confirm is not None:
            self.confirm.secrets = tuple(spec.secrets.values())
            self.confirm.reset()
        self._loading = self._active = True
        self._thread = threading.Thread(
            target=self._work, args=(spec,), name="agent-runner", daemon=True
        )
        self._thread.start()

    def pause(self) -> None:
        """Finish the step in progress, then wait (also before the first step)."""
        with self._lock:
            self._paused = True
            agent = self._agent
        if agent is not None:
            agent.pause()

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            agent = self._agent
        if agent is not None:
            agent.resume()

    def stop(self, reason: str = "stopped from the app") -> None:
        """End the run before its next action; an open confirm question is answered "no"."""
        with self._lock:
            self._stop_reason = self._stop_reason or reason
            agent = self._agent
        if agent is not None:
            agent.stop(reason)
        if self.confirm is not None:
            self.confirm.cancel()

    def recalibrate(self) -> None:
        """Measure the unpruned baseline again (latency saved) at the next step."""
        with self._lock:
            agent = self._agent
        if agent is not None:
            agent.recalibrate()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the worker to end (tests, shutdown); True when it has."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def _work(self, spec: Settings) -> None:
        try:
            backend = self._open(spec.model)
            self._loading = False
            if backend is not None:
                self._drive(backend, spec)
        finally:
            self._loading = False
            with self._lock:
                self._agent = None
            self._active = False
            self.ended.emit()

    def _open(self, model: ModelSpec) -> Backend | None:
        """The backend, or None after telling the person why there is none."""
        try:
            return self._opener(model)
        except AgentError as error:
            self.failed.emit(f"cannot open the model: {error}")
        except Exception as error:  # a library failure or a bug: the log has the traceback
            log.exception("opening the model failed")
            self.failed.emit(f"cannot open the model: {type(error).__name__}: {error}")
        return None

    def _drive(self, backend: Backend, spec: Settings) -> None:
        """Run the task; the loop records every step and the ending in the run folder."""
        try:
            self._run(backend, spec)
        except AgentError as error:  # the run could not begin (kill hotkey, run folder, ...)
            self.failed.emit(str(error))
        except Exception as error:  # the loop closed the run as "error"; keep the app alive
            log.exception("the agent loop failed")
            self.failed.emit(f"internal error: {type(error).__name__}: {error} (see the log)")
        finally:
            backend.close()

    def _run(self, backend: Backend, spec: Settings) -> None:
        agent = Agent(
            backend,
            spec.agent,
            confirm=self.confirm,
            secrets=spec.secrets,
            screen_capture=self._capture,
            screen=self._screen,
        )
        agent.capture_guards.extend(self.capture_guards)
        agent.events.subscribe(self._on_event)
        agent.events.subscribe(self._relay.emit)
        with self._lock:
            self._agent = agent
            paused = self._paused
        if paused:
            agent.pause()
        try:
            agent.run(spec.task)
        finally:
            agent.close()  # a Wayland session or screen cast belongs to one run

    def _on_event(self, event: Event) -> None:
        """A stop that came before the run began takes effect as soon as it has begun."""
        if isinstance(event, RunStarted):
            with self._lock:
                reason, agent = self._stop_reason, self._agent
            if reason is not None and agent is not None:
                agent.stop(reason)
