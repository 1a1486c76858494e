"""Opening image files for the command-line tools: an RGB image, or one readable reason why not.

`analyze` and `report` both read files a user points at, and any of them may be missing,
truncated, not an image at all, or a decompression bomb. Each such file must become one line in
the output rather than a traceback, while the other files go on; one function decides which
errors mean "this file is unusable" so that both commands say the same thing about it.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from agent.errors import UNREADABLE_IMAGE

__all__ = ["ImageFileError", "open_rgb"]


class ImageFileError(Exception):
    """A file that cannot be used as an image; the message says why, for the user."""


def open_rgb(path: Path) -> Image.Image:
    """The fully decoded image at `path` in RGB mode, or ImageFileError with the reason."""
    try:
        with Image.open(path) as opened:
            opened.load()  # decode now: a truncated file fails here, not later in a selector
            return opened.convert("RGB")
    except FileNotFoundError:
        raise ImageFileError("no such file") from None
    except UNREADABLE_IMAGE as exc:
        raise ImageFileError(f"not a readable image ({exc})") from None
