"""Frames of a PipeWire screen cast, through one GStreamer pipeline kept running for the run.

    frames = PipeWireFrames(node=36, size=(1920, 1080))
    image = frames.grab()          # a frame that arrived after the call: the screen now

`gst-launch-1.0 pipewiresrc` writes raw BGRx frames of the known size to a pipe that a thread
drains, keeping only the newest. A screen cast sends a frame when the screen changes, and the
source resends the last one every KEEPALIVE_MS, so a grab waits for the first frame that
arrives after it was asked for: what is on the screen now, never one from before. Measured on
mutter 43: the first frame comes in about 0.65 s, then a new one 66–134 ms after a change.
The caps name the size and format, so a stream of another size fails instead of being scaled.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import threading
import time
import weakref

from PIL import Image

from agent.errors import CaptureError

__all__ = ["FIRST_FRAME_SECONDS", "KEEPALIVE_MS", "PipeWireFrames"]

KEEPALIVE_MS = 100  # the source resends its last frame this often when nothing changes
FIRST_FRAME_SECONDS = 10.0  # bounds a stream that never starts; it takes well under 1 s
_RUNNING: weakref.WeakSet[PipeWireFrames] = weakref.WeakSet()  # closed at exit if still open
FRAME_SECONDS = 2.0  # for a frame after the first (the keepalive sends one every 0.1 s)


class PipeWireFrames:
    """The newest frame of one PipeWire video node, as RGB images of a fixed size."""

    def __init__(self, node: int, size: tuple[int, int]) -> None:
        gst = shutil.which("gst-launch-1.0")
        if gst is None:
            raise CaptureError(
                "gst-launch-1.0 is not installed, and GNOME's screen cast is read with it: "
                "apt install gstreamer1.0-tools gstreamer1.0-pipewire"
            )
        width, height = size
        self.size = size
        self._frame_bytes = width * height * 4
        caps = f"video/x-raw,format=BGRx,width={width},height={height}"
        self._process = subprocess.Popen(
            [gst, "-q", "pipewiresrc", f"path={node}", f"keepalive-time={KEEPALIVE_MS}",
             "always-copy=true", "!", "videoconvert", "!", caps, "!", "fdsink", "fd=1",
             "sync=false"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        self._condition = threading.Condition()
        self._latest: tuple[float, bytes] | None = None
        self._ended: str | None = None
        self._reader = threading.Thread(target=self._read, name="pipewire-frames", daemon=True)
        self._reader.start()
        _RUNNING.add(self)

    def grab(self) -> Image.Image:
        """The first frame that arrives after this call (the screen as it is now)."""
        asked = time.monotonic()
        timeout = FRAME_SECONDS if self._latest is not None else FIRST_FRAME_SECONDS
        with self._condition:
            arrived = self._condition.wait_for(
                lambda: (
                    self._ended is not None
                    or (self._latest is not None and self._latest[0] > asked)
                ),
                timeout=timeout,
            )
            if self._ended is not None:
                raise CaptureError(f"the screen cast ended: {self._ended}")
            if not arrived or self._latest is None:
                raise CaptureError(f"the screen cast sent no frame within {timeout:.0f} s")
            data = self._latest[1]
        return Image.frombytes("RGB", self.size, data, "raw", "BGRX")

    def close(self) -> None:
        """End the pipeline (also done at exit for any left open: an orphaned gst-launch would
        otherwise wait on PipeWire for ever)."""
        _RUNNING.discard(self)
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._reader.join(timeout=5)

    def _read(self) -> None:
        stream = self._process.stdout
        assert stream is not None
        while True:
            data = stream.read(self._frame_bytes)
            if len(data) < self._frame_bytes:
                break
            with self._condition:
                self._latest = (time.monotonic(), data)
                self._condition.notify_all()
        self._process.wait()
        error = b"" if self._process.stderr is None else self._process.stderr.read()
        with self._condition:
            self._ended = error.decode(errors="replace").strip()[-300:] or (
                f"gst-launch-1.0 exited with status {self._process.returncode}"
            )
            self._condition.notify_all()


@atexit.register
def _close_all() -> None:
    for frames in list(_RUNNING):
        frames.close()
