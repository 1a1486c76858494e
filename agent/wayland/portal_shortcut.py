"""The kill hotkey through the desktop portal's GlobalShortcuts (KDE Plasma 6, GNOME 48+).

    with PortalShortcut("ctrl+shift+f12", stop.set):   # bound while the run lasts
        run_agent()

Wayland gives no client a global key grab; the portal's GlobalShortcuts lets one ask the
desktop for a shortcut. The agent opens a session, binds one shortcut with the combo as its
preferred trigger (the desktop may ask the user to confirm it, or to choose another key), and
calls back on the session's Activated signal; closing the session at the end of the run
removes it. A portal without GlobalShortcuts refuses at once, so a run says so before it
loads a model.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from queue import Empty, Queue
from typing import Any

from agent.errors import HotkeyError
from agent.hotkey import Combo, parse_combo
from agent.wayland.portal_bus import PORTAL_PATH, PortalBus
from agent.wayland.wire import WaylandError

__all__ = ["GLOBAL_SHORTCUTS", "SHORTCUT_ID", "PortalShortcut", "portal_trigger"]

GLOBAL_SHORTCUTS = "org.freedesktop.portal.GlobalShortcuts"
SHORTCUT_ID = "stop-run"
BIND_SECONDS = 120.0  # the desktop may ask the user to confirm the shortcut
TRIGGER_MODIFIERS = {"ctrl": "CTRL", "shift": "SHIFT", "alt": "ALT", "super": "LOGO"}


def portal_trigger(combo: Combo) -> str:
    """The combo in the XDG shortcuts spelling the portal takes, e.g. "CTRL+SHIFT+F12"."""
    order = ("ctrl", "shift", "alt", "super")
    return "+".join([*(TRIGGER_MODIFIERS[m] for m in order if m in combo.modifiers), combo.key])


class PortalShortcut:
    """Calls `callback` (on a daemon thread) each time the desktop reports the shortcut."""

    def __init__(
        self, combo: str, callback: Callable[[], None], address: str | None = None
    ) -> None:
        """HotkeyError at once when this desktop's portal has no GlobalShortcuts."""
        self.combo = parse_combo(combo)
        self._callback = callback
        self._address = address or os.environ.get("DBUS_SESSION_BUS_ADDRESS") or "SESSION"
        self._portal: PortalBus | None = None
        self._session = ""
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._filter: Any = None
        self.trigger = ""  # how the desktop says the shortcut is triggered, once bound
        with self._opened() as portal:
            try:
                portal.property(GLOBAL_SHORTCUTS, "version")
            except WaylandError as error:
                raise HotkeyError(
                    "this desktop's portal offers no global shortcuts "
                    "(org.freedesktop.portal.GlobalShortcuts)"
                ) from error

    def start(self) -> None:
        """Bind the shortcut for the run (the desktop may ask the user first)."""
        portal = self._portal = self._open()
        try:
            self._session = portal.create_session(GLOBAL_SHORTCUTS)
            events = self._listen(portal)
            shortcut = (
                SHORTCUT_ID,
                {
                    "description": ("s", "Stop the PixelPrune agent's run"),
                    "preferred_trigger": ("s", portal_trigger(self.combo)),
                },
            )
            results = portal.request(
                GLOBAL_SHORTCUTS, "BindShortcuts", "oa(sa{sv})sa{sv}",
                (self._session, [shortcut], ""), timeout=BIND_SECONDS,
                refused="the desktop refused the agent's stop shortcut",
            )  # fmt: skip
        except WaylandError as error:
            self.stop()
            raise HotkeyError(str(error)) from error
        bound = dict(results.get("shortcuts", ("a(sa{sv})", []))[1])
        if SHORTCUT_ID not in bound:
            self.stop()
            raise HotkeyError("the desktop bound no stop shortcut for the agent")
        self.trigger = str(bound[SHORTCUT_ID].get("trigger_description", ("s", ""))[1])
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._watch, args=(events,), name="portal-shortcut", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Close the session: the desktop removes the shortcut."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        if self._filter is not None:
            self._filter.close()
            self._filter = None
        if self._portal is not None:
            with contextlib.suppress(WaylandError):
                if self._session:
                    self._portal.close_session(self._session)
            self._portal.close()
            self._portal = None
        self._session = ""

    def __enter__(self) -> PortalShortcut:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _listen(self, portal: PortalBus) -> Queue[Any]:
        from jeepney import MatchRule, message_bus

        rule = MatchRule(
            type="signal", interface=GLOBAL_SHORTCUTS, member="Activated", path=PORTAL_PATH
        )
        portal.router.send_and_get_reply(message_bus.AddMatch(rule))
        events: Queue[Any] = Queue()
        self._filter = portal.router.filter(rule, queue=events)
        return events

    def _watch(self, events: Queue[Any]) -> None:
        while not self._stopping.is_set():
            try:
                message = events.get(timeout=0.2)
            except Empty:
                continue
            session, shortcut, *_ = message.body
            if session == self._session and shortcut == SHORTCUT_ID:
                self._callback()

    def _open(self) -> PortalBus:
        from jeepney.io.threading import open_dbus_connection

        try:
            return PortalBus(open_dbus_connection(bus=self._address))
        except (OSError, KeyError, ValueError) as error:
            raise HotkeyError(f"cannot reach this session's D-Bus: {error}") from error

    @contextlib.contextmanager
    def _opened(self) -> Any:
        portal = self._open()
        try:
            yield portal
        finally:
            portal.close()
