"""Which desktop route this session takes: how the screen is captured and driven.

    route = open_desktop(None, CaptureConfig())      # detected; or "x11", "wlroots", ...
    shot = route.capture.grab()
    Executor(config, screen=route.screen)            # None: pyautogui

The routes sit behind the interfaces the loop already uses (a `Grabber` and the executor's
pyautogui-like `screen`), so nothing above them changes:

- `x11`: mss and pyautogui (X11, and Windows and macOS, where they work natively).
- `wlroots`: grim and the compositor's virtual pointer and keyboard (sway, Hyprland, river,
  labwc, ...), found by the protocols the compositor offers.
- `gnome`, `portal`: Mutter's remote-desktop API and the desktop portal. Detected, not yet
  driven: choosing them is a clear error that names a route that works.

Detection reads the session: no Wayland display means X11; a Wayland compositor offering the
virtual pointer and keyboard protocols is wlroots; else GNOME by XDG_CURRENT_DESKTOP, else the
portal. `--desktop` (task key `desktop`) overrides it.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, get_args

from agent.capture import CaptureConfig, Grabber, ScreenCapture
from agent.coords import Monitor
from agent.errors import AgentError, HotkeyError
from agent.hotkey import GlobalHotkey
from agent.wayland.capture import WlrootsCapture
from agent.wayland.screen import WaylandScreen
from agent.wayland.sway import SwayBinding, sway_socket
from agent.wayland.wire import Connection, WaylandError
from agent.wayland.wlroots import WlrootsSession, missing_globals

__all__ = [
    "DESKTOPS",
    "PLANNED",
    "DesktopError",
    "DesktopName",
    "DesktopRoute",
    "Hotkey",
    "MonitorCapture",
    "detect_desktop",
    "not_built",
    "open_desktop",
]

DesktopName = Literal["x11", "wlroots", "gnome", "portal"]
DESKTOPS: tuple[DesktopName, ...] = get_args(DesktopName)
PLANNED = {  # routes detected but not built yet, and which sessions they are for
    "gnome": "this is a GNOME Wayland session, and the GNOME route (Mutter's remote-desktop "
    "API) is not built yet",
    "portal": "this Wayland desktop is neither wlroots nor GNOME (KDE Plasma, for one), and the "
    "desktop-portal route it needs is not built yet",
}


class DesktopError(AgentError):
    """No route drives this desktop, or the chosen one cannot start."""


class Hotkey(Protocol):
    """A global stop key while a run lasts: `GlobalHotkey` on X11, a sway binding on sway."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


HotkeyFactory = Callable[[str, Callable[[], None]], Hotkey]


class MonitorCapture(Grabber, Protocol):
    """A route's capture: it grabs, lists the monitors and says which one it will grab."""

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
    other_stops: str = "FAILSAFE (mouse to a corner) and stop() still work"
    _closers: list[Any] = field(default_factory=list)

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
    return "gnome" if _is_gnome(environ) else "portal"


def open_desktop(name: str | None, capture: CaptureConfig) -> DesktopRoute:
    """The route `name` names (None: detected), ready to capture and drive."""
    chosen = detect_desktop() if name is None else name
    if chosen == "x11":
        grabber = ScreenCapture(capture)
        return DesktopRoute("x11", grabber, _closers=[grabber.close])
    if chosen == "wlroots":
        session = _LazySession()
        return DesktopRoute(
            "wlroots",
            WlrootsCapture(capture, session),
            WaylandScreen(session),
            _wlroots_hotkey,
            "FAILSAFE (the pointer to a screen corner), Ctrl-C in the agent's terminal and "
            "stop() still work",
            [session.close],
        )
    if chosen in PLANNED:
        raise DesktopError(not_built(chosen))
    raise DesktopError(f"unknown desktop {chosen!r}; known: {', '.join(DESKTOPS)}")


def not_built(name: str) -> str:
    """What to do on a desktop whose route is detected but not built yet."""
    return (
        f"{PLANNED[name]}: run the agent in an X11 session, in a wlroots compositor (sway), "
        "or in a virtual X display (`Xvfb :99 & DISPLAY=:99 ...`)"
    )


class _LazySession:
    """The wlroots session, opened on first use (a route can be set up before the run starts,
    e.g. by the app) and shared by the capture and the screen."""

    def __init__(self) -> None:
        self._session: WlrootsSession | None = None
        self._lock = threading.Lock()

    def __call__(self) -> WlrootsSession:
        with self._lock:
            if self._session is None:
                try:
                    self._session = WlrootsSession.open()
                except WaylandError as error:
                    raise DesktopError(str(error)) from error
            return self._session

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None


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
