"""Screen casts and input through the desktop portal, for Wayland desktops that are neither
wlroots nor GNOME: KDE Plasma, and any desktop with an xdg-desktop-portal backend.

    session = PortalSession.open(drive=True)  # the portal's dialog, or a stored grant
    session.outputs()                         # [Output("portal-44", 0, 0, 1920, 1080, 1.0)]
    session.move(812.5, 400.25)               # layout coordinates (logical pixels)
    fd = session.pipewire_remote()            # where the monitors' PipeWire nodes are read

The portal asks the user once, in its own dialog, which monitors to share and whether to allow
input. A portal that can remember the grant (ScreenCast v4, RemoteDesktop v2) returns a restore
token; the token is stored (`TokenStore`) and the next run starts with no dialog. A run that
only watches (dry run) asks for a screen cast only, which every current portal remembers;
a run that drives asks for a remote-desktop session, which a RemoteDesktop v1 portal
(xdg-desktop-portal 1.16, Debian 12) asks for again on every run. Measured on
xdg-desktop-portal 1.16 with the GNOME backend: the dialog's answer comes back in the Start
response; with a stored token Start answers in ~10 ms.

Input goes as keysyms, like GNOME's (only what the layout types arrives: `typable`), and
absolute pointer positions per monitor stream, in logical pixels with fractions.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from agent.wayland.portal_bus import (
    PORTAL,
    PORTAL_PATH,
    PROPERTIES,
    PortalBus,
    PortalRefused,
)
from agent.wayland.remote_input import RemoteInput
from agent.wayland.wire import WaylandError
from agent.wayland.wlroots import Output

__all__ = [
    "DIALOG_SECONDS",
    "PORTAL",
    "REMOTE_DESKTOP",
    "SCREEN_CAST",
    "PortalRefused",
    "PortalSession",
    "TokenStore",
    "outputs_of",
    "portal_on_bus",
    "portal_versions",
]

SCREEN_CAST = "org.freedesktop.portal.ScreenCast"
REMOTE_DESKTOP = "org.freedesktop.portal.RemoteDesktop"
DIALOG_SECONDS = 300.0  # for the user to answer the portal's dialog
DBUS_START_SECONDS = 25.0  # for D-Bus to start the portal and its backend (D-Bus waits 25 s)
KEYBOARD, POINTER = 1, 2  # RemoteDesktop device types
MONITOR = 1  # ScreenCast source type
CURSOR_HIDDEN = 1  # ScreenCast cursor mode: the pointer is not drawn into the frames
PERSIST_UNTIL_REVOKED = 2  # persist_mode: the grant holds until the user revokes it
SCREEN_CAST_PERSISTS, REMOTE_DESKTOP_PERSISTS = 4, 2  # interface versions with restore tokens


class TokenStore:
    """The portal's restore tokens, one per kind of session, kept between runs.

    A token is good for one start: each start returns the next one, which replaces it."""

    def __init__(self, path: Path | None = None) -> None:
        state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
        self.path = path or state / "pixelprune-agent" / "portal-tokens.json"

    def get(self, kind: str) -> str | None:
        try:
            tokens = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        token = tokens.get(kind) if isinstance(tokens, dict) else None
        return token if isinstance(token, str) else None

    def put(self, kind: str, token: str | None) -> None:
        """Store (or, with None, forget) the token of `kind`; only its owner can read it."""
        try:
            tokens = json.loads(self.path.read_text())
        except (OSError, ValueError):
            tokens = {}
        if not isinstance(tokens, dict):
            tokens = {}
        if token is None:
            tokens.pop(kind, None)
        else:
            tokens[kind] = token
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(tokens, indent=1))
        partial.chmod(0o600)
        partial.replace(self.path)


class PortalSession(RemoteInput):
    """One portal session for the run: a screen cast of the monitors, and input when driving."""

    where = "this portal session's shared monitors"

    def __init__(self, connection: Any, *, drive: bool, tokens: TokenStore) -> None:
        """`connection`: a jeepney connection to the session bus, with fd passing on (the
        PipeWire remote comes as a file descriptor)."""
        self._portal = PortalBus(connection)
        self._lock = threading.Lock()
        self.drive = drive
        self.session = ""
        self.remembers = False
        self._position = (0.0, 0.0)
        try:
            self._start(drive, tokens)
        except BaseException:
            self._portal.router.close()  # the caller closes the connection
            raise

    def _start(self, drive: bool, tokens: TokenStore) -> None:
        """Create the session, ask for the devices and monitors, and start it: the portal's
        dialog, or the stored grant."""
        versions = portal_versions(self._portal.property)
        if SCREEN_CAST not in versions:
            raise WaylandError(
                "this desktop's portal offers no screen cast (org.freedesktop.portal.ScreenCast)"
            )
        kind = "remote-desktop" if drive else "screen-cast"
        persists = (
            versions.get(REMOTE_DESKTOP, 0) >= REMOTE_DESKTOP_PERSISTS
            if drive
            else versions[SCREEN_CAST] >= SCREEN_CAST_PERSISTS
        )
        self.remembers = persists  # whether the next run can start with no dialog
        token = tokens.get(kind) if persists else None
        interface = REMOTE_DESKTOP if drive else SCREEN_CAST
        self.session = self._portal.create_session(interface)
        try:
            try:
                self._select(drive, persists, token, versions)
            except PortalRefused:
                raise
            except WaylandError:
                if token is None:
                    raise
                tokens.put(kind, None)  # a token this portal does not take: ask afresh
                self._portal.close_session(self.session)
                self.session = self._portal.create_session(interface)
                self._select(drive, persists, None, versions)
            results = self._portal.request(
                interface, "Start", "osa{sv}", (self.session, ""),
                timeout=DIALOG_SECONDS, refused=self._refusal(),
            )  # fmt: skip
        except PortalRefused:
            tokens.put(kind, None)  # a refused grant is not restored next time
            raise
        if persists:
            tokens.put(kind, results.get("restore_token", ("s", None))[1])
        self._outputs, self._nodes = outputs_of(results)
        if drive:
            devices = results.get("devices", ("u", 0))[1]
            if devices & (KEYBOARD | POINTER) != KEYBOARD | POINTER:
                raise PortalRefused(
                    "permission refused: the desktop shared the screen but not input. Run "
                    "again and turn on 'Allow remote interaction' in its dialog"
                )
            self._warm_up()

    @classmethod
    def open(
        cls, address: str | None = None, *, drive: bool = True, tokens: TokenStore | None = None
    ) -> PortalSession:
        """A session through this desktop's portal (DBUS_SESSION_BUS_ADDRESS)."""
        from jeepney.io.threading import open_dbus_connection

        try:
            connection = open_dbus_connection(bus=address or "SESSION", enable_fds=True)
        except (OSError, KeyError, ValueError) as error:
            raise WaylandError(f"cannot reach this session's D-Bus: {error}") from error
        try:
            return cls(connection, drive=drive, tokens=tokens or TokenStore())
        except Exception:
            connection.close()
            raise

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(WaylandError):  # already gone with the portal
                self._portal.close_session(self.session)
            self._portal.close()

    # ---- layout and frames ------------------------------------------------------------------

    def pipewire_node(self, name: str) -> int:
        return self._nodes[name]

    def pipewire_remote(self) -> int:
        """A new file descriptor of the PipeWire remote the streams are on (the caller's)."""
        (fd,) = self._portal.call(
            PORTAL_PATH, SCREEN_CAST, "OpenPipeWireRemote", "oa{sv}", (self.session, {})
        )
        return int(fd.to_raw_fd())

    # ---- input (the interface agent.wayland.screen drives) ----------------------------------

    @property
    def watches_corners(self) -> bool:
        return False

    def corner_reached(self) -> str | None:
        """The portal tells no client where the pointer is: no corner can be watched."""
        return None

    def _motion(self, output: Output, x: float, y: float) -> None:
        self._input("NotifyPointerMotionAbsolute", "udd", (self._nodes[output.name], x, y))

    def _button(self, code: int, pressed: bool) -> None:
        self._input("NotifyPointerButton", "iu", (code, int(pressed)))

    def _axis(self, axis: int, clicks: int) -> None:
        self._input("NotifyPointerAxisDiscrete", "ui", (axis, clicks))

    def _keysym(self, keysym: int, pressed: bool) -> None:
        self._input("NotifyKeyboardKeysym", "iu", (keysym, int(pressed)))

    # ---- plumbing ---------------------------------------------------------------------------

    def _select(
        self, drive: bool, persists: bool, token: str | None, versions: dict[str, int]
    ) -> None:
        """Ask for keyboard and pointer (when driving) and every monitor; the restore token
        goes with the session's own kind (a remote-desktop session's covers its screens)."""
        keep: dict[str, tuple[str, Any]] = {}
        if persists:
            keep["persist_mode"] = ("u", PERSIST_UNTIL_REVOKED)
            if token:
                keep["restore_token"] = ("s", token)
        if drive:
            self._portal.request(
                REMOTE_DESKTOP, "SelectDevices", "oa{sv}", (self.session,),
                options={"types": ("u", KEYBOARD | POINTER)} | keep,
            )  # fmt: skip
        sources: dict[str, tuple[str, Any]] = {"types": ("u", MONITOR), "multiple": ("b", True)}
        if versions.get("cursor_modes", 0) & CURSOR_HIDDEN:
            sources["cursor_mode"] = ("u", CURSOR_HIDDEN)
        self._portal.request(
            SCREEN_CAST, "SelectSources", "oa{sv}", (self.session,),
            options=sources | ({} if drive else keep),
        )  # fmt: skip

    def _refusal(self) -> str:
        return (
            "permission refused: the desktop's screen-sharing dialog was cancelled. Run again "
            "and choose Share"
            + (" with 'Allow remote interaction' on" if self.drive else "")
            + ", or choose another route with --desktop"
        )

    def _input(self, method: str, signature: str, arguments: tuple[Any, ...]) -> None:
        with self._lock:
            self._portal.call(
                PORTAL_PATH, REMOTE_DESKTOP, method, f"oa{{sv}}{signature}",
                (self.session, {}, *arguments),
            )  # fmt: skip


def portal_versions(get: Any) -> dict[str, int]:
    """The ScreenCast and RemoteDesktop versions this portal offers (absent: not offered),
    and ScreenCast's cursor modes; `get(interface, property)` reads a property."""
    versions: dict[str, int] = {}
    for interface in (SCREEN_CAST, REMOTE_DESKTOP):
        with contextlib.suppress(WaylandError):
            versions[interface] = int(get(interface, "version"))
    if SCREEN_CAST in versions:
        with contextlib.suppress(WaylandError):
            versions["cursor_modes"] = int(get(SCREEN_CAST, "AvailableCursorModes"))
    return versions


def portal_on_bus(address: str) -> dict[str, int] | None:
    """What the desktop portal on this bus offers (`portal_versions`), starting it as D-Bus
    does for any client; None when no portal answers (not installed, or it failed to start)."""
    from jeepney import DBusAddress, DBusErrorResponse, new_method_call
    from jeepney.io.blocking import open_dbus_connection
    from jeepney.wrappers import unwrap_msg

    portal = DBusAddress(PORTAL_PATH, bus_name=PORTAL, interface=PROPERTIES)
    try:
        connection = open_dbus_connection(bus=address)
    except (OSError, KeyError, ValueError):
        return None
    with connection:

        def get(interface: str, name: str) -> Any:
            message = new_method_call(portal, "Get", "ss", (interface, name))
            try:
                reply = connection.send_and_get_reply(message, timeout=DBUS_START_SECONDS)
                return unwrap_msg(reply)[0][1]
            except DBusErrorResponse as error:
                if error.name == "org.freedesktop.DBus.Error.InvalidArgs":  # no such interface
                    raise WaylandError(str(error)) from error
                raise _NoPortal from error
            except (OSError, TimeoutError) as error:
                raise _NoPortal from error

        try:
            return portal_versions(get)
        except _NoPortal:
            return None


class _NoPortal(Exception):
    """No portal answered on the bus."""


def outputs_of(results: dict[str, Any]) -> tuple[list[Output], dict[str, int]]:
    """The shared monitors of a Start response: each stream's node, position and size (in
    the compositor's logical layout; the frames' own size gives the scale)."""
    outputs, nodes = [], {}
    for node, properties in results.get("streams", ("a(ua{sv})", []))[1]:
        x, y = properties.get("position", ("(ii)", (0, 0)))[1]
        width, height = properties.get("size", ("(ii)", (0, 0)))[1]
        if width <= 0 or height <= 0:
            raise WaylandError(f"the desktop portal shared stream {node} without its size")
        name = f"portal-{node}"
        outputs.append(Output(name, x, y, width, height, 1.0))
        nodes[name] = int(node)
    if not outputs:
        raise PortalRefused(
            "the desktop portal shared no monitor: run again and choose one in its dialog"
        )
    return outputs, nodes
