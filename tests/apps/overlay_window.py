"""The real overlay on the test display, in its own process (the test process's Qt is offscreen).

    python -m tests.apps.overlay_window static --monitor X,Y,W,H [--marker X,Y] --out DIR
    python -m tests.apps.overlay_window agent --monitor X,Y,W,H --steps N --out DIR
    python -m tests.apps.overlay_window app --monitor X,Y,W,H --steps N --out DIR

`static` shows the overlay for one step of a real selection (a tests/data screenshot scaled to
the monitor), with a click marker at --marker (none without it), writes DIR/state.json (grid,
keep mask, marker) and DIR/ready, and stays until SIGTERM. `agent` runs a dry-run agent with
the scripted backend on that monitor with the overlay attached, writes its run folder under
DIR/runs, DIR/step-N when step N has finished (so the test can look at the screen between
steps) and DIR/done at the end. `app` does the same through the control app (a task file,
Start, its overlay checkbox), capturing the whole screen; it writes the window's place before
the run (DIR/app.json) and a second after its end (DIR/back.json). Under QT_QPA_PLATFORM=wayland
the app runs on the Wayland desktop route, where it has no overlay and hides itself instead.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path

from PIL import Image
from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication

from agent.actions import Click, Point, Space
from agent.backends.base import PruneConfig
from agent.backends.scripted import ScriptedBackend
from agent.capture import CaptureConfig, Screenshot
from agent.coords import Frame, Monitor
from agent.events import ActionProposed, RunFinished, ScreenCaptured, StepFinished
from agent.loop import Agent
from agent.records import Attempt, StepRecord
from pixelprune import resize_for_model, select
from ui.out_of_view import on_wayland
from ui.overlay import Overlay, OverlayConfig

DATA = Path(__file__).resolve().parents[1] / "data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["static", "agent", "app"])
    parser.add_argument("--monitor", required=True)
    parser.add_argument("--marker")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    monitor = Monitor(*map(int, args.monitor.split(",")))
    app = QApplication(sys.argv[:1])
    signal.signal(signal.SIGTERM, lambda *_: app.quit())
    heartbeat = QTimer(interval=50)  # lets Python run its signal handler while Qt waits
    heartbeat.timeout.connect(lambda: None)
    heartbeat.start()
    if args.mode == "app":
        window = start_app(args.steps, args.out)  # noqa: F841 - kept alive while Qt runs
        return app.exec()
    overlay = Overlay(OverlayConfig())
    if args.mode == "static":
        marker = tuple(map(int, args.marker.split(","))) if args.marker else None
        show_static(overlay, monitor, marker, args.out)
    else:
        start_agent(app, overlay, monitor, args.steps, args.out)
    return app.exec()


def show_static(
    overlay: Overlay, monitor: Monitor, marker: tuple[int, int] | None, out: Path
) -> None:
    image = Image.open(DATA / "window-chromium-1920x1080.png").convert("RGB")
    image = image.resize((monitor.width, monitor.height))
    resized = resize_for_model(image, "qwen2.5")
    selection = select(resized, cell=28)
    frame = Frame(monitor, image.size, (resized.shape[1], resized.shape[0]))
    click = Click(point=Point(*marker, Space.SCREEN)) if marker else None
    record = StepRecord(
        1,
        time.time(),
        frame=frame,
        attempts=[Attempt("", None, {}, None, selection.n_cells, selection.n_kept)],
        actions=[click],
        timings={"vision": 0.21, "prefill": 0.12, "decode": 0.3},
    )
    overlay.on_event(ScreenCaptured(1, Screenshot(image, monitor, 0.0), selection, frame))
    if click is not None:
        overlay.on_event(ActionProposed(1, click, frame))
    overlay.on_event(StepFinished(record))
    state = {
        "grid": list(selection.grid),
        "keep": selection.keep.astype(int).tolist(),
        "marker": list(marker) if marker else None,
        "translucent": overlay.translucent,
    }
    (out / "state.json").write_text(json.dumps(state))
    overlay.start_hotkeys()
    QTimer.singleShot(700, lambda: (out / "ready").write_text("ready\n"))


def start_agent(app: QApplication, overlay: Overlay, monitor: Monitor, steps: int, out: Path):
    answers = ["Action: click(start_box='(500,500)')"] * steps
    agent = Agent(
        ScriptedBackend(answers, family="qwen2", delay=0.5),
        parser="uitars-v1",
        mode="dry-run",
        kill_hotkey=None,
        max_steps=steps,
        prune=PruneConfig(),
        capture=CaptureConfig(monitor=1, layout=(monitor,)),
        record_to=str(out / "runs"),
    )
    overlay.attach(agent)
    agent.events.subscribe(
        lambda e: (
            isinstance(e, StepFinished) and (out / f"step-{e.record.number}").write_text("done\n")
        )
    )

    def work() -> None:
        result = agent.run("show the overlay")
        (out / "done").write_text(json.dumps({"status": result.status, "dir": result.run_dir}))

    threading.Thread(target=work, daemon=True).start()
    (out / "ready").write_text("ready\n")


def start_app(steps: int, out: Path):
    from ui.app import AppWindow

    answers = ["Action: click(start_box='(500,500)')"] * steps
    (out / "outputs.json").write_text(json.dumps(answers))
    (out / "task.toml").write_text(
        'task = "show the overlay"\n[model]\nscripted = "outputs.json"\nparser = "uitars-v1"\n'
        f'[run]\nmode = "dry-run"\nmax_steps = {steps}\nrecord_to = "runs"\n'
    )
    window = AppWindow(runs_dir=str(out / "runs"))
    window.show()
    if not window.load_task_file(out / "task.toml"):
        raise SystemExit("the app did not take the task file")
    if window.show_overlay.isChecked() == on_wayland():  # on Wayland: none, and said so
        raise SystemExit("the app's overlay checkbox is not as this platform needs")

    def follow(event) -> None:
        if isinstance(event, StepFinished):
            (out / f"step-{event.record.number}").write_text("done\n")
        elif isinstance(event, RunFinished):
            result = event.result
            (out / "done").write_text(json.dumps({"status": result.status, "dir": result.run_dir}))
            QTimer.singleShot(1000, lambda: write_window_state("back.json"))

    def write_window_state(name: str) -> None:
        frame = window.frameGeometry()
        state = {
            "frame": [frame.x(), frame.y(), frame.width(), frame.height()],
            "minimized": window.isMinimized(),
            "visible": window.isVisible(),
        }
        (out / name).write_text(json.dumps(state))

    window.runner.agent_event.connect(follow)
    QApplication.processEvents()
    write_window_state("app.json")  # where the window is before the run takes it away
    window.start()
    (out / "ready").write_text("ready\n")
    return window


if __name__ == "__main__":
    raise SystemExit(main())
