"""Whether a name is on this session's D-Bus: how the routes tell which desktop services run.

name_on_bus(os.environ, "org.gnome.Mutter.RemoteDesktop")   # True on a GNOME session
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["name_on_bus"]

ANSWER_SECONDS = 2.0


def name_on_bus(environ: Mapping[str, str], name: str) -> bool:
    """Whether `name` has an owner on the session bus `environ` names (False: no bus)."""
    address = environ.get("DBUS_SESSION_BUS_ADDRESS")
    if not address:
        return False
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection
    from jeepney.wrappers import unwrap_msg

    bus = DBusAddress(
        "/org/freedesktop/DBus", bus_name="org.freedesktop.DBus", interface="org.freedesktop.DBus"
    )
    try:
        with open_dbus_connection(bus=address) as connection:
            reply = connection.send_and_get_reply(
                new_method_call(bus, "NameHasOwner", "s", (name,)), timeout=ANSWER_SECONDS
            )
            return bool(unwrap_msg(reply)[0])
    except Exception:  # no bus, a refused connection, a bad address: the name is not there
        return False
