"""`python main.py app`: the desktop control app (set up, start, pause, stop and watch a run).

    python main.py app                      # an empty form
    python main.py app task.toml            # the form filled from a task file
    python main.py app --demo tests/data/desktop-xterm-1920x1080.png
    python main.py app --demo tests/data/desktop-xterm-1920x1080.png --screenshot docs/app.png

`--demo IMAGE` fills the form with a built-in scripted task (no model) and runs it in dry-run
mode on IMAGE, shown to the agent as a still screen: nothing on this desktop is captured or
touched. `--screenshot OUT.png` renders the window to a PNG and exits, on Qt's offscreen
platform (no display needed); with `--demo` it waits for the demo run to end first, which is how
docs/app.png is made. `--exit-after SECONDS` closes the window by itself (smoke tests).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

from agent.backends.scripted import ScriptedBackend
from agent.capture import Screenshot
from agent.coords import Monitor
from agent.settings import RUNS_DIR
from pixelprune.cli import add_out_option
from ui.commands import qt_application, save_picture, window_size

__all__ = ["DEMO_IMAGE", "DEMO_TASK", "add_arguments", "demo_outputs", "run"]

DEMO_TASK = "Show the Zen of Python in the terminal on the right"
DEMO_IMAGE = Path(__file__).resolve().parents[2] / "tests" / "data" / "desktop-xterm-1920x1080.png"
DEMO_SECONDS = 60.0  # bound on the demo run before a screenshot (it takes well under a second)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task_file", nargs="?", help="a task file (.toml) to fill the form with")
    add_out_option(parser, what="where run folders go", default=RUNS_DIR, aliases=("--runs-dir",))
    parser.add_argument(
        "--demo",
        metavar="IMAGE",
        help="run a built-in scripted task dry on IMAGE as the screen (no model, nothing done)",
    )
    parser.add_argument(
        "--screenshot",
        metavar="OUT.png",
        help="render the window to OUT.png and exit (no display needed; after --demo's run)",
    )
    parser.add_argument("--exit-after", type=float, metavar="SECONDS", help="close by itself")
    parser.add_argument(
        "--size", type=window_size, default=(1400, 900), metavar="WxH", help="default 1400x900"
    )


def run(args: argparse.Namespace) -> int:
    demo = None
    if args.demo is not None:
        try:
            demo = Image.open(args.demo).convert("RGB")
        except OSError as error:
            print(f"error: cannot read the demo image {args.demo}: {error}", file=sys.stderr)
            return 2
    app = qt_application(args.screenshot)
    if app is None:
        return 2
    from PyQt6.QtCore import QTimer

    window = _window(args, demo)
    window.resize(*args.size)
    window.show()
    if args.task_file:
        window.load_task_file(args.task_file)
    if demo is not None:
        window.start()
    if args.screenshot is not None:
        return _render(app, window, args.screenshot)
    if args.exit_after is not None:
        QTimer.singleShot(round(args.exit_after * 1000), window.close)
    return app.exec()


def demo_outputs(width: int, height: int, *, story: bool) -> list[str]:
    """The demo's UI-TARS answers for a screen of this size (clicks at fixed fractions of it).

    `story`: the screenshot is the one the demo's narrative was written for (DEMO_IMAGE);
    on any other image the thoughts say only what a script can honestly say.
    """
    resized_width, resized_height = ScriptedBackend([]).input_size(width, height)
    x, y = round(0.6 * resized_width), round(0.55 * resized_height)
    if not story:
        return [
            "Thought: A scripted demo: this answer was written in advance, not by a model. I "
            f"click a little right of the centre.\nAction: click(start_box='({x},{y})')",
            "Thought: The script ends here.\n"
            "Action: finished(content='A scripted demo on your image: nothing was performed.')",
        ]
    return [
        "Thought: The terminal on the right shows the xterm FAQ. I click into it so that it "
        f"gets the keyboard focus.\nAction: click(start_box='({x},{y})')",
        "Thought: Now I run Python's Zen module in that terminal.\n"
        "Action: type(content='python3 -m this\\n')",
        "Thought: The Zen of Python is printed in the terminal, so the task is done.\n"
        "Action: finished(content='The Zen of Python is shown in the terminal on the right.')",
    ]


class _StillScreen:
    """The demo's screen: the same image on every grab, as one monitor at the origin."""

    def __init__(self, image: Image.Image) -> None:
        self.image = image
        self.monitor = Monitor(0, 0, image.width, image.height)

    def grab(self) -> Screenshot:
        return Screenshot(self.image.copy(), self.monitor, 0.0)


def _window(args: argparse.Namespace, demo: Image.Image | None):
    from ui.app import AppWindow

    if demo is None:
        return AppWindow(runs_dir=str(args.out))
    story = Path(args.demo).resolve() == DEMO_IMAGE
    outputs = demo_outputs(*demo.size, story=story)
    window = AppWindow(  # no invented delay: what the step table shows as model time is real
        runs_dir=str(args.out),
        screen_capture=_StillScreen(demo),
        opener=lambda _spec: ScriptedBackend(outputs, name="scripted:demo"),
    )
    window.task_text.setPlainText(DEMO_TASK if story else "A scripted demo on this image")
    window.scripted.setChecked(True)
    window.script_path.setText("built-in demo script")
    window.parser.setCurrentText("uitars")
    window.mode.setCurrentText("dry-run")
    window.kill_hotkey.setChecked(False)  # dry-run on a still image: nothing to stop
    return window


def _render(app, window, out: str) -> int:
    """Wait for a run in progress (bounded), then save the window as a PNG."""
    from PyQt6.QtCore import QEventLoop, QTimer

    if window.runner.running:
        loop = QEventLoop()
        window.runner.ended.connect(loop.quit)
        QTimer.singleShot(round(DEMO_SECONDS * 1000), loop.quit)
        if window.runner.running:
            loop.exec()
    app.processEvents()
    window.runner.stop("screenshot taken")
    window.runner.wait(5.0)
    return save_picture(window, out)
