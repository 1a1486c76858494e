"""Preflight: can this process see and drive the desktop? One line with the fix, before any work.

    problem = desktop_problem(drive=True)        # None, or what is wrong and how to fix it

`run` checks it before loading a model (and that the chosen monitor exists); `app` and `view`
before starting Qt, whose own failure without a display is a crash about xcb libraries.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from agent.capture import CaptureConfig, ScreenCapture, wayland_problem
from agent.errors import AgentError

__all__ = ["desktop_problem", "monitor_problem"]


def desktop_problem(*, drive: bool) -> str | None:
    """What keeps this process off the desktop, or None. `drive`: it will also move the mouse
    and type (pyautogui's python-xlib then needs an Xauthority file)."""
    if sys.platform in ("win32", "darwin"):
        return None
    if problem := wayland_problem():
        return problem
    display = os.environ.get("DISPLAY")
    if not display:
        return (
            "no X display: DISPLAY is not set. Run this in a desktop session (e.g. "
            "`export DISPLAY=:0`), or start a virtual one: `Xvfb :99 & export DISPLAY=:99`"
        )
    if drive:
        authority = Path(os.environ.get("XAUTHORITY") or Path.home() / ".Xauthority")
        if not authority.is_file():
            create = f"touch {authority} && xauth add {display} . $(mcookie)"
            return (
                f"no Xauthority file at {authority}: pyautogui needs one to drive display "
                f"{display}. Create it with `{create}`, then try again"
            )
    return None


def monitor_problem(capture: CaptureConfig) -> str | None:
    """Whether the monitor `capture` names exists on this desktop (None: it does)."""
    if capture.monitor == "mouse":
        return None
    screen = ScreenCapture(capture)
    try:
        screen.current_monitor()
    except AgentError as error:
        return str(error)
    finally:
        screen.close()
    return None
