"""Screen capture on Wayland, one output at a time, through the compositor's own layout.

    capture = OutputCapture(CaptureConfig(monitor=1), session, grim_shot)    # wlroots
    capture = OutputCapture(CaptureConfig(monitor=1), session, frames.shot)  # GNOME, portal
    shot = capture.grab()        # shot.image in device pixels, shot.monitor in layout pixels

Monitors are the session's outputs in the compositor's layout (logical pixels), numbered from
1 top to bottom, left to right, so a scaled output gives a screenshot larger than its monitor
and `Screenshot.scale` maps the model's points back, as for a HiDPI X11 screen. The picture of
an output comes from a shooter: grim on wlroots (the screencopy protocol; 38 ms for 1080p as
PPM on sway 1.7), the output's PipeWire screen cast on GNOME and through the portal
(`ScreenCastFrames`).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Protocol

from PIL import Image, UnidentifiedImageError

from agent.capture import CaptureConfig, Screenshot, choose_monitor
from agent.coords import Monitor
from agent.errors import CaptureError
from agent.wayland.pipewire import PipeWireFrames
from agent.wayland.wlroots import Output

__all__ = ["GRIM_SECONDS", "OutputCapture", "ScreenCastFrames", "grim_shot"]

GRIM_SECONDS = 10.0  # bounds a compositor that never answers; a grab takes tens of ms
Shooter = Callable[[Output | None, Monitor], Image.Image]  # (its output, the monitor) → RGB


class LayoutSession(Protocol):
    """What the capture asks of a session: the outputs, and where the pointer is."""

    def outputs(self) -> list[Output]: ...

    def position(self) -> tuple[float, float]: ...


class OutputCapture:
    """Grabs the configured output; the session gives the layout and the pointer."""

    def __init__(
        self, config: CaptureConfig, session: Callable[[], LayoutSession], shoot: Shooter
    ) -> None:
        """`session`: returns the run's session (opened on first use, shared with input);
        `shoot`: the picture of one output."""
        self.config = config
        self._session = session
        self._shoot = shoot
        self._outputs: dict[int, Output] = {}

    def monitors(self) -> tuple[Monitor, ...]:
        """The outputs as monitors, numbered from 1 top to bottom, left to right."""
        if self.config.layout is not None:
            return self.config.layout
        outputs = self._session().outputs()
        self._outputs = dict(enumerate(outputs, start=1))
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
        image = self._shoot(self._outputs.get(monitor.index), monitor)
        return Screenshot(image, monitor, time.perf_counter() - start)

    def close(self) -> None:
        """Nothing of its own to close: the session and the shooter belong to the route."""


def grim_shot(output: Output | None, monitor: Monitor) -> Image.Image:
    """One output (or, for an injected layout, a region in layout pixels) with grim."""
    grim = shutil.which("grim")
    if grim is None:
        raise CaptureError("grim is not installed (Debian and Ubuntu: apt install grim)")
    region = f"{monitor.left},{monitor.top} {monitor.width}x{monitor.height}"
    where = ["-o", output.name] if output is not None else ["-g", region]
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
        return Image.open(io.BytesIO(done.stdout)).convert("RGB")
    except (UnidentifiedImageError, OSError) as error:
        raise CaptureError(f"grim's picture of monitor {monitor.index}: {error}") from error


class ScreenCastFrames:
    """The shooter of a screen-cast route (GNOME, the portal): each output's PipeWire stream,
    started at its first grab and kept for the run."""

    def __init__(
        self, node: Callable[[str], int], remote: Callable[[], int | None] = lambda: None
    ) -> None:
        """`node`: the PipeWire node of an output's cast (`pipewire_node` of the session);
        `remote`: a new PipeWire remote fd for a stream (a portal's), None: the session's."""
        self._node = node
        self._remote = remote
        self._frames: dict[str, PipeWireFrames] = {}
        self._lock = threading.Lock()

    def shot(self, output: Output | None, monitor: Monitor) -> Image.Image:
        if output is None:
            raise CaptureError("a screen cast records whole monitors, not a given layout")
        with self._lock:
            frames = self._frames.get(output.name)
            if frames is None:
                node = self._node(output.name)
                frames = self._frames[output.name] = PipeWireFrames(node, self._remote())
        try:
            return frames.grab()
        except CaptureError:
            with self._lock:  # an ended stream is started afresh at the next grab
                if self._frames.get(output.name) is frames:
                    del self._frames[output.name]
            frames.close()
            raise

    def close(self) -> None:
        with self._lock:
            for frames in self._frames.values():
                frames.close()
            self._frames.clear()
