"""Preflight: can this process see and drive the desktop? One line with the fix, before any work.

    problem = desktop_problem(drive=True)        # None, or what is wrong and how to fix it

`run` checks it before loading a model (and that the chosen monitor exists); `app` and `view`
before starting Qt, whose own failure without a display is a crash about xcb libraries.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

from agent.capture import wayland_problem
from agent.desktop import DesktopRoute, detect_desktop, mutter_on_bus
from agent.errors import AgentError
from agent.wayland.mutter import MUTTER
from agent.wayland.portal import REMOTE_DESKTOP, SCREEN_CAST, portal_on_bus
from agent.wayland.wire import Connection, WaylandError
from agent.wayland.wlroots import missing_globals

__all__ = [
    "desktop_problem",
    "gnome_problem",
    "monitor_problem",
    "portal_problem",
    "wayland_connection_problem",
    "wlroots_problem",
]


def desktop_problem(*, drive: bool, desktop: str | None = None) -> str | None:
    """What keeps this process off the desktop, or None. `drive`: it will also move the mouse
    and type (pyautogui's python-xlib then needs an Xauthority file). `desktop`: the route
    (agent.desktop; None: the one this session is detected to need).

    The display is connected to once, as pyautogui connects, so a server that refuses this
    process's key gets the Xauthority hint in every mode, not libX11's bare "Authorization
    required" from the capture."""
    if sys.platform in ("win32", "darwin"):
        return None
    route = desktop or detect_desktop()
    if route == "wlroots":
        return wlroots_problem()
    if route == "gnome":
        return gnome_problem()
    if route == "portal":
        return wayland_connection_problem() or portal_problem(drive=drive)
    if problem := wayland_problem():
        return problem
    display = os.environ.get("DISPLAY")
    if not display:
        return (
            "no X display: DISPLAY is not set. Run this in a desktop session (e.g. "
            "`export DISPLAY=:0`), or start a virtual one: `Xvfb :99 & export DISPLAY=:99`"
        )
    authority = Path(os.environ.get("XAUTHORITY") or Path.home() / ".Xauthority")
    if drive and not authority.is_file():
        return _authority_problem(display, authority, refusal=None)
    return _connection_problem(display, authority)


def wayland_connection_problem() -> str | None:
    """Whether this session's Wayland compositor answers at all (None: it does)."""
    try:
        Connection.open().close()
    except WaylandError as error:
        return _unreachable(error)
    return None


def _unreachable(error: WaylandError) -> str:
    return f"{error}: is the compositor running, and WAYLAND_DISPLAY its socket?"


def gnome_problem() -> str | None:
    """Whether this GNOME session can be captured and driven through Mutter (None: it can)."""
    if problem := _bus_problem("the GNOME route speaks to Mutter"):
        return problem
    if not mutter_on_bus(os.environ):
        return (
            f"Mutter's remote-desktop API ({MUTTER}) is not on this session's bus: this is "
            "not a GNOME Wayland session, or its compositor is not Mutter; choose another "
            "route with --desktop"
        )
    return _pipewire_problem("GNOME sends the screen through it")


def portal_problem(*, drive: bool) -> str | None:
    """Whether this desktop's portal can share the screen (and, with `drive`, take input):
    None when it can. The grant itself is asked for when the route opens."""
    if problem := _bus_problem("the portal route speaks to the desktop portal"):
        return problem
    offered = portal_on_bus(os.environ["DBUS_SESSION_BUS_ADDRESS"])
    if offered is None:
        return (
            "no desktop portal answers on this session's bus: install xdg-desktop-portal and "
            "your desktop's backend (KDE Plasma: xdg-desktop-portal-kde), then log in again"
        )
    if SCREEN_CAST not in offered:
        return (
            "this desktop's portal offers no screen cast (org.freedesktop.portal.ScreenCast): "
            "install your desktop's portal backend (KDE Plasma: xdg-desktop-portal-kde)"
        )
    if drive and REMOTE_DESKTOP not in offered:
        return (
            "this desktop's portal shares the screen but offers no remote desktop "
            "(org.freedesktop.portal.RemoteDesktop), so it cannot take the agent's input: "
            "watch with --mode dry-run, or install a backend that has it (xdg-desktop-portal-kde)"
        )
    return _pipewire_problem("the portal sends the screen through it")


def _bus_problem(why: str) -> str | None:
    if os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return None
    return (
        f"DBUS_SESSION_BUS_ADDRESS is not set, and {why} over the session bus: run the agent "
        "inside the desktop session"
    )


def _pipewire_problem(why: str) -> str | None:
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if not (Path(runtime) / "pipewire-0").exists():
        return (
            f"PipeWire is not running in this session, and {why}: start it "
            "(`systemctl --user start pipewire wireplumber`)"
        )
    if shutil.which("gst-launch-1.0") is None or not _has_pipewiresrc():
        return (
            "GStreamer's PipeWire source is not installed, and Wayland screen casts are read "
            "with it: apt install gstreamer1.0-tools gstreamer1.0-pipewire"
        )
    return None


def _has_pipewiresrc() -> bool:
    try:
        done = subprocess.run(
            ["gst-inspect-1.0", "pipewiresrc"], capture_output=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def wlroots_problem() -> str | None:
    """Whether this session's wlroots compositor can be captured and driven (None: it can)."""
    try:
        connection = Connection.open()
    except WaylandError as error:
        return _unreachable(error)
    try:
        missing = missing_globals(connection.registry())
    except WaylandError as error:
        return str(error)
    finally:
        connection.close()
    if missing:
        return (
            f"this Wayland compositor does not offer {', '.join(missing)}, which the wlroots "
            "route needs: choose the route of your desktop with --desktop (gnome, portal)"
        )
    if shutil.which("grim") is None:
        return "grim is not installed, and the wlroots route captures with it: apt install grim"
    return None


def _connection_problem(display: str, authority: Path) -> str | None:
    """Whether the X server at `display` accepts this process (None: it does)."""
    try:
        from Xlib.display import Display
        from Xlib.error import DisplayConnectionError, DisplayError, XauthError
    except ImportError:  # no python-xlib: the capture opens the display and says what fails
        return None
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # python-xlib prints xauth warnings
            connection = Display(display)
    except DisplayConnectionError as error:
        if isinstance(error.msg, bytes):  # the server answered, and said no
            refusal = error.msg.decode(errors="replace").strip()
            return _authority_problem(display, authority, refusal=refusal)
        return f"cannot connect to X display {display} ({error.msg}): is its X server running?"
    except (DisplayError, XauthError, OSError) as error:
        return f"cannot connect to X display {display} ({error})"
    connection.close()
    return None


def _authority_problem(display: str, authority: Path, *, refusal: str | None) -> str:
    """The fix for a missing Xauthority file, or for one without a key the server accepts
    (`refusal`: the server's reason): the same words whichever mode found it."""
    add = f"xauth add {display} . $(mcookie)"
    if not authority.is_file():
        return (
            f"no Xauthority file at {authority}: this process needs one to use display "
            f"{display}. Point XAUTHORITY at your desktop session's file, or, for a "
            f"virtual display started with `-auth {authority}`, create it with "
            f"`touch {authority} && {add}`, then try again"
        )
    return (
        f"display {display} refused this process ({refusal}): the Xauthority file {authority} "
        f"holds no key it accepts. Point XAUTHORITY at your desktop session's file, or, for a "
        f"virtual display started with `-auth {authority}`, add one with `{add}`, then try again"
    )


def monitor_problem(route: DesktopRoute) -> str | None:
    """Whether the monitor the route's capture names exists on this desktop (None: it does).
    The route is the run's own, opened once and then handed to the agent; opening it is where
    a Wayland desktop asks for (or refuses) its permission, before any model is loaded."""
    try:
        if route.capture.config.monitor == "mouse":
            route.capture.monitors()
        else:
            route.capture.current_monitor()
    except AgentError as error:
        return str(error)
    return None
