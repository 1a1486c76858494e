"""`Engine`: the one model behind the server, fed from a bounded queue by one worker thread.

    engine = Engine(vlm, max_concurrency=4, max_queue=16, max_batch_pixels=80_000_000)
    job = engine.submit(request, prune, max_tokens)     # ApiError 503 when full or closing

The worker answers the oldest request together with later ones of the same pruning and length
(up to `max_concurrency`, and `max_batch_pixels` of images together) in one greedy batch, which
changes latency, not answers. `cancel` frees a waiting request's place or ends a running one at
its next decode step; `shutdown` refuses the waiting and ends the running ones (503). A failed
batch is retried one request at a time, so one bad request cannot fail the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from agent.backends.local import GenerationResult, LocalVLM, Request
from agent.errors import AgentError
from agent.server.errors import ApiError
from pixelprune import PixelPruneError, PruneConfig

__all__ = ["Answer", "Engine", "Job"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    """One request's result, why it ended, and how long it waited for the model."""

    result: GenerationResult
    finish_reason: str  # "stop": the model ended it; "length": max_tokens reached
    queue_seconds: float
    batch_size: int


@dataclass(eq=False)
class Job:
    """A request in the engine; `future` gets its `Answer` or an `ApiError`."""

    request: Request
    prune: PruneConfig | None
    max_tokens: int
    future: Future[Answer] = field(default_factory=Future)
    queued_at: float = field(default_factory=time.perf_counter)
    ended: ApiError | None = None  # why a running job was cancelled: its answer instead

    @property
    def pixels(self) -> int:
        return sum(image.width * image.height for image in self.request.images)

    @property
    def batch_key(self) -> tuple[PruneConfig | None, int]:
        return self.prune, self.max_tokens


class Engine:
    """Answers requests on `vlm`, at most `max_concurrency` at once, `max_queue` waiting."""

    def __init__(
        self,
        vlm: LocalVLM,
        *,
        max_concurrency: int = 4,
        max_queue: int = 16,
        max_batch_pixels: int | None = None,
    ) -> None:
        """`max_batch_pixels`: image pixels one batch may hold (None: no limit); a request
        alone over it must be refused before `submit` (it would never run)."""
        if max_concurrency < 1 or max_queue < 0:
            raise ValueError("max_concurrency must be >= 1 and max_queue >= 0")
        self.vlm = vlm
        self.max_concurrency = max_concurrency
        self.max_queue = max_queue
        self.max_batch_pixels = max_batch_pixels
        self._changed = threading.Condition()
        self._waiting: deque[Job] = deque()
        self._running: list[Job] = []
        self._served = 0
        self._batches = 0
        self._closed = False
        self._worker = threading.Thread(target=self._work, name="model-worker", daemon=True)
        self._worker.start()

    def submit(self, request: Request, prune: PruneConfig | None, max_tokens: int) -> Job:
        """Queue a request; `ApiError` 503 when the queue is full or the engine closed."""
        job = Job(request, prune, max_tokens)
        with self._changed:
            if self._closed:
                raise _shutting_down()
            if self.full():
                raise ApiError(
                    503,
                    f"the server is busy: {len(self._running)} requests running and "
                    f"{len(self._waiting)} waiting (limit {self.max_queue}); retry later",
                    "queue_full",
                )
            self._waiting.append(job)
            self._changed.notify_all()
        return job

    def full(self) -> bool:
        """Whether a request submitted now would be refused."""
        with self._changed:
            held = len(self._running) + len(self._waiting)
            return held >= self.max_concurrency + self.max_queue

    def cancel(self, job: Job, reason: ApiError | None = None) -> None:
        """Drop `job` if it is waiting; end it at its next decode step if it is running.

        A running job's answer is then `reason` (default: 499, the client left).
        """
        with self._changed:
            if job in self._waiting:
                self._waiting.remove(job)
                job.future.cancel()
                self._changed.notify_all()
            elif job in self._running and not job.request.cancelled.is_set():
                job.ended = reason or ApiError(
                    499, "the client closed the connection", "client_closed"
                )
                job.request.cancelled.set()

    def stats(self) -> dict[str, Any]:
        """Queue occupancy and totals, for /health."""
        with self._changed:
            return {
                "running": len(self._running),
                "waiting": len(self._waiting),
                "max_concurrency": self.max_concurrency,
                "max_queue": self.max_queue,
                "served": self._served,
                "batches": self._batches,
            }

    def shutdown(self) -> None:
        """Refuse every waiting request and end the running ones at their next decode step,
        all with 503 `shutting_down`; refuse new ones. Returns at once (`close` waits)."""
        with self._changed:
            self._closed = True
            while self._waiting:
                job = self._waiting.popleft()
                if job.future.set_running_or_notify_cancel():
                    job.future.set_exception(_shutting_down())
            for job in self._running:
                self.cancel(job, _shutting_down())
            self._changed.notify_all()

    def close(self, timeout: float | None = None) -> bool:
        """`shutdown`, then wait for the worker (at most `timeout` seconds): whether it ended.

        A decode step that is running cannot be interrupted: a worker still inside a long
        prefill is left behind (it is a daemon thread and dies with the process).
        """
        self.shutdown()
        self._worker.join(timeout)
        return not self._worker.is_alive()

    def _work(self) -> None:
        while True:
            with self._changed:
                while not self._waiting and not self._closed:
                    self._changed.wait()
                if self._closed:
                    return
                batch = self._take_batch()
                self._running = batch
            try:
                self._answer(batch)
            finally:
                with self._changed:
                    self._running = []
                    self._batches += 1
                    self._served += len(batch)
                    self._changed.notify_all()

    def _take_batch(self) -> list[Job]:
        """The oldest waiting job and the next ones with the same batch key, within the batch
        size and pixel budget (lock held)."""
        head = self._waiting[0]
        batch, pixels = [head], head.pixels
        for job in list(self._waiting)[1:]:
            if len(batch) == self.max_concurrency:
                break
            fits = self.max_batch_pixels is None or pixels + job.pixels <= self.max_batch_pixels
            if job.batch_key == head.batch_key and fits:
                batch.append(job)
                pixels += job.pixels
        for job in batch:
            self._waiting.remove(job)
            job.future.set_running_or_notify_cancel()  # never cancelled: cancel() removes first
        return batch

    def _answer(self, batch: list[Job]) -> None:
        started = time.perf_counter()
        head = batch[0]
        try:
            results = self.vlm.generate_batch(
                [job.request for job in batch], prune=head.prune, max_new_tokens=head.max_tokens
            )
        except Exception as error:
            if len(batch) > 1:  # find the request that failed: the others deserve answers
                for job in batch:
                    self._answer([job])
                return
            head.future.set_exception(_api_error(error))
            return
        for job, result in zip(batch, results, strict=True):
            if job.ended is not None:  # cancelled while it ran: the client left, or shutdown
                job.future.set_exception(job.ended)
                continue
            job.future.set_result(
                Answer(
                    result=result,
                    finish_reason="stop" if result.stopped else "length",
                    queue_seconds=started - job.queued_at,
                    batch_size=len(batch),
                )
            )


def _shutting_down() -> ApiError:
    return ApiError(503, "the server is shutting down; retry on another", "shutting_down")


def _api_error(error: Exception) -> ApiError:
    """A failed generation as the client should see it: its own fault (400) or ours (500)."""
    if isinstance(error, (AgentError, PixelPruneError)):  # prompt or image the model refuses
        return ApiError(400, str(error), "invalid_request")
    log.error("generation failed", exc_info=error)
    return ApiError(500, f"the model failed ({type(error).__name__}: {error})", "model_error")
