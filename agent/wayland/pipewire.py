"""Frames of a PipeWire screen cast, through one GStreamer pipeline kept running for the run.

    frames = PipeWireFrames(node=36)               # the session's PipeWire (GNOME)
    frames = PipeWireFrames(node=44, remote=fd)    # a portal's PipeWire remote
    image = frames.grab()          # a frame that arrived after the call: the screen now

`gst-launch-1.0 pipewiresrc` writes raw BGRx frames to a pipe that a thread drains, keeping
only the newest; the size is the one the stream negotiated, read from gst-launch's verbose log
(a scaled monitor's stream is larger than its logical size). A screen cast sends a frame when
the screen changes, and the source resends the last one every KEEPALIVE_MS, so a grab waits
for the first frame that arrives after it was asked for: what is on the screen now, never one
from before. Measured on
mutter 43: the first frame comes in about 0.65 s, then a new one 66–134 ms after a change.
A stream that changes size (the monitor's settings changed) ends rather than misreading frames.
"""

from __future__ import annotations

import atexit
import os
import re
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
SINK_CAPS = re.compile(  # the sink's negotiated caps in gst-launch -v's log
    r"GstFdSink:.*caps = video/x-raw.*width=\(int\)(?P<width>\d+), height=\(int\)(?P<height>\d+)"
)
FRAME_SECONDS = 2.0  # for a frame after the first (the keepalive sends one every 0.1 s)


class PipeWireFrames:
    """The newest frame of one PipeWire video node, as RGB images of the stream's own size."""

    def __init__(self, node: int, remote: int | None = None) -> None:
        """`remote`: a PipeWire remote's file descriptor (a portal's; taken over and closed
        here), or None for the session's own PipeWire (Mutter's casts are there)."""
        gst = shutil.which("gst-launch-1.0")
        if gst is None:
            raise CaptureError(
                "gst-launch-1.0 is not installed, and a Wayland screen cast is read with it: "
                "apt install gstreamer1.0-tools gstreamer1.0-pipewire"
            )
        frames, sink = os.pipe()
        source = ["pipewiresrc", f"path={node}", f"keepalive-time={KEEPALIVE_MS}"]
        source.append("always-copy=true")
        passed = [sink]
        if remote is not None:
            source.append(f"fd={remote}")
            passed.append(remote)
        try:
            self._process = subprocess.Popen(
                [gst, "-v", *source, "!", "videoconvert", "!", "video/x-raw,format=BGRx", "!",
                 "fdsink", f"fd={sink}", "sync=false"],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=passed,
            )  # fmt: skip
        finally:
            for fd in passed:
                os.close(fd)
        self._frames = os.fdopen(frames, "rb")
        self.size: tuple[int, int] | None = None  # from the negotiated caps
        self._condition = threading.Condition()
        self._latest: tuple[float, bytes] | None = None
        self._ended: str | None = None
        self._log: list[str] = []
        self._caps_done = False  # the log ended: no size will come
        self._readers = [
            threading.Thread(target=self._read_caps, name="pipewire-caps", daemon=True),
            threading.Thread(target=self._read_frames, name="pipewire-frames", daemon=True),
        ]
        for reader in self._readers:
            reader.start()
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
            if not arrived or self._latest is None or self.size is None:
                raise CaptureError(f"the screen cast sent no frame within {timeout:.0f} s")
            data = self._latest[1]
        return Image.frombytes("RGB", self.size, data, "raw", "BGRX")

    def latest(self) -> Image.Image | None:
        """The newest frame as it is, without waiting (None before the first, or once the
        stream ended)."""
        with self._condition:
            if self._ended is not None or self._latest is None or self.size is None:
                return None
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
        for reader in self._readers:
            reader.join(timeout=5)
        self._frames.close()

    def _read_caps(self) -> None:
        """gst-launch's verbose log: the sink's caps name the frame size, before any frame;
        a later change of size ends the stream (the frames would no longer line up)."""
        stream = self._process.stdout
        assert stream is not None
        for raw in stream:
            line = raw.decode(errors="replace").strip()
            self._log = [*self._log[-20:], line]
            found = SINK_CAPS.search(line)
            if found is None:
                continue
            size = (int(found["width"]), int(found["height"]))
            with self._condition:
                if self.size is None:
                    self.size = size
                elif size != self.size:
                    self._end(f"the stream changed size from {self.size} to {size}")
                self._condition.notify_all()
        with self._condition:
            self._caps_done = True
            self._condition.notify_all()

    def _read_frames(self) -> None:
        with self._condition:
            self._condition.wait_for(lambda: self.size is not None or self._caps_done)
            size = self.size
        while size is not None:
            frame_bytes = size[0] * size[1] * 4
            data = self._frames.read(frame_bytes)
            if len(data) < frame_bytes:
                break
            with self._condition:
                self._latest = (time.monotonic(), data)
                self._condition.notify_all()
        self._process.wait()
        self._readers[0].join(timeout=5)  # the caps reader: its log is complete
        with self._condition:
            self._end(
                "\n".join(line for line in self._log if "ERROR" in line or "WARN" in line)[-300:]
                or f"gst-launch-1.0 exited with status {self._process.returncode}"
            )
            self._condition.notify_all()

    def _end(self, reason: str) -> None:
        if self._ended is None:
            self._ended = reason
            if self._process.poll() is None:
                self._process.terminate()


@atexit.register
def _close_all() -> None:
    for frames in list(_RUNNING):
        frames.close()
