"""Run folders: every finished step on disk before the next one starts.

    runs/20261127-210405-open-settings/
        run.json            task (secrets masked), model, parser, settings, start time
        steps.jsonl         one StepRecord per line (raw outputs, actions, timings, tokens)
        step-001.png        the screenshot the model saw at step 1
        step-001-mask.png   its kept cells, one pixel per cell (white = kept), when pruned
        result.json         how the run ended (absent if the process died)

A step's images are written first and its JSON line last, flushed and fsynced; a crash at any
point leaves every earlier step complete and readable, and no line that points at missing
images.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from agent.errors import AgentError
from agent.records import RunResult, StepRecord
from agent.secrets import redact

__all__ = ["RecordedRun", "RunWriter", "load_run", "new_run_dir"]


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
    """Appends steps of one run to its folder."""

    def __init__(
        self, folder: str | Path, header: dict[str, Any], secrets: tuple[str, ...] = ()
    ) -> None:
        self.folder = Path(folder)
        self.secrets = secrets  # values masked in every string written
        self.folder.mkdir(parents=True, exist_ok=False)
        _write_json(self.folder / "run.json", self._masked(header))
        self._steps = open(self.folder / "steps.jsonl", "a", encoding="utf-8")  # noqa: SIM115

    def add(self, record: StepRecord) -> None:
        """Write the step's images, then its JSON line; durable when this returns."""
        data = self._masked(record.to_dict())
        if record.screenshot is not None:
            name = f"step-{record.number:03d}.png"
            record.screenshot.image.save(self.folder / name)
            data["screenshot"] = name
        if record.selection is not None:
            name = f"step-{record.number:03d}-mask.png"
            mask = record.selection.keep.astype(np.uint8) * 255
            Image.fromarray(mask, mode="L").save(self.folder / name)
            data["mask"] = name
        self._steps.write(json.dumps(data, ensure_ascii=False) + "\n")
        self._steps.flush()
        os.fsync(self._steps.fileno())

    def finish(self, result: RunResult) -> None:
        """Record how the run ended and close the folder."""
        ending = {"status": result.status, "answer": result.answer, "steps": len(result.steps)}
        _write_json(self.folder / "result.json", self._masked(ending))
        self._steps.close()

    def _masked(self, data: Any) -> Any:
        """`data` with secret values masked in every string, however deep."""
        if isinstance(data, str):
            return redact(data, self.secrets)
        if isinstance(data, dict):
            return {key: self._masked(value) for key, value in data.items()}
        if isinstance(data, list):
            return [self._masked(value) for value in data]
        return data


@dataclass(frozen=True)
class RecordedRun:
    """A run folder read back."""

    folder: Path
    header: dict[str, Any]
    steps: list[dict[str, Any]]
    result: dict[str, Any] | None  # None when the run did not finish (crash, kill)

    def screenshot(self, step: dict[str, Any]) -> Image.Image | None:
        name = step.get("screenshot")
        return None if name is None else Image.open(self.folder / name)

    def mask(self, step: dict[str, Any]) -> np.ndarray | None:
        """The step's kept cells as a (rows, cols) bool array, if it was pruned."""
        name = step.get("mask")
        return None if name is None else np.asarray(Image.open(self.folder / name)) > 0


def load_run(folder: str | Path) -> RecordedRun:
    """Read a run folder; a torn last line (the process died mid-write) is ignored."""
    folder = Path(folder)
    header_file = folder / "run.json"
    if not header_file.is_file():
        raise AgentError(f"{folder} is not a run folder (no run.json)")
    header = json.loads(header_file.read_text(encoding="utf-8"))
    steps = []
    steps_file = folder / "steps.jsonl"
    if steps_file.is_file():
        lines = steps_file.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            try:
                steps.append(json.loads(line))
            except json.JSONDecodeError:
                if number != len(lines):
                    raise AgentError(f"{steps_file}:{number} is not valid JSON") from None
    result_file = folder / "result.json"
    result = json.loads(result_file.read_text(encoding="utf-8")) if result_file.is_file() else None
    return RecordedRun(folder, header, steps, result)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(temporary, path)
