"""Pointer, keyboard and output layout on a wlroots compositor (sway, Hyprland, river, labwc, ...).

    session = WlrootsSession.open()          # this session's compositor
    session.outputs()                        # [Output("HEADLESS-1", 0, 0, 1920, 1080, 1.0), ...]
    session.move(812.5, 400.25)              # layout coordinates (logical pixels)
    session.button("left", pressed=True)
    session.key("é", pressed=True)          # any character, as a key of its own keymap

Input goes through the compositor's virtual pointer (zwlr_virtual_pointer_v1) and a virtual
keyboard (zwp_virtual_keyboard_v1) with a keymap of its own (agent.wayland.keymap), so any
Unicode text is typed as keys. Positions are absolute over the whole output layout, with
sub-pixel precision, so a point on a scaled output lands on its exact device pixel. Measured on
sway 1.7: the first event after the pointer is created is lost, so it is warmed up once; the
session keeps one connection for the whole run.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass

from agent.errors import ActionError
from agent.wayland.corners import LAYER_SHELL, Corners
from agent.wayland.keymap import Keymap, keysym_of
from agent.wayland.wire import Connection, Global, Proxy, WaylandError

__all__ = ["BUTTONS", "Output", "WlrootsSession", "missing_globals"]

BUTTONS = {"left": 0x110, "right": 0x111, "middle": 0x112}  # linux/input-event-codes.h
POINTER, KEYBOARD = "zwlr_virtual_pointer_manager_v1", "zwp_virtual_keyboard_manager_v1"
NEEDED = ("wl_seat", "wl_output", "zxdg_output_manager_v1", POINTER, KEYBOARD)
CORNER_GLOBALS = ("wl_compositor", "wl_shm", LAYER_SHELL)  # for FAILSAFE (agent.wayland.corners)
EXTENT = 1 << 20  # absolute motion's resolution over the layout: far finer than a pixel
XKB_V1 = 1  # wl_keyboard.keymap_format
WHEEL, VERTICAL, HORIZONTAL = 0, 0, 1
SCROLL_STEP = 15.0  # axis units per wheel click, as libinput reports a mouse wheel


@dataclass(frozen=True)
class Output:
    """One output in the compositor's layout: logical position and size, and its scale
    (device pixels per logical pixel, fractional scales included)."""

    name: str
    x: int
    y: int
    width: int  # logical pixels
    height: int
    scale: float  # device width / logical width


def missing_globals(offered: dict[str, Global]) -> list[str]:
    """The protocols this route needs that the compositor does not offer."""
    return [name for name in NEEDED if name not in offered]


class WlrootsSession:
    """One connection for the run: outputs, a virtual pointer and a virtual keyboard."""

    def __init__(self, connection: Connection, *, watch_corners: bool = True) -> None:
        """`watch_corners`: put FAILSAFE's corner surfaces up (agent.wayland.corners); a
        session that only plays a device (a test's "user") leaves them to the agent's."""
        self._connection = connection
        self._lock = threading.Lock()
        offered = connection.registry()
        if missing := missing_globals(offered):
            connection.close()
            raise WaylandError(
                "this compositor does not offer "
                + ", ".join(missing)
                + ": the wlroots route needs the virtual pointer and keyboard protocols "
                "(sway, Hyprland, river, labwc and other wlroots compositors offer them)"
            )
        self._seat = connection.bind(offered["wl_seat"], "wl_seat", 1)
        manager = connection.bind(offered["zxdg_output_manager_v1"], "zxdg_output_manager_v1", 3)
        self._outputs: list[_OutputState] = []
        outputs = [
            connection.bind(found, "wl_output", 4)
            for found in connection.globals
            if found.interface == "wl_output"
        ]
        for output in outputs:
            self._watch_output(output, manager)
        pointers = connection.bind(offered[POINTER], POINTER, 1)
        keyboards = connection.bind(offered[KEYBOARD], KEYBOARD, 1)
        self._pointer = pointers.create("create_virtual_pointer", None)
        self._keyboard = keyboards.create("create_virtual_keyboard", self._seat)
        self._keymap = Keymap()
        self._held = 0  # real modifiers held now
        self._position = (0.0, 0.0)
        connection.roundtrip()  # the seat has a pointer now: the corners can watch it
        self._corners = (
            Corners(connection, offered, self._seat, outputs)
            if watch_corners and all(name in offered for name in CORNER_GLOBALS)
            else None
        )
        connection.roundtrip()
        self._warm_up()

    @classmethod
    def open(cls, display: str | None = None, *, watch_corners: bool = True) -> WlrootsSession:
        return cls(Connection.open(display), watch_corners=watch_corners)

    def close(self) -> None:
        """Close the connection once the compositor has handled every request sent: input
        sent just before a disconnect is otherwise lost (seen on sway 1.7)."""
        with self._lock:
            with contextlib.suppress(WaylandError):  # gone: nothing is left to wait for
                self._connection.roundtrip()
            self._connection.close()

    # ---- layout ----------------------------------------------------------------------------

    def outputs(self) -> list[Output]:
        """The outputs as the compositor lays them out now, top to bottom, left to right."""
        with self._lock:
            self._connection.roundtrip()  # a change since the last call is read first
            found = [o.output() for o in self._outputs]
        return sorted((o for o in found if o is not None), key=lambda o: (o.y, o.x))

    def _watch_output(self, output: Proxy, manager: Proxy) -> None:
        state = _OutputState()
        self._outputs.append(state)
        output.on("mode", state.mode)
        output.on("geometry", state.geometry)
        output.on("name", state.named)
        xdg = manager.create("get_xdg_output", output)
        xdg.on("logical_position", state.position)
        xdg.on("logical_size", state.size)
        xdg.on("name", state.named)

    # ---- pointer ---------------------------------------------------------------------------

    def move(self, x: float, y: float) -> None:
        """Put the pointer at layout point (x, y), in logical pixels (fractions kept)."""
        with self._lock:
            self._move(x, y)
            self._connection.flush()

    def button(self, name: str, *, pressed: bool) -> None:
        """Press or release a mouse button where the pointer is."""
        with self._lock:
            self._pointer.request("button", _now(), BUTTONS[name], int(pressed))
            self._pointer.request("frame")
            self._connection.flush()

    def scroll(self, clicks: int, *, horizontal: bool = False) -> None:
        """Turn the wheel `clicks` notches: positive is down (or right), as Wayland counts."""
        with self._lock:
            axis = HORIZONTAL if horizontal else VERTICAL
            self._pointer.request("axis_source", WHEEL)
            self._pointer.request("axis_discrete", _now(), axis, clicks * SCROLL_STEP, clicks)
            self._pointer.request("frame")
            self._connection.flush()

    @property
    def watches_corners(self) -> bool:
        """Whether the compositor lets the session watch the screen corners (layer shell)."""
        return self._corners is not None

    def corner_reached(self) -> str | None:
        """The screen corner the pointer is in, or entered since the last call; None if none
        (or none can be watched). Waits until the compositor has handled what was sent, so
        the agent's own last move counts."""
        if self._corners is None:
            return None
        with self._lock:
            self._connection.roundtrip()
            return self._corners.entered()

    def typable(self, key: str) -> bool:
        """Every key with a keysym: the session's keymap gives it a keycode."""
        try:
            keysym_of(key)
        except ActionError:
            return False
        return True

    def position(self) -> tuple[float, float]:
        """Where this session last put the pointer (the compositor tells no client more)."""
        return self._position

    def _move(self, x: float, y: float) -> None:
        left, top, width, height = self._layout_box()
        fx = min(max((x - left) / width, 0.0), 1.0)
        fy = min(max((y - top) / height, 0.0), 1.0)
        self._pointer.request(
            "motion_absolute", _now(), round(fx * EXTENT), round(fy * EXTENT), EXTENT, EXTENT
        )
        self._pointer.request("frame")
        self._position = (x, y)

    def _layout_box(self) -> tuple[float, float, float, float]:
        outputs = [o for o in (state.output() for state in self._outputs) if o is not None]
        if not outputs:
            raise WaylandError("the compositor reports no output")
        left, top = min(o.x for o in outputs), min(o.y for o in outputs)
        right = max(o.x + o.width for o in outputs)
        bottom = max(o.y + o.height for o in outputs)
        return left, top, right - left, bottom - top

    # ---- keyboard --------------------------------------------------------------------------

    def key(self, key: str, *, pressed: bool) -> None:
        """Press or release one key (a pyautogui key name or a character); a modifier stays
        held for the keys that follow until it is released."""
        with self._lock:
            (code,) = self._codes([key])
            mask = self._keymap.modifier_mask(key)
            self._keyboard.request("key", _now(), code, int(pressed))
            if mask:
                self._held = self._held | mask if pressed else self._held & ~mask
                self._keyboard.request("modifiers", self._held, 0, 0, 0)
            self._connection.flush()

    def _codes(self, keys: list[str]) -> list[int]:
        codes = self._keymap.codes(keys)
        if self._keymap.changed:
            self._upload(self._keymap.text())
        return codes

    def _upload(self, keymap: str) -> None:
        data = keymap.encode() + b"\0"
        fd = os.memfd_create("agent-keymap", os.MFD_CLOEXEC)
        try:
            os.write(fd, data)
            self._keyboard.request("keymap", XKB_V1, fd, len(data))
            self._connection.flush()  # the descriptor is sent now, so it can be closed
        finally:
            os.close(fd)

    def _warm_up(self) -> None:
        """The first event after the virtual devices appear is lost: spend it on nothing.
        The pointer ends in the middle of the layout, out of every corner (a pointer left in
        one when the corners appeared does not count)."""
        with self._lock:
            left, top, width, height = self._layout_box()
            middle = (left + width / 2, top + height / 2)
            self._move(*middle)
            self._codes(["shift"])
            self._connection.roundtrip()
        time.sleep(0.05)
        self.move(*middle)
        with self._lock:
            self._connection.roundtrip()
            if self._corners is not None:
                self._corners.entered()


@dataclass
class _OutputState:
    """What wl_output and xdg-output have said of one output so far."""

    name: str = ""
    x: int | None = None
    y: int = 0
    width: int = 0  # logical
    height: int = 0
    mode_width: int = 0  # device pixels, of the current mode
    mode_height: int = 0
    transposed: bool = False  # turned 90° or 270°: the mode's width is the layout's height

    def output(self) -> Output | None:
        if self.x is None or not self.width or not self.mode_width:
            return None
        device = self.mode_height if self.transposed else self.mode_width
        return Output(self.name, self.x, self.y, self.width, self.height, device / self.width)

    def mode(self, flags: int, width: int, height: int, refresh: int) -> None:
        if flags & 1:  # the current mode
            self.mode_width, self.mode_height = width, height

    def geometry(self, *arguments: object) -> None:
        transform = arguments[-1]
        self.transposed = isinstance(transform, int) and transform % 2 == 1

    def position(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def size(self, width: int, height: int) -> None:
        self.width, self.height = width, height

    def named(self, name: str) -> None:
        self.name = self.name or name


def _now() -> int:
    """Event time in milliseconds, as clients compare them (a monotonic clock)."""
    return int(time.monotonic() * 1000) & 0xFFFFFFFF
