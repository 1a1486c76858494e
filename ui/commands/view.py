"""`python main.py view RUN_DIR`: browse a recorded run step by step in a window.

`--screenshot OUT.png` renders the window at `--step` to a PNG and exits, on Qt's offscreen
platform, so it needs no display: tests check the whole command end to end with it, and
tools/dev/make_ui_screenshots.py renders the documentation's picture with it.
"""

from __future__ import annotations

import argparse
import sys

from agent.errors import AgentError
from agent.trajectory import RecordedRun, load_run
from ui.commands import qt_application, save_picture, window_size

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run folder written by `main.py run`")
    parser.add_argument("--step", type=int, default=1, help="open at this step (1 = the first)")
    parser.add_argument(
        "--screenshot",
        metavar="OUT.png",
        help="render the window at --step to OUT.png and exit (no display needed)",
    )
    parser.add_argument(
        "--size",
        type=window_size,
        default=(1400, 900),
        metavar="WxH",
        help="window size in pixels (default 1400x900)",
    )
    parser.add_argument(
        "--no-heatmap", action="store_true", help="start with the kept-cell heatmap hidden"
    )


def run(args: argparse.Namespace) -> int:
    try:
        recorded = load_run(args.run_dir)
    except (AgentError, OSError, ValueError) as error:
        print(f"error: cannot view {args.run_dir}: {error}", file=sys.stderr)
        return 2
    if not 1 <= args.step <= max(len(recorded.steps), 1):
        print(
            f"error: --step {args.step} is outside the run's {len(recorded.steps)} step(s)",
            file=sys.stderr,
        )
        return 2
    app = qt_application(args.screenshot)
    if app is None:
        return 2
    if recorded.lost:  # after the display check: a run that cannot open says one thing
        print(f"warning: the record is incomplete: {recorded.lost}", file=sys.stderr)
    window = _open(recorded, args)
    if args.screenshot is None:
        return app.exec()
    app.processEvents()
    return save_picture(window, args.screenshot)


def _open(recorded: RecordedRun, args: argparse.Namespace):
    from ui.viewer import ViewerWindow

    window = ViewerWindow(recorded, start=args.step - 1)
    window.set_heatmap(not args.no_heatmap)
    window.resize(*args.size)
    window.show()
    return window
