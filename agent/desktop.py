"""Which desktop route this session takes: how the screen is captured and driven.

    route = open_desktop(None, CaptureConfig())      # detected; or "x11", "wlroots", ...
    shot = route.capture.grab()
    Executor(config, screen=route.screen)            # None: pyautogui

The routes sit behind the interfaces the loop already uses (a `Grabber` and the executor's
pyautogui-like `screen`), so nothing above them changes:

- `x11`: mss and pyautogui (X11, and Windows and macOS, where they work natively).
- `wlroots`: grim and the compositor's virtual pointer and keyboard (sway, Hyprland, river,
  labwc, ...), found by the protocols the compositor offers.
- `gnome`: Mutter's own remote-desktop and screen-cast D-Bus APIs (what gnome-remote-desktop
  uses): input as keysyms, frames over PipeWire; no permission dialog.
- `portal`: the desktop portal's ScreenCast and RemoteDesktop, for other desktops (KDE
  Plasma): the user grants it once in the portal's dialog, and a stored restore token starts
  later runs with no dialog where the portal can remember (agent.wayland.portal).

Detection reads the session: no Wayland display means X11; a Wayland compositor offering the
virtual pointer and keyboard protocols is wlroots; Mutter's remote-desktop API on the session
bus (or GNOME in XDG_CURRENT_DESKTOP) is GNOME; anything else the portal. `--desktop` (task key
`desktop`) overrides it.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar, get_args

from agent.capture import CaptureConfig, Grabber, ScreenCapture
from agent.clipboard import Clipboard
from agent.coords import Monitor
from agent.errors import AgentError, HotkeyError
from agent.hotkey import GlobalHotkey
from agent.wayland.bus import name_on_bus
from agent.wayland.capture import OutputCapture, ScreenCastFrames, grim_shot
from agent.wayland.gnome_shortcut import GnomeShortcut
from agent.wayland.mutter import MUTTER, MutterClipboard, MutterSession
from agent.wayland.portal import PortalSession
from agent.wayland.portal_shortcut import PortalShortcut
from agent.wayland.screen import WaylandScreen
from agent.wayland.sway import SwayBinding, sway_socket
from agent.wayland.wire import Connection, WaylandError
from agent.wayland.wlroots import WlrootsSession, missing_globals

__all__ = [
    "DESKTOPS",
    "X11_STOPS",
    "DesktopError",
    "DesktopName",
    "DesktopRoute",
    "Hotkey",
    "MonitorCapture",
    "detect_desktop",
    "mutter_on_bus",
    "open_desktop",
]

SessionT = TypeVar("SessionT", WlrootsSession, MutterSession, PortalSession)
DesktopName = Literal["x11", "wlroots", "gnome", "portal"]
DESKTOPS: tuple[DesktopName, ...] = get_args(DesktopName)
X11_STOPS = "FAILSAFE (mouse to a corner) and stop() still work"  # beside the kill hotkey


class DesktopError(AgentError):
    """No route drives this desktop, or the chosen one cannot start."""


class Hotkey(Protocol):
    """A global stop key while a run lasts: `GlobalHotkey` on X11, a sway binding on sway."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


HotkeyFactory = Callable[[str, Callable[[], None]], Hotkey]


class MonitorCapture(Grabber, Protocol):
    """A route's capture: it grabs, lists the monitors and says which one it will grab."""

    config: CaptureConfig

    def monitors(self) -> tuple[Monitor, ...]: ...

    def current_monitor(self) -> Monitor: ...

    def close(self) -> None: ...


@dataclass
class DesktopRoute:
    """The capture and the executor's screen of one desktop route."""

    name: DesktopName
    capture: MonitorCapture
    screen: Any = None  # the executor's screen; None: pyautogui
    hotkey: HotkeyFactory = GlobalHotkey  # (combo, callback) → a hotkey; HotkeyError if none
    other_stops: str = X11_STOPS  # the stops that remain without the kill hotkey
    clipboard: Clipboard | None = None  # what the executor pastes through; None: the system's
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Close the capture and any compositor connection the route opened."""
        for closer in self._closers:
            closer()


def detect_desktop(environ: Mapping[str, str] | None = None) -> DesktopName:
    """The route for this session, read from its environment and its compositor."""
    environ = os.environ if environ is None else environ
    if not sys.platform.startswith("linux") or not _is_wayland(environ):
        return "x11"
    try:
        connection = Connection.open(environ.get("WAYLAND_DISPLAY"))
    except WaylandError:
        return "gnome" if _is_gnome(environ) else "portal"
    try:
        offered = connection.registry()
    except WaylandError:
        offered = {}
    finally:
        connection.close()
    if not missing_globals(offered):
        return "wlroots"
    return "gnome" if _is_gnome(environ) or mutter_on_bus(environ) else "portal"


def open_desktop(name: str | None, capture: CaptureConfig, *, drive: bool = True) -> DesktopRoute:
    """The route `name` names (None: detected), ready to capture and, with `drive`, to drive
    (a dry run only watches: through the portal it then asks for a screen cast alone)."""
    chosen = detect_desktop() if name is None else name
    if chosen == "x11":
        grabber = ScreenCapture(capture)
        return DesktopRoute("x11", grabber, _closers=[grabber.close])
    if chosen == "wlroots":
        session = _LazySession(WlrootsSession.open)
        return DesktopRoute(
            "wlroots",
            OutputCapture(capture, session, grim_shot),
            WaylandScreen(session),
            _wlroots_hotkey,
            "FAILSAFE (the pointer to a screen corner), Ctrl-C in the agent's terminal and "
            "stop() still work",
            _closers=[session.close],
        )
    if chosen == "gnome":
        mutter = _LazySession(MutterSession.open)
        frames = ScreenCastFrames(lambda name: mutter().pipewire_node(name))
        return DesktopRoute(
            "gnome",
            OutputCapture(capture, mutter, frames.shot),
            WaylandScreen(mutter),
            _gnome_hotkey,
            "FAILSAFE (the pointer to a screen corner), Ctrl-C in the agent's terminal and "
            "stop() still work",
            MutterClipboard(mutter),
            _closers=[frames.close, mutter.close],
        )
    if chosen == "portal":
        portal = _LazySession(lambda: PortalSession.open(drive=drive))
        casts = ScreenCastFrames(
            lambda name: portal().pipewire_node(name), lambda: portal().pipewire_remote()
        )
        return DesktopRoute(
            "portal",
            OutputCapture(capture, portal, casts.shot),
            WaylandScreen(portal),
            _portal_hotkey,
            "Ctrl-C in the agent's terminal and stop() still work (the portal tells no client "
            "where the pointer is, so there is no FAILSAFE corner)",
            _closers=[casts.close, portal.close],
        )
    raise DesktopError(f"unknown desktop {chosen!r}; known: {', '.join(DESKTOPS)}")


class _LazySession(Generic[SessionT]):
    """A compositor session, opened on first use (a route can be set up before the run
    starts, e.g. by the app) and shared by the capture and the screen."""

    def __init__(self, open_session: Callable[[], SessionT]) -> None:
        self._open: Callable[[], SessionT] = open_session
        self._session: SessionT | None = None
        self._lock = threading.Lock()

    def __call__(self) -> SessionT:
        with self._lock:
            if self._session is None:
                try:
                    self._session = self._open()
                except WaylandError as error:
                    raise DesktopError(str(error)) from error
            return self._session

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None


def mutter_on_bus(environ: Mapping[str, str]) -> bool:
    """Whether Mutter's remote-desktop API answers on this session's bus."""
    return name_on_bus(environ, MUTTER)


def _gnome_hotkey(combo: str, callback: Callable[[], None]) -> Hotkey:
    """A custom shortcut in GNOME's keyboard settings, run by gnome-settings-daemon."""
    return _refused_with(
        GnomeShortcut, combo, callback,
        "stop the run with Ctrl-C in its terminal, or add a custom shortcut (Settings › "
        "Keyboard) that runs `pkill -INT -f 'main.py run'`",
    )  # fmt: skip


def _portal_hotkey(combo: str, callback: Callable[[], None]) -> Hotkey:
    """A shortcut through the portal's GlobalShortcuts, where the desktop has it."""
    return _refused_with(
        PortalShortcut, combo, callback,
        "bind a key in your desktop's shortcut settings to `pkill -INT -f 'main.py run'`, or "
        "stop the run with Ctrl-C in its terminal",
    )  # fmt: skip


def _refused_with(
    make: HotkeyFactory, combo: str, callback: Callable[[], None], instead: str
) -> Hotkey:
    """`make`'s hotkey; its refusal, if it refuses, says what the user can do instead."""
    try:
        return make(combo, callback)
    except HotkeyError as error:
        raise HotkeyError(f"{error}: {instead}") from error


def _wlroots_hotkey(combo: str, callback: Callable[[], None]) -> Hotkey:
    """A sway binding; other wlroots compositors give clients no way to add a global one."""
    if sway_socket() is None:
        raise HotkeyError(
            "this wlroots compositor is not sway (SWAYSOCK is not set), and Wayland gives the "
            "agent no global key of its own: bind a key in your compositor to `pkill -INT -f "
            "'main.py run'`, or stop the run with Ctrl-C in its terminal"
        )
    return SwayBinding(combo, callback)


def _is_wayland(environ: Mapping[str, str]) -> bool:
    return bool(environ.get("WAYLAND_DISPLAY")) or environ.get("XDG_SESSION_TYPE") == "wayland"


def _is_gnome(environ: Mapping[str, str]) -> bool:
    desktops = environ.get("XDG_CURRENT_DESKTOP", "").split(":")
    return any(name.strip().lower() == "gnome" for name in desktops)
