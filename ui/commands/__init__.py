"""`main.py` subcommands that open a window: `view` (the trajectory viewer), `app`."""

from __future__ import annotations

__all__ = ["window_size"]


def window_size(text: str) -> tuple[int, int]:
    """Parse "1400x900" into (1400, 900); argparse turns the ValueError into a usage message."""
    width, _, height = text.lower().partition("x")
    size = int(width), int(height)
    if min(size) < 200:
        raise ValueError(text)
    return size
