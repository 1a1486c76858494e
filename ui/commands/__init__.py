"""`main.py` subcommands that open a window: `view` (the trajectory viewer), `app`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agent.preflight import desktop_problem

if TYPE_CHECKING:
    from PyQt6.QtCore import QMessageLogContext, QtMsgType

__all__ = [
    "QUIET_QT_MESSAGES",
    "qt_application",
    "qt_message",
    "save_picture",
    "window_problem",
    "window_size",
]

# Qt messages that say nothing is wrong, left out of the terminal: the offscreen platform warns
# on every window it sizes that it cannot pass size hints on (it has no window manager to pass
# them to), so every `--screenshot` printed it. Qt logs it in the default category, which
# QT_LOGGING_RULES could only silence with every other warning of that category.
QUIET_QT_MESSAGES = frozenset({"This plugin does not support propagateSizeHints()"})


def window_size(text: str) -> tuple[int, int]:
    """Parse "1400x900" into (1400, 900); argparse turns the ValueError into a usage message."""
    width, _, height = text.lower().partition("x")
    size = int(width), int(height)
    if min(size) < 200:
        raise ValueError(text)
    return size


def window_problem() -> str | None:
    """Why no window can open here (no display), with the way around it; None when one can."""
    if os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal"):
        return None
    problem = desktop_problem(drive=False)
    if problem is None:
        return None
    return f"{problem}; or render a picture without a display: --screenshot OUT.png"


def qt_application(screenshot: str | None):
    """The QApplication for a window command, or None after printing why no window can open.

    Qt is imported only here, so a bad argument is reported before a GUI starts; a command
    that only renders a picture (`screenshot`) runs on the offscreen platform, with no display.
    """
    if screenshot is None and (problem := window_problem()):
        print(f"error: {problem}", file=sys.stderr)
        return None
    from PyQt6.QtCore import qInstallMessageHandler
    from PyQt6.QtWidgets import QApplication

    qInstallMessageHandler(qt_message)
    platform = ["-platform", "offscreen"] if screenshot else []
    return QApplication.instance() or QApplication([sys.argv[0], *platform])


def qt_message(kind: QtMsgType, context: QMessageLogContext, message: str | None) -> None:
    """Qt's message handler for the window commands: each message on standard error as Qt's
    own handler writes it (its QT_MESSAGE_PATTERN too), but those in QUIET_QT_MESSAGES."""
    if message in QUIET_QT_MESSAGES:
        return
    from PyQt6.QtCore import qFormatLogMessage

    print(qFormatLogMessage(kind, context, message), file=sys.stderr, flush=True)


def save_picture(window, out: str) -> int:
    """Save the window as a PNG at `out`, close it and return the command's exit status."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    saved = window.grab().save(out, "PNG")
    window.close()
    if not saved:
        print(f"error: cannot write {out}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0
