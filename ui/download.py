"""A hub model missing from the local cache, looked up and downloaded off the GUI thread.

    download = ModelDownload(window)
    download.ready.connect(start_the_run)       # the model is in the cache (already, or now)
    download.offered.connect(ask)               # a HubModel: ask, then download.fetch(found)
    download.progress.connect(show)             # bytes so far, bytes in all
    download.failed.connect(show_error)         # no such model, offline, no network
    download.check("ByteDance-Seed/UI-TARS-1.5-7B")   # returns at once

The app's Start goes through here before it opens a local model, so a missing hub id is offered
for download as `main.py run` offers it, with the same pieces of agent.commands.pull: the cache
check, the size lookup (a network call) and the download run on a worker thread, and results
come back as signals on the GUI thread, which stays usable. `cancel()` drops the job at once
(its late results are ignored) and stops a download at its next progress step; what was
written stays in the cache and the next download resumes it. The cache check imports the model
loader (torch, transformers): on the worker thread, so the window never waits on it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from PyQt6.QtCore import QObject, Qt, pyqtSignal, pyqtSlot

from agent.commands.pull import DownloadCancelled, HubModel, download, look_up, needs_download
from agent.errors import AgentError

__all__ = ["ModelDownload"]

log = logging.getLogger(__name__)

PROGRESS_EVERY = 0.1  # seconds between progress signals: a large model writes many chunks


class ModelDownload(QObject):
    """One check or download at a time on a worker thread; signals arrive on the GUI thread."""

    ready = pyqtSignal()  # the model is in the local cache (or is not a hub id): open it
    offered = pyqtSignal(object)  # a HubModel: not in the cache; ask before `fetch`
    progress = pyqtSignal(object, object)  # bytes so far, bytes in all (Python ints: > 2 GB)
    failed = pyqtSignal(str)  # a one-line message, no traceback
    _posted = pyqtSignal(int, str, object)  # (job, kind, value) from the worker thread

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._job = 0  # the job whose results are wanted; cancel() moves on from it
        self._cancelled = threading.Event()
        self._thread: threading.Thread | None = None
        # (PyQt6's stubs omit connect's connection type)
        self._posted.connect(self._deliver, Qt.ConnectionType.QueuedConnection)  # type: ignore[call-arg]

    def check(self, model: str) -> None:
        """`ready` when `model` needs no download, else `offered` (or `failed`)."""
        self._begin(self._check, model)

    def fetch(self, found: HubModel) -> None:
        """Download `found` into the cache: `progress` as it goes, then `ready` (or `failed`)."""
        self._begin(self._fetch, found)

    def cancel(self) -> None:
        """Drop the job in progress: no signal of it arrives any more, a download stops."""
        self._cancelled.set()
        self._job += 1

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the worker to end (tests, shutdown); True when it has."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def _begin(self, work: Callable[[int, threading.Event, Any], None], what: object) -> None:
        self.cancel()  # one job at a time: an older one is dropped
        self._cancelled = threading.Event()
        self._thread = threading.Thread(
            target=work, args=(self._job, self._cancelled, what), name="model-download", daemon=True
        )
        self._thread.start()

    def _check(self, job: int, cancelled: threading.Event, model: str) -> None:
        with self._reported(job):
            if needs_download(model):
                self._posted.emit(job, "offered", look_up(model))
            else:
                self._posted.emit(job, "ready", None)

    def _fetch(self, job: int, cancelled: threading.Event, found: HubModel) -> None:
        last = 0.0

        def report(done: int) -> None:
            nonlocal last
            if cancelled.is_set():
                raise DownloadCancelled
            if time.monotonic() - last >= PROGRESS_EVERY or done >= found.size:
                last = time.monotonic()
                self._posted.emit(job, "progress", (done, found.size))

        with self._reported(job):
            try:
                download(found.model, progress=report)
            except DownloadCancelled:
                return  # cancel() has already told the GUI thread
            self._posted.emit(job, "ready", None)

    @contextmanager
    def _reported(self, job: int) -> Iterator[None]:
        """What the worker raises, as a `failed` message: the person never sees a traceback
        (an unexpected error's traceback goes to the log)."""
        try:
            yield
        except AgentError as error:
            self._posted.emit(job, "failed", str(error))
        except Exception as error:
            log.exception("looking up or downloading the model failed")
            message = f"cannot get the model: {type(error).__name__}: {error} (see the log)"
            self._posted.emit(job, "failed", message)

    @pyqtSlot(int, str, object)
    def _deliver(self, job: int, kind: str, value: object) -> None:
        if job != self._job:  # cancelled, or an older job
            return
        if kind == "progress" and isinstance(value, tuple):
            self.progress.emit(*value)
            return
        if kind == "ready":
            self.ready.emit()
        elif kind == "offered":
            self.offered.emit(value)
        else:
            self.failed.emit(str(value))
