"""Real windows on the test display, for end-to-end tests that click and type into them.

    require_display()
    with open_button_window((1920, 0, 1280, 800), tmp_path) as window:
        x, y = window.centre("Alpha")                  # global screen pixels
        ...click there...
        window.wait_for(lambda e: e["type"] == "clicked" and e["target"] == "Alpha")
    with open_xterm_recorder((0, 0, 640, 400), tmp_path) as term:
        ...move the pointer into term.rect, type...
        term.wait_for_bytes(b"hi\\r")

Both helpers return only once the window is mapped, viewable and at the requested place on the
X server, so a click right after lands. tools/test.sh runs no window manager: windows sit
exactly where asked and the keyboard focus follows the pointer (PointerRoot), which each
helper restores on entry in case an earlier program took the focus.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = [
    "ButtonWindow",
    "Rect",
    "XtermRecorder",
    "open_button_window",
    "open_xterm_recorder",
    "require_display",
]

ROOT = Path(__file__).resolve().parents[1]
START_SECONDS = 15.0  # Qt and xterm start in well under a second; this only bounds a hang
WAIT_SECONDS = 3.0  # for events after an input


@dataclass(frozen=True)
class Rect:
    """A screen rectangle in X pixels."""

    x: int
    y: int
    width: int
    height: int

    @property
    def centre(self) -> tuple[int, int]:
        return self.x + self.width // 2, self.y + self.height // 2

    def contains(self, x: int, y: int) -> bool:
        return self.x <= x < self.x + self.width and self.y <= y < self.y + self.height


RectLike = Rect | tuple[int, int, int, int]


def require_display() -> None:
    """Fails (never skips) a test that needs X when DISPLAY is unset."""
    if not os.environ.get("DISPLAY"):
        pytest.fail("DISPLAY is not set: run the tests through tools/test.sh")


@dataclass
class ButtonWindow:
    """A running tests.apps.button_window; `layout` maps widget names to screen rectangles."""

    rect: Rect
    layout: dict[str, Rect]
    window_id: int
    out: Path
    exit_status: int | None = None  # set when the block ends without an error (0: clean exit)

    @property
    def buttons(self) -> list[str]:
        """The button names, row by row (the layout also holds "text" and "status")."""
        return [name for name in self.layout if name not in ("text", "status")]

    def centre(self, name: str) -> tuple[int, int]:
        """The screen pixel at the middle of the named widget."""
        return self.layout[name].centre

    def events(self) -> list[dict]:
        """Every event logged so far (see tests.apps.button_window.EventLog for the shapes)."""
        path = self.out / "events.jsonl"
        if not path.exists():
            return []
        lines = path.read_text(encoding="utf-8").split("\n")
        return [json.loads(line) for line in lines[:-1]]  # the last piece may be half written

    def wait_for(
        self, match: Callable[[dict], bool], count: int = 1, timeout: float = WAIT_SECONDS
    ) -> list[dict]:
        """The matching events once there are `count`; fails the test with all events if not."""
        deadline = time.monotonic() + timeout
        while True:
            found = [event for event in self.events() if match(event)]
            if len(found) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        if len(found) < count:
            seen = "\n".join(json.dumps(event) for event in self.events()) or "(none)"
            pytest.fail(f"{len(found)} of {count} expected events in {timeout}s; all:\n{seen}")
        return found


@dataclass
class XtermRecorder:
    """A running xterm whose tty bytes go to a file."""

    rect: Rect
    window_id: int
    out: Path

    @property
    def centre(self) -> tuple[int, int]:
        return self.rect.centre

    def received(self) -> bytes:
        """Every byte the terminal sent so far."""
        return self.out.read_bytes() if self.out.exists() else b""

    def wait_for_bytes(self, expected: bytes, timeout: float = WAIT_SECONDS) -> bytes:
        """All bytes received once `expected` is among them; fails the test if it never is."""
        deadline = time.monotonic() + timeout
        while expected not in (data := self.received()):
            if time.monotonic() > deadline:
                pytest.fail(f"xterm did not send {expected!r} within {timeout}s; got {data!r}")
            time.sleep(0.02)
        return data


@contextmanager
def open_button_window(rect: RectLike, tmpdir: Path) -> Iterator[ButtonWindow]:
    """Starts the button window at rect and yields it once it is on screen; ends it after."""
    require_display()
    rect = Rect(*rect) if isinstance(rect, tuple) else rect
    out = Path(tmpdir) / f"buttons-{uuid.uuid4().hex[:8]}"
    out.mkdir(parents=True)
    geometry = f"{rect.x},{rect.y},{rect.width},{rect.height}"
    command = [sys.executable, "-m", "tests.apps.button_window", "--geometry", geometry]
    with _child([*command, "--out", str(out)], out / "stderr.txt", _qt_env()) as process:
        _wait_for_file(out / "ready", process, "the button window")
        layout = json.loads((out / "layout.json").read_text())
        window = ButtonWindow(
            rect=Rect(*layout["window"]),
            layout={name: Rect(*r) for name, r in layout["widgets"].items()},
            window_id=layout["window_id"],
            out=out,
        )
        if window.rect != rect:
            pytest.fail(f"button window asked for {rect}, Qt put it at {window.rect}")
        with _XServer() as server:
            server.reset_focus()
            server.wait_on_screen(window.window_id, rect, process, "the button window")
        yield window
    window.exit_status = process.popen.returncode


@contextmanager
def open_xterm_recorder(rect: RectLike, tmpdir: Path) -> Iterator[XtermRecorder]:
    """Starts xterm running tests.apps.key_recorder, sized to rect; ends it after."""
    require_display()
    if shutil.which("xterm") is None:
        pytest.fail("xterm is not installed; run tools/install.sh")
    rect = Rect(*rect) if isinstance(rect, tuple) else rect
    folder = Path(tmpdir) / f"xterm-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    out = folder / "received.bin"
    command = [
        "xterm",
        *("-geometry", f"80x24+{rect.x}+{rect.y}", "-T", f"key recorder {folder.name}"),
        *("-bg", "white", "-fg", "black", "+sb", "-e"),
        *(sys.executable, "-m", "tests.apps.key_recorder", str(out)),
    ]
    with _child(command, folder / "stderr.txt", dict(os.environ)) as process:
        _wait_for_file(Path(f"{out}.ready"), process, "the xterm key recorder")
        window_id = int(Path(f"{out}.ready").read_text().split()[0])
        with _XServer() as server:
            server.reset_focus()
            window_id = server.top_level(window_id)
            server.place(window_id, rect)
            server.wait_on_screen(window_id, rect, process, "the xterm key recorder")
        yield XtermRecorder(rect=rect, window_id=window_id, out=out)


def _qt_env() -> dict[str, str]:
    """The test env, with Qt pinned to X11 at scale 1 so logical pixels are X pixels."""
    env = dict(os.environ)
    for name in ("QT_SCALE_FACTOR", "QT_SCREEN_SCALE_FACTORS", "QT_AUTO_SCREEN_SCALE_FACTOR"):
        env.pop(name, None)
    env.update(QT_QPA_PLATFORM="xcb", QT_ENABLE_HIGHDPI_SCALING="0")
    return env


@contextmanager
def _child(command: list[str], stderr_path: Path, env: dict[str, str]) -> Iterator[_Process]:
    """Runs command from the repository root; SIGTERM (then SIGKILL) when the block ends."""
    with stderr_path.open("wb") as stderr:
        popen = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr
        )
    process = _Process(popen, stderr_path)
    try:
        yield process
    finally:
        popen.terminate()
        try:
            popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


@dataclass
class _Process:
    popen: subprocess.Popen
    stderr: Path

    def failure(self, what: str, problem: str) -> None:
        """Fails the test with the child's own output, which usually says what went wrong."""
        status = self.popen.poll()
        state = "still running" if status is None else f"exited with status {status}"
        output = self.stderr.read_text(errors="replace").strip() or "(no output)"
        pytest.fail(f"{what} {problem} ({state}); its output:\n{output}")


def _wait_for_file(path: Path, process: _Process, what: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not path.exists():
        if process.popen.poll() is not None:
            process.failure(what, "ended before it was ready")
        if time.monotonic() > deadline:
            process.failure(what, f"was not ready within {START_SECONDS}s")
        time.sleep(0.02)


class _XServer:
    """A short python-xlib connection to check and arrange windows on the test display."""

    def __enter__(self) -> _XServer:
        from Xlib import X
        from Xlib.display import Display

        self.X = X
        self.display = Display()
        self.root = self.display.screen().root
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.display.close()

    def reset_focus(self) -> None:
        """Focus follows the pointer again, as after Xvfb starts (a window that set the focus
        to itself and closed leaves it on the root)."""
        self.display.set_input_focus(self.X.PointerRoot, self.X.RevertToPointerRoot, 0)
        self.display.sync()

    def top_level(self, window_id: int) -> int:
        """The child of the root that holds window_id (xterm reports its inner vt100 window)."""
        window = self.display.create_resource_object("window", window_id)
        while (parent := window.query_tree().parent).id != self.root.id:
            window = parent
        return window.id

    def place(self, window_id: int, rect: Rect) -> None:
        """Moves and resizes a top-level window; without a window manager X just does it."""
        window = self.display.create_resource_object("window", window_id)
        window.configure(x=rect.x, y=rect.y, width=rect.width, height=rect.height, border_width=0)
        self.display.sync()

    def wait_on_screen(self, window_id: int, rect: Rect, process: _Process, what: str) -> None:
        """Waits until the window is viewable and its inside is exactly rect."""
        window = self.display.create_resource_object("window", window_id)
        deadline = time.monotonic() + START_SECONDS
        while True:
            viewable = window.get_attributes().map_state == self.X.IsViewable
            geometry = window.get_geometry()
            origin = window.translate_coords(self.root, 0, 0)  # the root's origin, seen from it
            seen = Rect(-origin.x, -origin.y, geometry.width, geometry.height)
            if viewable and seen == rect:
                return
            if process.popen.poll() is not None or time.monotonic() > deadline:
                problem = f"is not on screen at {rect} (viewable: {bool(viewable)}, at {seen})"
                process.failure(what, problem)
            time.sleep(0.02)
