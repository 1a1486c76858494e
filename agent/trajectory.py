"""Run folders: every step written in order, off the agent's thread, readable after a crash.

    runs/20261127-210405-open-settings/
        run.json            task (secrets masked), model, parser, settings, start time
        steps.jsonl         one StepRecord per line (raw outputs, actions, timings, tokens)
        step-001.png        the screenshot the model saw at step 1
        step-001-mask.png   its kept cells, one pixel per cell (white = kept), when pruned
        result.json         how the run ended (absent if the process died)

A step's images are written first and its JSON line last, flushed and fsynced, by the run's
writer thread, one step after the other; a crash at any point leaves every step written so far
complete and readable, and no line that points at missing images. Steps still queued when the
process dies are lost (at most QUEUE_STEPS + 1); a normal exit writes them first.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import os
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from agent.errors import AgentError
from agent.records import RunHeader, RunResult, StepRecord
from agent.secrets import redact_data

__all__ = [
    "PNG_LEVEL",
    "QUEUE_STEPS",
    "RecordedRun",
    "RunWriter",
    "load_run",
    "new_run_dir",
    "save_png",
]

_T = TypeVar("_T")

# zlib level of the PNGs: lossless at any level; at 1920x1080 level 1 encodes a desktop
# screenshot in ~42 ms against ~73 ms at the default (6), for files ~5 % larger (~0.2 MB)
PNG_LEVEL = 1
QUEUE_STEPS = 3  # steps waiting for the writer thread before add() waits for the disk


def new_run_dir(root: str | Path, task: str) -> Path:
    """A fresh, sortable folder name under `root`: time stamp plus a slug of the task."""
    slug = re.sub(r"[^a-z0-9]+", "-", task.lower()).strip("-")[:40] or "task"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{stamp}-{slug}"
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    return folder


class RunWriter:
    """Appends steps of one run to its folder, on a writer thread of its own.

    PNG-encoding a full-screen screenshot takes tens of milliseconds, which would otherwise
    stall the agent between steps; `add()` only snapshots the step and queues it. The queue
    holds at most QUEUE_STEPS steps, so a slow disk slows the agent down instead of filling
    memory. A failure on the writer thread is never lost: it is raised as an AgentError by the
    next `add()`, `flush()` or `finish()`.
    """

    def __init__(
        self,
        folder: str | Path,
        header: RunHeader,
        secrets: tuple[str, ...] = (),
        *,
        save_image: Callable[[Image.Image, Path], None] | None = None,
    ) -> None:
        """`save_image` writes one PNG (default `save_png`); tests slow it down or break it."""
        self.folder = Path(folder)
        self.secrets = secrets  # values masked in every string written
        self.folder.mkdir(parents=True, exist_ok=False)
        _write_json(self.folder / "run.json", self._masked(dataclasses.asdict(header)))
        self._steps = open(self.folder / "steps.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        self._save_image = save_image or save_png
        self._queue: queue.Queue[_Step | None] = queue.Queue(maxsize=QUEUE_STEPS)
        self._error: AgentError | None = None  # set by the writer thread
        self._reported = False  # the error has been raised to a caller
        self._closed = False
        # a daemon, so a run that is never finished cannot keep the process alive; the steps
        # it has queued still reach the disk at a normal exit
        self._thread = threading.Thread(
            target=self._write_steps, name=f"run-writer {self.folder.name}", daemon=True
        )
        self._thread.start()
        atexit.register(self._queue.join)

    def add(self, record: StepRecord) -> None:
        """Queue the step: its images, then its JSON line. Returns before they are on disk;
        `flush()` or `finish()` waits for them."""
        if self._closed:
            raise AgentError(f"the run folder {self.folder} is already finished")
        self._raise_error(again=True)
        data = self._masked(record.to_dict())  # a copy: later changes to the record stay out
        images = []
        if record.screenshot is not None:
            name = f"step-{record.number:03d}.png"
            images.append((name, record.screenshot.image))  # never changed in place
            data["screenshot"] = name
        if record.selection is not None:
            name = f"step-{record.number:03d}-mask.png"
            mask = record.selection.keep.astype(np.uint8) * 255
            images.append((name, Image.fromarray(mask, mode="L")))
            data["mask"] = name
        line = json.dumps(data, ensure_ascii=False) + "\n"
        self._queue.put(_Step(record.number, tuple(images), line))

    def flush(self) -> None:
        """Wait until every added step is on disk."""
        self._queue.join()
        self._raise_error()

    def finish(self, result: RunResult) -> None:
        """Write the queued steps, record how the run ended and close the folder.

        After a failed write there is no result.json: the folder reads back as a run that
        stopped at its last complete step, which is what it holds.
        """
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()
        atexit.unregister(self._queue.join)
        try:
            if self._error is None:
                ending = {
                    "status": result.status,
                    "answer": result.answer,
                    "steps": len(result.steps),
                }
                try:
                    _write_json(self.folder / "result.json", self._masked(ending))
                except OSError as error:
                    self._error = AgentError(
                        f"cannot write the run result to {self.folder}: {error}"
                    )
                    self._error.__cause__ = error
        finally:
            self._steps.close()
        self._raise_error()

    def _write_steps(self) -> None:
        """The writer thread: each step's images, then its line (flushed, fsynced), in order.

        After a failure it keeps taking steps off the queue without writing them, so `add()`
        never waits on a queue nobody empties.
        """
        while (step := self._queue.get()) is not None:
            try:
                if self._error is None:
                    self._write(step)
            except Exception as error:  # any failure: handed to the agent's thread
                self._error = AgentError(
                    f"cannot write step {step.number} to the run folder {self.folder}: {error}"
                )
                self._error.__cause__ = error
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def _write(self, step: _Step) -> None:
        for name, image in step.images:
            self._save_image(image, self.folder / name)
        self._steps.write(step.line)
        self._steps.flush()
        os.fsync(self._steps.fileno())

    def _raise_error(self, again: bool = False) -> None:
        """Raise the writer thread's failure: once, or `again` for a step that would be lost."""
        if self._error is not None and (again or not self._reported):
            self._reported = True
            raise self._error

    def _masked(self, data: Any) -> Any:
        return redact_data(data, self.secrets)


def save_png(image: Image.Image, path: Path) -> None:
    """Lossless PNG at zlib level PNG_LEVEL."""
    image.save(path, format="PNG", compress_level=PNG_LEVEL)


@dataclass(frozen=True)
class _Step:
    """One step as queued: snapshots only, so the writer thread shares nothing mutable."""

    number: int
    images: tuple[tuple[str, Image.Image], ...]  # file name, image; written in this order
    line: str  # the JSON line, written after the images


@dataclass(frozen=True)
class RecordedRun:
    """A run folder read back into the classes the loop wrote.

    Steps hold their selection (settings and kept cells, from the mask) but not their
    screenshot: `screenshot(step)` opens it when it is wanted.
    """

    folder: Path
    header: RunHeader
    steps: list[StepRecord]
    result: RunResult | None  # None when the run did not finish (crash, kill)
    screenshots: dict[int, str] = field(default_factory=dict)  # step number → file name
    # what the record misses, in one line ("step 3 was cut off (torn last line)"); None: whole
    lost: str | None = None

    def screenshot(self, step: StepRecord) -> Image.Image | None:
        """The step's screenshot (OSError when its file is missing or unreadable)."""
        name = self.screenshots.get(step.number)
        if name is None:
            return None
        with Image.open(self.folder / name) as image:
            image.load()
            return image

    def mask(self, step: StepRecord) -> np.ndarray | None:
        """The step's kept cells as a (rows, cols) bool array, if it was pruned."""
        return None if step.selection is None else step.selection.keep


def load_run(folder: str | Path) -> RecordedRun:
    """Read a run folder: every whole step, and in `lost` what the record misses.

    A torn last line (the process died mid-write), a missing steps.jsonl and fewer steps than
    result.json counts are read as far as they go, since a crash must not hide the steps
    before it; `lost` says what is not there, so no reader takes the run for whole. `AgentError`
    names the file (and line) that is not what the loop writes, and what it found there. A
    step's mask that cannot be read only loses the step's selection.
    """
    folder = Path(folder)
    header_file = folder / "run.json"
    if not header_file.is_file():
        raise AgentError(f"{folder} is not a run folder (no run.json)")
    header = _read(header_file, lambda data: RunHeader.from_dict(data))
    steps, screenshots, torn = [], {}, False
    steps_file = folder / "steps.jsonl"
    lines = steps_file.read_text(encoding="utf-8").splitlines() if steps_file.is_file() else []
    for number, line in enumerate(lines, start=1):
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                torn = True
                break
            raise AgentError(f"{steps_file}:{number} is not valid JSON") from None
        try:
            data = _object(data)
            step = StepRecord.from_dict(data, task=header.task, keep=_mask(folder, data))
        except (KeyError, TypeError, ValueError, AttributeError, AgentError) as error:
            raise AgentError(f"{steps_file}:{number} is not a step record: {_why(error)}") from None
        steps.append(step)
        if data.get("screenshot"):
            screenshots[step.number] = str(data["screenshot"])
    result, counted = None, None
    result_file = folder / "result.json"
    if result_file.is_file():
        result, counted = _read(
            result_file,
            lambda data: (
                RunResult(data["status"], str(data["answer"]), steps, str(folder)),
                data.get("steps"),
            ),
        )
    lost = _lost(steps, torn=torn, found=steps_file.is_file(), counted=counted)
    return RecordedRun(folder, header, steps, result, screenshots, lost)


def _lost(steps: list[StepRecord], *, torn: bool, found: bool, counted: object) -> str | None:
    """What the record misses, in one line; None when it holds every step it should.

    Steps are numbered from 1, so the last whole step's number is how many came before the
    torn line, and result.json's count (absent after a crash) says how many there were.
    """
    problems = [] if found else ["no steps.jsonl"]
    last = steps[-1].number if steps else 0
    if torn:
        last += 1
        problems.append(f"step {last} was cut off (torn last line)")
    if isinstance(counted, int) and counted > last:
        which = f"step {counted} is" if counted == last + 1 else f"steps {last + 1}-{counted} are"
        problems.append(f"{which} missing (result.json counts {counted})")
    return "; ".join(problems) or None


def _read(path: Path, make: Callable[[dict[str, Any]], _T]) -> _T:
    try:
        return make(_object(json.loads(path.read_text(encoding="utf-8"))))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise AgentError(f"{path} is not valid JSON: {error}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise AgentError(f"{path} is not what a run writes: {_why(error)}") from None


def _object(data: Any) -> dict[str, Any]:
    """`data` if it is a JSON object; a ValueError saying what was found instead."""
    if isinstance(data, dict):
        return data
    kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(data), "a number"
    )
    found = json.dumps(data, ensure_ascii=False)
    found = found if len(found) <= 60 else found[:57] + "..."
    raise ValueError(f"found {kind}, not an object: {found}")


def _why(error: Exception) -> str:
    """What was wrong with the data, in words (never a bare `KeyError('started')`)."""
    if isinstance(error, KeyError):
        return f"no {error.args[0]!r} field"
    if isinstance(error, (TypeError, AttributeError)):
        return f"a field holds the wrong kind of value ({error})"
    return str(error)


def _mask(folder: Path, data: dict[str, Any]) -> np.ndarray | None:
    name = data.get("mask")
    if not name:
        return None
    try:
        with Image.open(folder / name) as image:
            keep = np.asarray(image) > 0
    except OSError:
        return None
    return keep if keep.ndim == 2 else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(temporary, path)
