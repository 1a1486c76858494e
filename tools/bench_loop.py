"""Loop-overhead benchmark: the agent's own work per step outside the model, on a real screen.

    python -m tools.bench_loop [--sizes 1920x1080,2560x1440] [--steps 10] [--overlays translucent]

The real `Agent` loop in dry-run on a private Xvfb (setup: docs/benchmarks.md, "Benchmarks in
one command"), with a `ScriptedBackend` that prunes as a backend does and adds no model time.
Stage times come from each `StepRecord`; overlay excludes Qt's painting (GUI thread), record is
queueing the run folder's files, other the rest; the first step is a warm-up, reported apart.
Target: overhead < 5 % of a model step (the H200 one recorded in
docs/bench/h200-e2e-4bit-step.json).
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import ImageChops
from rich.console import Console
from rich.table import Table

from agent.backends.scripted import ScriptedBackend
from agent.capture import CaptureConfig, ScreenCapture
from agent.events import (
    ActionProposed,
    Event,
    ModelFailed,
    RunFinished,
    RunStarted,
    ScreenCaptured,
    StepFinished,
    StepStarted,
)
from agent.loop import Agent
from agent.records import StepRecord
from tools.bench_plan import LOOP_OVERLAYS as OVERLAYS
from tools.bench_plan import LOOP_SIZES as SIZES
from tools.bench_plan import LOOP_TARGET as TARGET
from tools.xvfb import TERMINALS, on_display, virtual_display

__all__ = [
    "OVERLAYS",
    "RECORDED",
    "SIZES",
    "STAGES",
    "LoopRun",
    "LoopStep",
    "RecordedStep",
    "bench_loop",
    "read_recorded_step",
    "stages_table",
]

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ROOT / "docs" / "bench" / "h200-e2e-4bit-step.json"
STAGES = ("capture", "prune", "parse", "act", "overlay", "record", "other")
TASK = "Open the Python policy document and find the section on packaging."
ANSWER = (
    "Thought: The terminal on the left lists the documentation folders. To read the Python "
    "policy I first need to focus that terminal, so I will click inside it.\n"
    "Action: click(start_box='(412,318)')"
)
SETTLE_SECONDS = 20.0  # for the xterms to appear and draw their text


@dataclass(frozen=True)
class LoopStep:
    """One step's stages in ms; their sum is the step's overhead."""

    number: int
    captured: tuple[int, int]  # the screenshot's size: the whole screen
    image_tokens_full: int
    image_tokens_kept: int
    stages: dict[str, float]

    @property
    def overhead_ms(self) -> float:
        return sum(self.stages.values())


@dataclass(frozen=True)
class LoopRun:
    """One agent run on one screen with one overlay mode."""

    screen: tuple[int, int]
    overlay: str
    warmup: LoopStep
    steps: tuple[LoopStep, ...]  # the measured ones

    @property
    def label(self) -> str:
        return f"{self.screen[0]}x{self.screen[1]} {self.overlay}"

    @property
    def stage_ms(self) -> dict[str, float]:
        """Median of each stage over the measured steps."""
        return {name: statistics.median(s.stages[name] for s in self.steps) for name in STAGES}

    @property
    def overhead_ms(self) -> float:
        """Median over the measured steps of each step's overhead."""
        return statistics.median(step.overhead_ms for step in self.steps)

    @property
    def largest_stage(self) -> str:
        medians = self.stage_ms
        return max(medians, key=medians.__getitem__)


@dataclass(frozen=True)
class RecordedStep:
    """A model step recorded on a GPU earlier: LocalVLM.generate end to end."""

    source: str  # the log the figures were read from, relative to the repository
    device: str  # e.g. NVIDIA H200
    setup: str  # the log's first line: device, torch, quantization, depth
    model: str
    input: str
    new_tokens_max: int
    first_token_ms: float
    total_ms: float  # the whole call, incl. its own preprocessing and pruning


def bench_loop(
    sizes: Sequence[tuple[int, int]] = SIZES,
    overlays: Sequence[str] = OVERLAYS,
    steps: int = 10,
    progress: Callable[[str], None] = lambda line: None,
) -> list[LoopRun]:
    """One agent run per screen size and overlay mode; each size on its own private display."""
    _qt_app()
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-loop-") as workdir:
        for width, height in sizes:
            with virtual_display(width, height) as env, on_display(env), _terminals(env):
                for mode in overlays:
                    progress(f"loop: {width}x{height}, {mode} overlay, {steps} steps")
                    runs.append(_run_agent((width, height), mode, steps, Path(workdir)))
    return runs


def read_recorded_step(path: Path = RECORDED) -> RecordedStep:
    """The GPU model step recorded in `path`, a JSON file whose `log` names the run it is from.

    `ValueError` names the file and what is wrong with it.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read the recorded model step {path}: {error}") from error
    text = ("log", "device", "setup", "model", "input")
    numbers = ("first_token_ms", "total_ms")
    if not isinstance(data, dict) or not (
        all(isinstance(data.get(key), str) for key in text)
        and all(isinstance(data.get(key), int | float) for key in numbers)
        and isinstance(data.get("new_tokens_max"), int)
    ):
        keys = ", ".join((*text, *numbers, "new_tokens_max"))
        raise ValueError(f"{path} is not a recorded model step (needs {keys})")
    return RecordedStep(
        source=data["log"],
        device=data["device"],
        setup=data["setup"],
        model=data["model"],
        input=data["input"],
        new_tokens_max=data["new_tokens_max"],
        first_token_ms=float(data["first_token_ms"]),
        total_ms=float(data["total_ms"]),
    )


def stages_table(runs: Sequence[LoopRun]) -> Table:
    """Median ms per step of each stage, one row per run."""
    table = Table(title="loop stages, ms per step (median of the measured steps)", show_edge=False)
    for col in ("screen", "overlay mode", "steps", "image tokens", *STAGES, "overhead", "largest"):
        table.add_column(col, justify="left" if col in ("screen", "overlay mode") else "right")
    for run in runs:
        medians = run.stage_ms
        last = run.steps[-1]
        kept = f"{last.image_tokens_kept}/{last.image_tokens_full}"
        table.add_row(
            f"{run.screen[0]}x{run.screen[1]}",
            run.overlay,
            str(len(run.steps)),
            kept,
            *(f"{medians[name]:.1f}" for name in STAGES),
            f"{run.overhead_ms:.1f}",
            run.largest_stage,
        )
    return table


class _StepClock:
    """Times steps from the event bus: its own handler must be subscribed first."""

    def __init__(self) -> None:
        self.started: dict[int, float] = {}
        self.finished: dict[int, float] = {}
        self.overlay: dict[int | None, float] = defaultdict(float)  # None: run-level events
        self.overlay_after: dict[int, float] = defaultdict(float)  # StepFinished's share

    def on_event(self, event: Event) -> None:
        now = time.perf_counter()
        if isinstance(event, StepStarted):
            self.started[event.number] = now
        elif isinstance(event, StepFinished):
            self.finished[event.record.number] = now

    def timed(self, handler: Callable[[Event], None]) -> Callable[[Event], None]:
        """`handler` with its time added to the step its event belongs to."""

        def run(event: Event) -> None:
            start = time.perf_counter()
            handler(event)
            seconds = time.perf_counter() - start
            number = _step_of(event)
            self.overlay[number] += seconds
            if isinstance(event, StepFinished):
                self.overlay_after[event.record.number] += seconds

        return run

    def stages(self, record: StepRecord) -> dict[str, float]:
        """The step's stages in ms (see the module docstring)."""
        t, n = record.timings, record.number
        span = self.finished[n] - self.started[n]  # step total + what follows it, to the event
        stand_in = t["model"] - t["prune"]  # the scripted model's bookkeeping: not the loop's
        overhead = span + self.overlay_after[n] - stand_in
        measured = {
            "capture": t["capture"],
            "prune": t["prune"],
            "parse": t["parse"],
            "act": t["act"],
            "overlay": self.overlay[n],
            "record": span - t["total"],
        }
        measured["other"] = overhead - sum(measured.values())
        return {name: seconds * 1e3 for name, seconds in measured.items()}


def _run_agent(size: tuple[int, int], mode: str, steps: int, workdir: Path) -> LoopRun:
    from ui.overlay import Overlay, OverlayConfig

    capture = ScreenCapture(CaptureConfig(monitor=1))
    overlay = Overlay(
        OverlayConfig(heatmap_hotkey=None, hud_hotkey=None, translucent=mode == "translucent")
    )
    agent = Agent(
        ScriptedBackend([ANSWER] * (steps + 1), family="qwen2.5", name="instant UI-TARS stand-in"),
        mode="dry-run",
        kill_hotkey=None,
        parser="uitars",
        max_steps=steps + 1,
        record_to=str(workdir),
        screen_capture=capture,
    )
    clock = _StepClock()
    agent.events.subscribe(clock.on_event)
    agent.events.subscribe(clock.timed(overlay.on_event))
    try:
        result = agent.run(TASK)
    finally:
        capture.close()
        overlay.close()  # Python owns it: deleted with the last reference
    if result.status != "max_steps" or len(result.steps) != steps + 1:
        raise RuntimeError(f"the benchmark run ended early: {result.status}: {result.answer}")
    measured = []
    for record in result.steps:
        full, kept = record.image_tokens
        if record.screenshot is None or full is None or kept is None:
            raise RuntimeError(f"step {record.number} recorded no screenshot or token counts")
        measured.append(
            LoopStep(record.number, record.screenshot.image.size, full, kept, clock.stages(record))
        )
    return LoopRun(size, mode, measured[0], tuple(measured[1:]))


def _step_of(event: Event) -> int | None:
    if isinstance(event, (RunStarted, RunFinished)):
        return None
    if isinstance(event, StepFinished):
        return event.record.number
    if isinstance(event, (StepStarted, ScreenCaptured, ActionProposed, ModelFailed)):
        return event.number
    raise TypeError(f"an event the benchmark does not know: {event!r}")


@functools.cache
def _qt_app():
    """The running QApplication, or one on the offscreen platform (the overlay needs one);
    cached, so this process keeps it alive."""
    from PyQt6.QtCore import qInstallMessageHandler
    from PyQt6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["pixelprune-bench", "-platform", "offscreen"])
    if QApplication.platformName() == "offscreen":

        def quiet(mode, context, message: str) -> None:
            # offscreen windows cannot take a shape or be raised; the overlay still computes
            # everything it would send, which is what we time
            if "This plugin does not support" not in message:
                print(message, file=sys.stderr)

        qInstallMessageHandler(quiet)
    return app


@contextmanager
def _terminals(env: dict[str, str]) -> Iterator[None]:
    """The xterms of tools/xvfb.TERMINALS on the display, until the block ends."""
    if shutil.which("xterm") is None:
        raise RuntimeError("xterm is not installed; run tools/install.sh")
    capture = ScreenCapture(CaptureConfig(monitor=1))
    empty = capture.grab().image
    terms = [
        subprocess.Popen(
            ["xterm", "-geometry", geometry, "-e", "sh", "-c", f"{command}; sleep 3600"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for geometry, command in TERMINALS
    ]
    try:
        _wait_for_windows(capture, empty)
        yield
    finally:
        capture.close()
        for term in terms:
            term.terminate()
        for term in terms:
            term.wait(timeout=10)


def _wait_for_windows(capture: ScreenCapture, empty) -> None:
    """Until the screen differs from the empty one and stays the same for a moment."""
    deadline = time.monotonic() + SETTLE_SECONDS
    previous = None
    while time.monotonic() < deadline:
        shot = capture.grab().image
        drawn = ImageChops.difference(shot, empty).getbbox() is not None
        if (
            drawn
            and previous is not None
            and ImageChops.difference(shot, previous).getbbox() is None
        ):
            return
        previous = shot
        time.sleep(0.5)
    raise RuntimeError(f"the xterm windows did not settle on the screen within {SETTLE_SECONDS} s")


def _size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)x(\d+)", text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"a screen size is WIDTHxHEIGHT, got {text!r}")
    return int(match[1]), int(match[2])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default=",".join(f"{w}x{h}" for w, h in SIZES),
        help="comma-separated screen sizes, WIDTHxHEIGHT",
    )
    parser.add_argument(
        "--overlays",
        default=",".join(OVERLAYS),
        help=f"comma-separated, from {', '.join(OVERLAYS)}",
    )
    parser.add_argument("--steps", type=int, default=10, help="measured steps per run")
    args = parser.parse_args(argv)
    try:
        sizes = [_size(text) for text in args.sizes.split(",")]
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    overlays = [mode.strip() for mode in args.overlays.split(",")]
    if unknown := [mode for mode in overlays if mode not in OVERLAYS]:
        parser.error(f"unknown overlay mode(s) {', '.join(unknown)}; choose from {OVERLAYS}")
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    console = Console(width=160)
    runs = bench_loop(sizes, overlays, args.steps, progress=console.print)
    console.print(stages_table(runs))
    recorded = read_recorded_step()
    console.print(
        f"model step recorded on the GPU ({recorded.source}: {recorded.setup}; {recorded.model}, "
        f"{recorded.input}, LocalVLM.generate with {recorded.new_tokens_max} new tokens max): "
        f"{recorded.total_ms:.1f} ms; not measured in this run"
    )
    for run in runs:
        share = run.overhead_ms / recorded.total_ms
        verdict = "PASS" if share < TARGET else "FAIL"
        console.print(
            f"{run.label}: overhead {run.overhead_ms:.1f} ms = {share:.1%} of the recorded step "
            f"(target < {TARGET:.0%}: {verdict}; largest stage {run.largest_stage})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
