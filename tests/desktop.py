"""Real windows on the test display, for end-to-end tests that click and type into them.

    require_display()
    with open_button_window((1920, 0, 1280, 800), tmp_path) as window:
        x, y = window.centre("Alpha")                  # global screen pixels
        ...click there...
        window.wait_for(lambda e: e["type"] == "clicked" and e["target"] == "Alpha")
    with open_xterm_recorder((0, 0, 640, 400), tmp_path) as term:
        term.click_to_focus()                          # as a user would, then type
        term.wait_for_bytes(b"hi\\r")

Both helpers return only once the window is mapped, viewable and exactly at the requested place
on the X server (the window itself and, under a window manager, its frame: the test windows are
undecorated), so a click right after lands. tools/test.sh runs the openbox window manager with
click-to-focus, as on a real desktop: a test clicks a window before typing into it and waits
until the click really moved the keyboard focus (`wait_for_focus`), since the window manager
sets it asynchronously. Without a window manager the helpers still work: the keyboard focus then
follows the pointer (PointerRoot), which each helper restores on entry.
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

from tools.processes import stop_processes
from tools.xvfb import qt_on_x11

__all__ = [
    "ButtonWindow",
    "Rect",
    "XtermRecorder",
    "open_button_window",
    "open_xterm_recorder",
    "read_events",
    "require_display",
    "wait_for_events",
    "wait_for_focus",
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
        return read_events(self.out / "events.jsonl")

    def wait_for(
        self, match: Callable[[dict], bool], count: int = 1, timeout: float = WAIT_SECONDS
    ) -> list[dict]:
        """The matching events once there are `count`; fails the test with all events if not."""
        return wait_for_events(self.events, match, count, timeout)


@dataclass
class XtermRecorder:
    """A running xterm whose tty bytes go to a file; window_id is its top-level client window."""

    rect: Rect
    window_id: int
    out: Path

    @property
    def centre(self) -> tuple[int, int]:
        return self.rect.centre

    def click_to_focus(self) -> None:
        """Left-clicks the middle of the terminal (xdotool) and waits until it has the keyboard
        focus. A plain click sends no bytes: xterm only starts an (empty) selection."""
        command = ["xdotool", "mousemove", *map(str, self.centre), "click", "1"]
        subprocess.run(command, check=True, timeout=10)
        wait_for_focus(self.window_id)

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


def read_events(path: Path) -> list[dict]:
    """The JSON lines a test window has logged so far (none before its first)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")
    return [json.loads(line) for line in lines[:-1]]  # the last piece may be half written


def wait_for_events(
    events: Callable[[], list[dict]],
    match: Callable[[dict], bool],
    count: int = 1,
    timeout: float = WAIT_SECONDS,
) -> list[dict]:
    """The matching events once there are `count`; fails the test with all events if not."""
    deadline = time.monotonic() + timeout
    while True:
        found = [event for event in events() if match(event)]
        if len(found) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    if len(found) < count:
        seen = "\n".join(json.dumps(event) for event in events()) or "(none)"
        pytest.fail(f"{len(found)} of {count} expected events in {timeout}s; all:\n{seen}")
    return found


@contextmanager
def open_button_window(rect: RectLike, tmpdir: Path) -> Iterator[ButtonWindow]:
    """Starts the button window at rect and yields it once it is on screen; ends it after."""
    require_display()
    rect = Rect(*rect) if isinstance(rect, tuple) else rect
    out = Path(tmpdir) / f"buttons-{uuid.uuid4().hex[:8]}"
    out.mkdir(parents=True)
    geometry = f"{rect.x},{rect.y},{rect.width},{rect.height}"
    command = [sys.executable, "-m", "tests.apps.button_window", "--geometry", geometry]
    with _child(
        [*command, "--out", str(out)], out / "stderr.txt", qt_on_x11(dict(os.environ))
    ) as process:
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
        *("-bg", "white", "-fg", "black", "+sb", "-u8", "-e"),
        *(sys.executable, "-m", "tests.apps.key_recorder", str(out)),
    ]
    with _child(command, folder / "stderr.txt", dict(os.environ)) as process:
        _wait_for_file(Path(f"{out}.ready"), process, "the xterm key recorder")
        window_id = int(Path(f"{out}.ready").read_text().split()[0])
        with _XServer() as server:
            server.reset_focus()
            window_id = server.client(window_id)
            server.place(window_id, rect)
            server.wait_on_screen(window_id, rect, process, "the xterm key recorder")
        yield XtermRecorder(rect=rect, window_id=window_id, out=out)


def wait_for_focus(window_id: int, timeout: float = WAIT_SECONDS) -> None:
    """Waits until keys typed now go to the window (the X focus is on it or inside it, or the
    focus follows the pointer and the pointer is in it); fails the test if that never happens.
    A window manager sets the focus only once it has handled the click that asks for it."""
    with _XServer() as server:
        deadline = time.monotonic() + timeout
        while not server.has_focus(window_id):
            if time.monotonic() > deadline:
                pytest.fail(f"window {window_id:#x} did not get the keyboard focus in {timeout}s")
            time.sleep(0.02)


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
        stop_processes([popen], timeout=5)


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
        from Xlib import X, Xatom, Xutil
        from Xlib.display import Display
        from Xlib.error import XError

        self.X, self.Xatom, self.Xutil, self.XError = X, Xatom, Xutil, XError
        self.display = Display()
        self.root = self.display.screen().root
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.display.close()

    def window_manager(self) -> bool:
        """Whether an EWMH window manager runs (its check window names itself, as the spec says)."""
        check = self.display.intern_atom("_NET_SUPPORTING_WM_CHECK")
        prop = self.root.get_full_property(check, self.X.AnyPropertyType)
        if prop is None or not len(prop.value):
            return False
        window = self.display.create_resource_object("window", int(prop.value[0]))
        try:
            own = window.get_full_property(check, self.X.AnyPropertyType)
        except self.XError:  # a stale id left by a window manager that has gone
            return False
        return own is not None and len(own.value) > 0 and int(own.value[0]) == window.id

    def reset_focus(self) -> None:
        """Without a window manager: focus follows the pointer again, as after Xvfb starts (a
        window that set the focus to itself and closed leaves it on the root). With one, the
        focus is its business: tests click a window to focus it, as a user would."""
        if self.window_manager():
            return
        self.display.set_input_focus(self.X.PointerRoot, self.X.RevertToPointerRoot, 0)
        self.display.sync()

    def top_level(self, window_id: int) -> int:
        """The child of the root that holds window_id: the window manager's frame, if there is
        one, else the application's own top-level window."""
        window = self.display.create_resource_object("window", window_id)
        while (parent := window.query_tree().parent).id != self.root.id:
            window = parent
        return window.id

    def client(self, window_id: int) -> int:
        """The application's top-level window that holds window_id (xterm reports its inner
        vt100 window): the one a window manager marked with WM_STATE (waiting for the mark,
        which comes when the window is managed), or without one the child of the root."""
        wm_state = self.display.intern_atom("WM_STATE")
        managed = self.window_manager()
        deadline = time.monotonic() + START_SECONDS
        while True:
            window = self.display.create_resource_object("window", window_id)
            while True:
                if managed and window.get_full_property(wm_state, self.X.AnyPropertyType):
                    return window.id
                parent = window.query_tree().parent
                if parent.id == self.root.id:
                    break
                window = parent
            if not managed or time.monotonic() > deadline:
                return window.id  # wait_on_screen then says what is wrong
            time.sleep(0.02)

    def place(self, window_id: int, rect: Rect) -> None:
        """Moves and resizes a top-level client window to exactly rect. It asks any window
        manager for no decorations (_MOTIF_WM_HINTS) and drops the size increments, base and
        minimum from WM_NORMAL_HINTS (xterm asks for whole character cells, which a window
        manager would enforce); without a window manager X just does it."""
        window = self.display.create_resource_object("window", window_id)
        motif = self.display.intern_atom("_MOTIF_WM_HINTS")
        window.change_property(motif, motif, 32, [2, 0, 0, 0, 0])  # decorations: none
        size_hints = self.Xatom.WM_NORMAL_HINTS
        hints = window.get_full_property(size_hints, self.X.AnyPropertyType)
        if hints is not None and len(hints.value) >= 18:  # python-xlib cannot parse it on 3.11
            values = [int(v) for v in hints.value]
            values[0] &= ~(self.Xutil.PMinSize | self.Xutil.PResizeInc | self.Xutil.PBaseSize)
            window.change_property(size_hints, self.Xatom.WM_SIZE_HINTS, 32, values)
        window.configure(x=rect.x, y=rect.y, width=rect.width, height=rect.height, border_width=0)
        self.display.sync()

    def wait_on_screen(self, window_id: int, rect: Rect, process: _Process, what: str) -> None:
        """Waits until the window is viewable, its inside is exactly rect and so is the whole
        top-level window around it (a window manager's frame adds no decorations or border)."""
        window = self.display.create_resource_object("window", window_id)
        deadline = time.monotonic() + START_SECONDS
        while True:
            viewable = window.get_attributes().map_state == self.X.IsViewable
            geometry = window.get_geometry()
            origin = window.translate_coords(self.root, 0, 0)  # the root's origin, seen from it
            seen = Rect(-origin.x, -origin.y, geometry.width, geometry.height)
            outer = self.display.create_resource_object("window", self.top_level(window_id))
            box = outer.get_geometry()  # x, y: the outer corner; width, height: the inside
            border = 2 * box.border_width
            frame = Rect(box.x, box.y, box.width + border, box.height + border)
            if viewable and seen == rect and frame == rect:
                return
            if process.popen.poll() is not None or time.monotonic() > deadline:
                problem = (
                    f"is not on screen at {rect} (viewable: {bool(viewable)}, at {seen}, "
                    f"top-level window at {frame})"
                )
                process.failure(what, problem)
            time.sleep(0.02)

    def has_focus(self, window_id: int) -> bool:
        """Whether keys typed now go to window_id or a window inside it."""
        focus = self.display.get_input_focus().focus
        focus_id = focus if isinstance(focus, int) else focus.id
        if focus_id == self.X.PointerRoot:  # keys go to the top-level window under the pointer
            child = self.root.query_pointer().child
            child_id = child if isinstance(child, int) else child.id
            return child_id == self.top_level(window_id)
        if focus_id in (self.X.NONE, self.root.id):
            return False
        window = self.display.create_resource_object("window", focus_id)
        while window.id != window_id:
            parent = window.query_tree().parent
            if not parent or parent.id in (0, self.root.id):
                return False
            window = parent
        return True
