"""The real overlay on a real X screen without a compositor, photographed for docs/overlay.png.

    python -m tools.dev.overlay_picture OUT.png --runs DIR      # on an X display of 1920x1080

`make_ui_screenshots overlay` runs this on a private Xvfb with openbox and no compositor (see
there). It shows the Chromium screenshot of tests/data as a full-screen window (the desktop the
agent works on), runs the real agent loop over it (dry run, pruned, recorded to DIR) on a real
local model with the real `ui.overlay.Overlay` attached, and grabs the screen once step 1 has
finished, so the picture holds what a user sees then: kept cells, where the click lands and the
HUD. The model is a tiny random-weight Qwen2.5-VL built on the spot (tools/offline_models.py;
no weights can be downloaded here): it runs every prompt for real, so the HUD shows its measured
vision, prefill and decode times and a measured saving, but its words are random, so the demo's
scripted UI-TARS answers stand in for them (`TinyModelScript`). Without a compositor the overlay
is a shaped, opaque window (a square on each kept cell), so the picture shows that. To hold the
screen at step 1, a capture guard registered before the overlay's takes the picture before the
agent's next capture, while the overlay is still up; the agent waits for it as it waits for the
overlay to hide.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from PIL import Image, ImageChops
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QPixmap
from PyQt6.QtWidgets import QApplication, QLabel

from agent.backends.base import ModelReply
from agent.backends.loading import LoadedModel, ModelConfig, load_model
from agent.backends.local import LocalVLM
from agent.backends.scripted import ScriptExhaustedError
from agent.capture import CaptureConfig, ScreenCapture
from agent.errors import CaptureError
from agent.events import Event, StepFinished
from agent.loop import Agent
from agent.messages import Prompt
from agent.records import RunResult
from pixelprune import PruneConfig
from tools.dev.make_ui_screenshots import CHROMIUM, DEMO_SCRIPT, DEMO_TASK
from tools.offline_models import build_tokenizer, save_random_model, tiny_config
from ui.overlay import Overlay, OverlayConfig

__all__ = ["TINY_MODEL", "Photographer", "TinyModelScript", "main", "tiny_model_script"]

TINY_MODEL = "tiny random-weight Qwen2.5-VL"  # the model's name in the run's record

SETTLE_SECONDS = 0.25  # between two grabs that must agree: the X server has drawn everything
WAIT_SECONDS = 15.0  # for a window to reach the screen; only bounds a hang


class TinyModelScript(LocalVLM):
    """A real local model that reads every prompt, with scripted answers in place of its own.

    Each pruned call runs the model for real (preprocess, prune, vision, prefill, decode, all
    timed), decoding as many tokens as the script's next answer has, and then answers with that
    answer: random weights say nothing a parser reads, and the picture is to show a click. The
    agent's unpruned calibration call (one token, its text unread) keeps the model's own answer
    and takes nothing from the script.
    """

    def __init__(self, loaded: LoadedModel, answers: Iterable[str]) -> None:
        super().__init__(loaded, name=TINY_MODEL)
        self.answers = list(answers)

    def complete(
        self, prompt: Prompt, *, prune: PruneConfig | None, max_new_tokens: int = 256
    ) -> ModelReply:
        if prune is None:
            return super().complete(prompt, prune=None, max_new_tokens=max_new_tokens)
        if not self.answers:
            raise ScriptExhaustedError("the script has no answer left")
        answer = self.answers.pop(0)
        tokens = min(len(self.loaded.tokenizer(answer).input_ids), max_new_tokens)
        reply = super().complete(prompt, prune=prune, max_new_tokens=tokens)
        return dataclasses.replace(reply, text=answer)


def tiny_model_script(folder: Path, answers: Iterable[str]) -> TinyModelScript:
    """Build the tiny random-weight Qwen2.5-VL in `folder`, load it on the CPU, script it."""
    tokenizer = build_tokenizer()
    save_random_model(folder, tiny_config("qwen2.5", tokenizer), tokenizer)
    return TinyModelScript(load_model(ModelConfig(str(folder), None, "cpu")), answers)


class Photographer:
    """A capture guard that grabs the screen before the first capture after step `after`.

    The agent calls its guards in order before every capture; registered before the overlay,
    this one runs while the overlay still shows step `after` (its queued events drawn: the grab
    waits until the screen stops changing and differs from the bare desktop).
    """

    def __init__(self, agent: Agent, desktop: Image.Image, after: int = 1) -> None:
        self.picture: Image.Image | None = None
        self._desktop = desktop
        self._after = after
        self._finished = threading.Event()
        agent.events.subscribe(self._follow)

    def _follow(self, event: Event) -> None:
        if isinstance(event, StepFinished) and event.record.number == self._after:
            self._finished.set()

    def hide_for_capture(self) -> None:
        """Take the picture the first time the agent captures after step `after`."""
        if self._finished.is_set() and self.picture is None:
            capture = ScreenCapture(CaptureConfig(monitor=1))
            try:
                self.picture = settled_screen(capture, unlike=self._desktop)
            finally:
                capture.close()  # this thread's connection

    def show_after_capture(self) -> None:
        """Nothing to put back: the photographer draws nothing."""


def settled_screen(capture: ScreenCapture, unlike: Image.Image | None = None) -> Image.Image:
    """The screen once two grabs SETTLE_SECONDS apart agree (and it is no longer `unlike`)."""
    deadline = time.monotonic() + WAIT_SECONDS
    previous = None
    while time.monotonic() < deadline:
        time.sleep(SETTLE_SECONDS)
        shot = capture.grab().image
        changed = unlike is None or ImageChops.difference(shot, unlike).getbbox() is not None
        if (
            changed
            and previous is not None
            and ImageChops.difference(shot, previous).getbbox() is None
        ):
            return shot
        previous = shot
    raise CaptureError(f"the screen did not settle within {WAIT_SECONDS:.0f} s")


def show_desktop(application: QApplication, image_path: Path) -> tuple[QLabel, Image.Image]:
    """A frameless window showing the picture over the whole screen, once X shows it exactly."""
    image = Image.open(image_path).convert("RGB")
    window = QLabel()
    window.setWindowFlags(Qt.WindowType.FramelessWindowHint)
    window.setPixmap(QPixmap(str(image_path)))
    window.setGeometry(0, 0, image.width, image.height)
    window.show()
    capture = ScreenCapture(CaptureConfig(monitor=1))
    deadline = time.monotonic() + WAIT_SECONDS
    try:
        while ImageChops.difference(capture.grab().image, image).getbbox() is not None:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the desktop window did not cover the screen exactly within {WAIT_SECONDS} s"
                    f" (the screen must be {image.width}x{image.height})"
                )
            application.processEvents()
            time.sleep(0.05)
    finally:
        capture.close()
    return window, image


def run_in_background(application: QApplication, agent: Agent, task: str) -> RunResult:
    """Run the agent on a thread of its own while Qt's event loop draws the overlay."""
    results: list[RunResult] = []
    worker = threading.Thread(target=lambda: results.append(agent.run(task)), daemon=True)
    worker.start()
    poll = QTimer()
    poll.timeout.connect(lambda: None if worker.is_alive() else application.quit())
    poll.start(50)
    application.exec()
    worker.join()
    if not results:
        raise RuntimeError("the agent run raised (traceback above)")
    return results[0]


def photograph(out: Path, runs: Path) -> None:
    """Show the desktop, run the agent with the overlay over it, save the screen at step 1."""
    with tempfile.TemporaryDirectory(prefix="tiny-qwen2.5-vl-") as folder:
        backend = tiny_model_script(Path(folder), DEMO_SCRIPT)  # loaded: the folder can go
    application = QApplication(sys.argv[:1])
    window, desktop = show_desktop(application, CHROMIUM)
    overlay = Overlay(OverlayConfig(heatmap_hotkey=None, hud_hotkey=None))  # compositor decides
    agent = Agent(
        backend,
        mode="dry-run",
        kill_hotkey=None,
        parser="uitars",
        prune=PruneConfig(),
        capture=CaptureConfig(monitor=1),
        record_to=str(runs),
    )
    camera = Photographer(agent, desktop)
    agent.capture_guards.append(camera)  # before the overlay's guard: it is still shown
    overlay.attach(agent)
    result = run_in_background(application, agent, DEMO_TASK)
    overlay.shutdown()
    window.close()
    if camera.picture is None:
        raise RuntimeError(
            f"no picture: the run ended before step 2 ({result.status}: {result.answer})"
        )
    if overlay.translucent:
        raise RuntimeError(
            "a compositor runs on this display: the overlay is not the shaped window to show"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    camera.picture.save(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--runs", type=Path, required=True, help="folder for the run's record")
    args = parser.parse_args(argv)
    try:
        photograph(args.out, args.runs)
    except (RuntimeError, CaptureError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
