"""The kill hotkey through the portal's GlobalShortcuts, against a stand-in portal
(tests/fake_portal.py): Debian 12's xdg-desktop-portal 1.16 has no GlobalShortcuts."""

from __future__ import annotations

import threading

import pytest
from fake_portal import fake_portal

from agent.capture import CaptureConfig
from agent.desktop import open_desktop
from agent.errors import HotkeyError
from agent.hotkey import parse_combo
from agent.wayland.portal_shortcut import PortalShortcut, portal_trigger


def test_the_combo_is_spelled_as_the_shortcuts_specification_spells_it():
    assert portal_trigger(parse_combo("ctrl+shift+f12")) == "CTRL+SHIFT+F12"
    assert portal_trigger(parse_combo("super+alt+k")) == "ALT+LOGO+k"


def test_the_shortcut_is_bound_for_the_run_calls_back_and_is_removed():
    with fake_portal() as portal:
        stopped = threading.Event()
        shortcut = PortalShortcut("ctrl+shift+f12", stopped.set, address=portal.address)
        shortcut.start()
        try:
            assert portal.bound == [("stop-run", "CTRL+SHIFT+F12")]
            assert shortcut.trigger == "Ctrl+Shift+F12"  # as the desktop describes it
            [session] = portal.sessions
            portal.activate("another-shortcut")
            portal.activate(session="/org/freedesktop/portal/desktop/session/other/s")
            assert not stopped.wait(0.5)  # neither ours
            portal.activate()
            assert stopped.wait(2)
        finally:
            shortcut.stop()
        assert portal.closed == [session]  # closing the session removes the shortcut


def test_a_portal_without_global_shortcuts_refuses_at_once_with_what_to_do(monkeypatch):
    with fake_portal(shortcuts=False) as portal:
        with pytest.raises(HotkeyError, match="no global shortcuts"):
            PortalShortcut("ctrl+shift+f12", lambda: None, address=portal.address)
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", portal.address)
        route = open_desktop("portal", CaptureConfig())
        with pytest.raises(HotkeyError, match=r"no global shortcuts.*pkill -INT"):
            route.hotkey("ctrl+shift+f12", lambda: None)
        route.close()
