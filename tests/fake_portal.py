"""A stand-in desktop portal offering only GlobalShortcuts, on a private session bus.

    with fake_portal() as portal:                  # a dbus-daemon and the portal's name
        PortalShortcut("ctrl+f12", cb, address=portal.address).start()
        portal.activate()                          # the user pressed the shortcut

It answers as xdg-desktop-portal does (org.freedesktop.portal.GlobalShortcuts, version 1): each
request method returns its Request path and then sends Response on it; Activated goes out on the
portal's object. Debian 12's portal (1.16) has no GlobalShortcuts, so the client is tested
against this reading of the specification.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from jeepney import DBusAddress, HeaderFields, MessageType, new_error, new_method_return, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

PORTAL_PATH = "/org/freedesktop/portal/desktop"
GLOBAL_SHORTCUTS = "org.freedesktop.portal.GlobalShortcuts"


@dataclass
class FakePortal:
    address: str
    shortcuts: bool = True  # whether it offers GlobalShortcuts
    bound: list[tuple[str, str]] = field(default_factory=list)  # (id, preferred trigger)
    sessions: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    connection: Any = None

    def activate(self, shortcut: str = "stop-run", session: str | None = None) -> None:
        """The user pressed a bound shortcut (of the last session, unless named)."""
        body = (session or self.sessions[-1], shortcut, int(time.time() * 1000), {})
        where = DBusAddress(PORTAL_PATH, interface=GLOBAL_SHORTCUTS)
        self.connection.send(new_signal(where, "Activated", "osta{sv}", body))

    def serve(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                message = self.connection.receive(timeout=0.1)
            except TimeoutError:
                continue
            if message.header.message_type == MessageType.method_call:
                self._answer(message)

    def _answer(self, message: Any) -> None:
        fields = message.header.fields
        member, path = fields[HeaderFields.member], fields[HeaderFields.path]
        sender = fields[HeaderFields.sender].lstrip(":").replace(".", "_")
        if member == "Get":
            interface, name = message.body
            if interface == GLOBAL_SHORTCUTS and name == "version" and self.shortcuts:
                self.connection.send(new_method_return(message, "v", (("u", 1),)))
            else:
                error = "org.freedesktop.DBus.Error.InvalidArgs"
                self.connection.send(new_error(message, error, "s", ("No such interface",)))
            return
        if member == "Close":
            self.closed.append(path)
            self.connection.send(new_method_return(message))
            return
        options = message.body[-1]
        request = f"{PORTAL_PATH}/request/{sender}/{options['handle_token'][1]}"
        self.connection.send(new_method_return(message, "o", (request,)))
        if member == "CreateSession":
            session = f"{PORTAL_PATH}/session/{sender}/{options['session_handle_token'][1]}"
            self.sessions.append(session)
            results = {"session_handle": ("s", session)}
        else:  # BindShortcuts
            _, shortcuts, _, _ = message.body
            bound = []
            for name, properties in shortcuts:
                self.bound.append((name, properties["preferred_trigger"][1]))
                described = properties | {"trigger_description": ("s", "Ctrl+Shift+F12")}
                bound.append((name, described))
            results = {"shortcuts": ("a(sa{sv})", bound)}
        response = DBusAddress(request, interface="org.freedesktop.portal.Request")
        self.connection.send(new_signal(response, "Response", "ua{sv}", (0, results)))


@contextmanager
def fake_portal(*, shortcuts: bool = True) -> Iterator[FakePortal]:
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address"],
        stdout=subprocess.PIPE,
        text=True,
    )
    stopping = threading.Event()
    try:
        assert bus.stdout is not None
        address = bus.stdout.readline().strip()
        with open_dbus_connection(bus=address) as connection:
            connection.send_and_get_reply(message_bus.RequestName("org.freedesktop.portal.Desktop"))
            portal = FakePortal(address, shortcuts, connection=connection)
            server = threading.Thread(target=portal.serve, args=(stopping,), daemon=True)
            server.start()
            try:
                yield portal
            finally:
                stopping.set()
                server.join(timeout=5)
    finally:
        bus.terminate()
        bus.wait(timeout=5)
