"""Pointer, keyboard and screen casts on GNOME, through Mutter's own remote-desktop D-Bus API.

    session = MutterSession.open()          # this session's D-Bus: no permission dialog
    session.outputs()                       # [Output("Meta-0", 0, 0, 1920, 1080, 1.0), ...]
    session.move(812.5, 400.25)             # layout coordinates (logical pixels)
    node = session.pipewire_node("Meta-0")  # the monitor's screen cast, a PipeWire node

This is what gnome-remote-desktop uses: `org.gnome.Mutter.RemoteDesktop` for input and
`org.gnome.Mutter.ScreenCast` for frames, one linked pair of sessions for the run, started
once. Measured on mutter 43: a session in 8–36 ms, clicks land exactly in 2.5–9 ms, the first
event is lost without a warm-up. Keys go as keysyms through the session's keymap, so only what
that layout types arrives (Mutter drops the rest silently): `typable` says which, and the
executor pastes the rest. Positions are absolute per monitor stream, in logical pixels with
fractions. FAILSAFE watches the corners in casts of their own (agent.wayland.cursor_corners).
The D-Bus is spoken with jeepney (pure Python).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from queue import Empty, Queue
from typing import Any

from agent.wayland.cursor_corners import (
    EMBEDDED,
    HIDDEN,
    CursorCorners,
    corner_areas,
    corner_at,
)
from agent.wayland.remote_input import RemoteInput
from agent.wayland.wire import WaylandError
from agent.wayland.wlroots import Output

__all__ = ["MUTTER", "MutterClipboard", "MutterSession"]

MUTTER = "org.gnome.Mutter.RemoteDesktop"
SCREEN_CAST = "org.gnome.Mutter.ScreenCast"
DISPLAY_CONFIG = "org.gnome.Mutter.DisplayConfig"
PROPERTIES = "org.freedesktop.DBus.Properties"
CURSOR_HIDDEN = 0  # ScreenCast cursor-mode: the pointer is not drawn into the frames
STREAM_SECONDS = 10.0  # for a stream's PipeWire node; it comes in milliseconds
LOGICAL_LAYOUT, PHYSICAL_LAYOUT = 1, 2  # DisplayConfig's layout-mode


class MutterSession(RemoteInput):
    """One remote-desktop session with its linked screen cast, for the whole run."""

    where = "this GNOME session"

    def __init__(self, connection: Any, *, watch_corners: bool = True) -> None:
        """`connection`: a jeepney connection to the session bus, with fd passing on (the
        clipboard's data travels as file descriptors). `watch_corners`: record the screen
        corners for FAILSAFE (agent.wayland.cursor_corners)."""
        from jeepney.io.threading import DBusRouter

        self._bus = DBusRouter(connection)  # thread-safe: the clipboard serves from a thread
        self._lock = threading.Lock()
        self._clipboard: _Clipboard | None = None
        (self._path,) = self._call(
            "/org/gnome/Mutter/RemoteDesktop", MUTTER, MUTTER, "CreateSession"
        )
        session_id = self._property(self._path, MUTTER, f"{MUTTER}.Session", "SessionId")
        options = {"remote-desktop-session-id": ("s", session_id)}
        (self._cast,) = self._call(
            "/org/gnome/Mutter/ScreenCast", SCREEN_CAST, SCREEN_CAST, "CreateSession",
            "a{sv}", (options,),
        )  # fmt: skip
        self._outputs = self._read_outputs()
        self._streams: dict[str, tuple[str, int]] = {}  # connector → (stream path, node)
        for output in self._outputs:
            self._record(output.name)
        self._nodes = self._start()
        self._position = (0.0, 0.0)
        self._warm_up()
        self._corner_cast: str | None = None
        self._corners = self._watch_corners() if watch_corners else None

    @classmethod
    def open(cls, address: str | None = None, *, watch_corners: bool = True) -> MutterSession:
        """A session on this desktop's session bus (DBUS_SESSION_BUS_ADDRESS)."""
        from jeepney.io.threading import open_dbus_connection

        try:
            connection = open_dbus_connection(bus=address or "SESSION", enable_fds=True)
        except (OSError, KeyError, ValueError) as error:
            raise WaylandError(f"cannot reach this session's D-Bus: {error}") from error
        try:
            return cls(connection, watch_corners=watch_corners)
        except Exception:
            connection.close()
            raise

    def close(self) -> None:
        with self._lock:
            if self._clipboard is not None:
                self._clipboard.close()
            if self._corners is not None:
                self._corners.close()
            if self._corner_cast is not None:
                with contextlib.suppress(WaylandError):
                    self._call(self._corner_cast, SCREEN_CAST, f"{SCREEN_CAST}.Session", "Stop")
            with contextlib.suppress(WaylandError):  # already gone with the compositor
                self._call(self._path, MUTTER, f"{MUTTER}.Session", "Stop")
            self._bus.close()
            self._bus.conn.close()

    # ---- layout and frames ------------------------------------------------------------------

    def pipewire_node(self, name: str) -> int:
        """The PipeWire node of a monitor's screen cast (on this session's PipeWire)."""
        return self._nodes[name]

    # ---- input (the interface agent.wayland.screen drives) ----------------------------------

    @property
    def watches_corners(self) -> bool:
        return self._corners is not None

    def corner_reached(self) -> str | None:
        """The screen corner the pointer is in: this session's own pointer on a corner pixel
        (known at once), or any pointer the corners' casts show there (the user's mouse)."""
        if self._corners is None:
            return None
        return corner_at(self._outputs, self._position) or self._corners.reached()

    def _motion(self, output: Output, x: float, y: float) -> None:
        stream, _ = self._streams[output.name]
        self._input("NotifyPointerMotionAbsolute", "sdd", (stream, x, y))

    def _button(self, code: int, pressed: bool) -> None:
        self._input("NotifyPointerButton", "ib", (code, pressed))

    def _axis(self, axis: int, clicks: int) -> None:
        self._input("NotifyPointerAxisDiscrete", "ui", (axis, clicks))

    def _keysym(self, keysym: int, pressed: bool) -> None:
        self._input("NotifyKeyboardKeysym", "ub", (keysym, pressed))

    # ---- the session's clipboard (text the layout cannot type is pasted) -------------------

    def clipboard_write(self, text: str) -> None:
        """Own the clipboard with `text`: Mutter asks for it when an application pastes."""
        self._clipboard_started().offer(text)

    def clipboard_read(self) -> str | None:
        """The clipboard's text (another application's, or ours), None when it holds none."""
        return self._clipboard_started().read()

    def _clipboard_started(self) -> _Clipboard:
        with self._lock:
            if self._clipboard is None:
                self._clipboard = _Clipboard(self)
            return self._clipboard

    # ---- plumbing ---------------------------------------------------------------------------

    def _input(self, method: str, signature: str, arguments: tuple[Any, ...]) -> None:
        with self._lock:
            self._call(self._path, MUTTER, f"{MUTTER}.Session", method, signature, arguments)

    def _record(self, connector: str) -> None:
        options = {"cursor-mode": ("u", CURSOR_HIDDEN)}
        (stream,) = self._call(
            self._cast, SCREEN_CAST, f"{SCREEN_CAST}.Session", "RecordMonitor", "sa{sv}",
            (connector, options),
        )  # fmt: skip
        self._streams[connector] = (stream, -1)

    def _start(self) -> dict[str, int]:
        """Start the session; each monitor stream's PipeWire node comes in a signal."""
        streams = {connector: stream for connector, (stream, _) in self._streams.items()}
        return self._nodes_of(
            streams, lambda: self._call(self._path, MUTTER, f"{MUTTER}.Session", "Start")
        )

    def _nodes_of(self, streams: dict[Any, str], start: Callable[[], object]) -> dict[Any, int]:
        """The PipeWire node of each stream, from the signals `start` sets off, listened for
        before it so none is missed."""
        from jeepney import MatchRule, message_bus

        with contextlib.ExitStack() as listening:
            queues: dict[Any, Queue[Any]] = {}
            for key, stream in streams.items():
                rule = MatchRule(
                    type="signal",
                    interface=f"{SCREEN_CAST}.Stream",
                    member="PipeWireStreamAdded",
                    path=stream,
                )
                self._bus.send_and_get_reply(message_bus.AddMatch(rule))
                queues[key] = Queue()
                listening.enter_context(self._bus.filter(rule, queue=queues[key]))
            start()
            deadline = time.monotonic() + STREAM_SECONDS
            nodes = {}
            for key, queue in queues.items():
                try:
                    message = queue.get(timeout=max(deadline - time.monotonic(), 0.1))
                except Empty as error:
                    raise WaylandError(
                        f"Mutter started no screen cast of {key} within "
                        f"{STREAM_SECONDS:.0f} s: is PipeWire running in this session?"
                    ) from error
                nodes[key] = int(message.body[0])
        return nodes

    def _watch_corners(self) -> CursorCorners:
        """FAILSAFE's corner areas, in a screen-cast session of their own (not linked to the
        remote desktop), each with and without the pointer drawn."""
        (cast,) = self._call(
            "/org/gnome/Mutter/ScreenCast", SCREEN_CAST, SCREEN_CAST, "CreateSession", "a{sv}",
            ({},),
        )  # fmt: skip
        self._corner_cast = cast
        streams: dict[Any, str] = {}
        for output in self.outputs():
            for area, _ in corner_areas(output).values():
                for mode in (HIDDEN, EMBEDDED):
                    (streams[(area, mode)],) = self._call(
                        cast, SCREEN_CAST, f"{SCREEN_CAST}.Session", "RecordArea", "iiiia{sv}",
                        (*area, {"cursor-mode": ("u", mode)}),
                    )  # fmt: skip
        nodes = self._nodes_of(
            streams, lambda: self._call(cast, SCREEN_CAST, f"{SCREEN_CAST}.Session", "Start")
        )
        return CursorCorners.open(lambda area, mode: nodes[(area, mode)], self.outputs())

    def _read_outputs(self) -> list[Output]:
        """Logical monitors from DisplayConfig, in the units the pointer moves in.

        Mutter lays monitors out in logical pixels (layout mode 1: a monitor at 200 % is half
        its mode's size) or, as GNOME does by default where it cannot scale fractionally, in
        physical pixels (mode 2: every monitor its mode's size, whatever its scale)."""
        _, monitors, logical, properties = self._call(
            "/org/gnome/Mutter/DisplayConfig", DISPLAY_CONFIG, DISPLAY_CONFIG, "GetCurrentState"
        )
        physical = properties.get("layout-mode", ("u", LOGICAL_LAYOUT))[1] == PHYSICAL_LAYOUT
        modes = {}
        for (connector, *_), monitor_modes, _ in monitors:
            for mode in monitor_modes:
                if mode[6].get("is-current", ("b", False))[1]:
                    modes[connector] = (mode[1], mode[2])
        outputs = []
        for x, y, scale, transform, _, connectors, _ in logical:
            connector = connectors[0][0]
            width, height = modes[connector]
            if transform % 2 == 1:  # turned 90° or 270°
                width, height = height, width
            units = 1.0 if physical else scale  # device pixels per layout unit
            outputs.append(
                Output(connector, x, y, round(width / units), round(height / units), units)
            )
        if not outputs:
            raise WaylandError("Mutter reports no monitor")
        return outputs

    def _property(self, path: str, bus: str, interface: str, name: str) -> Any:
        (value,) = self._call(path, bus, PROPERTIES, "Get", "ss", (interface, name))
        return value[1]

    def _call(
        self,
        path: str,
        bus: str,
        interface: str,
        method: str,
        signature: str | None = None,
        arguments: tuple[Any, ...] = (),
    ) -> tuple[Any, ...]:
        from jeepney import DBusAddress, DBusErrorResponse, new_method_call
        from jeepney.wrappers import unwrap_msg

        address = DBusAddress(path, bus_name=bus, interface=interface)
        message = new_method_call(address, method, signature, arguments)
        try:
            return tuple(unwrap_msg(self._bus.send_and_get_reply(message, timeout=STREAM_SECONDS)))
        except DBusErrorResponse as error:
            raise WaylandError(f"Mutter refused {method}: {error.name}: {error.data}") from error
        except (OSError, TimeoutError) as error:
            raise WaylandError(f"Mutter did not answer {method}: {error}") from error


TEXT_TYPES = ["text/plain;charset=utf-8", "UTF8_STRING", "text/plain"]


class MutterClipboard:
    """The executor's clipboard on GNOME (agent.clipboard.Clipboard): the session's own, which
    Mutter hands to the application that pastes."""

    def __init__(self, session: Callable[[], MutterSession]) -> None:
        self._session = session

    def read(self) -> str | None:
        return self._session().clipboard_read()

    def write(self, text: str) -> None:
        self._session().clipboard_write(text)


class _Clipboard:
    """The remote-desktop session's clipboard: offers text, serves Mutter's transfer requests
    from a thread, and reads what another application owns."""

    def __init__(self, session: MutterSession) -> None:
        from jeepney import MatchRule, message_bus

        self._session = session
        self._text: str | None = None
        self._owner = False  # whether the clipboard holds our text (no one took it since)
        session._call(session._path, MUTTER, f"{MUTTER}.Session", "EnableClipboard", "a{sv}", ({},))
        self._requests: Queue[Any] = Queue()
        self._filters = []
        for member in ("SelectionTransfer", "SelectionOwnerChanged"):
            rule = MatchRule(
                type="signal", interface=f"{MUTTER}.Session", member=member, path=session._path
            )
            session._bus.send_and_get_reply(message_bus.AddMatch(rule))
            self._filters.append(session._bus.filter(rule, queue=self._requests))
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="mutter-clipboard", daemon=True)
        self._thread.start()

    def offer(self, text: str) -> None:
        self._text, self._owner = text, True
        options = {"mime-types": ("as", TEXT_TYPES)}
        self._session._call(
            self._session._path, MUTTER, f"{MUTTER}.Session", "SetSelection", "a{sv}", (options,)
        )

    def read(self) -> str | None:
        if self._owner:  # Mutter would ask this session for it: answer here
            return self._text or None
        try:
            (fd,) = self._session._call(
                self._session._path, MUTTER, f"{MUTTER}.Session", "SelectionRead", "s",
                (TEXT_TYPES[0],),
            )  # fmt: skip
        except WaylandError:
            return None  # nothing on the clipboard, or nothing as text
        with fd.to_file("rb") as source:
            data = source.read()
        return data.decode(errors="replace") or None

    def close(self) -> None:
        self._stopping.set()
        for handle in self._filters:
            handle.close()
        self._thread.join(timeout=1.0)

    def _serve(self) -> None:
        from jeepney import HeaderFields

        while not self._stopping.is_set():
            try:
                message = self._requests.get(timeout=0.2)
            except Empty:
                continue
            if message.header.fields.get(HeaderFields.member) == "SelectionOwnerChanged":
                (options,) = message.body
                self._owner = bool(options.get("session-is-owner", ("b", False))[1])
                continue
            _, serial = message.body
            self._write(serial)

    def _write(self, serial: int) -> None:
        session = self._session
        done = False
        try:
            (fd,) = session._call(
                session._path, MUTTER, f"{MUTTER}.Session", "SelectionWrite", "u", (serial,)
            )
            with fd.to_file("wb") as target:
                target.write((self._text or "").encode())
            done = True
        except (WaylandError, OSError):
            pass  # the application gets nothing; the paste shows nothing rather than wrong text
        with contextlib.suppress(WaylandError):
            session._call(
                session._path, MUTTER, f"{MUTTER}.Session", "SelectionWriteDone", "ub",
                (serial, done),
            )  # fmt: skip
