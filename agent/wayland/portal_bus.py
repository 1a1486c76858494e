"""Speaking to the desktop portal over D-Bus: calls, and requests answered by a signal.

    portal = PortalBus(connection)                   # a jeepney connection, fds on
    session = portal.create_session(SCREEN_CAST)     # a Request's Response, waited for
    results = portal.request(SCREEN_CAST, "Start", "osa{sv}", (session, ""), refused="...")

Most portal methods return a Request object at once and answer later through its Response
signal, after the user has answered a dialog; the signal is listened for before the call (the
request's path is known from our bus name and a handle token), so no answer is missed.
"""

from __future__ import annotations

import itertools
from queue import Empty, Queue
from typing import Any

from agent.wayland.wire import WaylandError

__all__ = ["CALL_SECONDS", "PORTAL", "PORTAL_PATH", "PortalBus", "PortalRefused"]

PORTAL = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
REQUEST = "org.freedesktop.portal.Request"
SESSION = "org.freedesktop.portal.Session"
PROPERTIES = "org.freedesktop.DBus.Properties"
CALL_SECONDS = 10.0  # for a call the portal answers at once
CANCELLED = 1  # Request.Response: the user cancelled (2: ended another way)


class PortalRefused(WaylandError):
    """The user (or the desktop's policy) refused what the agent asked the portal for."""


class PortalBus:
    """One connection to the portal, shared by a session's calls and signals."""

    def __init__(self, connection: Any) -> None:
        from jeepney.io.threading import DBusRouter

        self.router = DBusRouter(connection)
        self._sender = connection.unique_name.lstrip(":").replace(".", "_")
        self._tokens = itertools.count(1)

    def close(self) -> None:
        self.router.close()
        self.router.conn.close()

    def token(self) -> str:
        """A fresh handle token (unique for this connection)."""
        return f"pixelprune{next(self._tokens)}"

    def property(self, interface: str, name: str) -> Any:
        (value,) = self.call(PORTAL_PATH, PROPERTIES, "Get", "ss", (interface, name))
        return value[1]

    def create_session(self, interface: str) -> str:
        """A new session of `interface` (ScreenCast, RemoteDesktop, GlobalShortcuts)."""
        options = {"session_handle_token": ("s", self.token())}
        results = self.request(interface, "CreateSession", "a{sv}", (), options=options)
        return str(results["session_handle"][1])

    def close_session(self, session: str) -> None:
        self.call(session, SESSION, "Close")

    def request(
        self,
        interface: str,
        method: str,
        signature: str,
        arguments: tuple[Any, ...],
        *,
        options: dict[str, tuple[str, Any]] | None = None,
        timeout: float = CALL_SECONDS,
        refused: str = "",
    ) -> dict[str, Any]:
        """Call a method that answers through a Request's Response; its options (the last
        argument) get the handle token. `refused`: the PortalRefused message on a cancel."""
        from jeepney import MatchRule, message_bus

        handle = self.token()
        path = f"{PORTAL_PATH}/request/{self._sender}/{handle}"
        rule = MatchRule(type="signal", interface=REQUEST, member="Response", path=path)
        self.router.send_and_get_reply(message_bus.AddMatch(rule))
        answers: Queue[Any] = Queue()
        with self.router.filter(rule, queue=answers):
            full = (*arguments, {"handle_token": ("s", handle)} | (options or {}))
            self.call(PORTAL_PATH, interface, method, signature, full)
            try:
                code, results = answers.get(timeout=timeout).body
            except Empty:
                raise WaylandError(
                    f"the desktop portal did not answer {method} within {timeout:.0f} s"
                    + (" (was its dialog left open?)" if timeout > CALL_SECONDS else "")
                ) from None
        if code == CANCELLED:
            raise PortalRefused(refused or f"the desktop portal's {method} was cancelled")
        if code != 0:
            raise WaylandError(f"the desktop portal ended {method} (response {code})")
        return dict(results)

    def call(
        self,
        path: str,
        interface: str,
        method: str,
        signature: str | None = None,
        arguments: tuple[Any, ...] = (),
    ) -> tuple[Any, ...]:
        from jeepney import DBusAddress, DBusErrorResponse, new_method_call
        from jeepney.wrappers import unwrap_msg

        address = DBusAddress(path, bus_name=PORTAL, interface=interface)
        message = new_method_call(address, method, signature, arguments)
        try:
            return tuple(unwrap_msg(self.router.send_and_get_reply(message, timeout=CALL_SECONDS)))
        except DBusErrorResponse as error:
            if error.name == "org.freedesktop.DBus.Error.AccessDenied":
                refused = f"permission refused by the desktop portal: {error.data}"
                raise PortalRefused(refused) from error
            raise WaylandError(
                f"the desktop portal refused {method}: {error.name}: {error.data}"
            ) from error
        except (OSError, TimeoutError) as error:
            raise WaylandError(f"the desktop portal did not answer {method}: {error}") from error
