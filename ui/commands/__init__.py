"""`main.py` subcommands that open a window: `view` (the trajectory viewer), `app`."""

from __future__ import annotations

import os

from agent.preflight import desktop_problem

__all__ = ["window_problem", "window_size"]


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
