"""A Wayland client connection in plain Python: the wire format, objects, and file descriptors.

    connection = Connection.open()                 # $WAYLAND_DISPLAY under $XDG_RUNTIME_DIR
    registry = connection.registry()               # the globals the compositor offers
    seat = connection.bind(registry["wl_seat"], "wl_seat", 7)
    connection.roundtrip()

The agent needs a handful of requests on a few protocols (virtual pointer and keyboard, outputs),
so it speaks the wire format itself instead of through libwayland bindings: nothing to compile,
and no C library that crashes the process when an object is destroyed at exit. Every message is
a 32-bit object id, a 16-bit opcode and a 16-bit size, then its arguments, each 32-bit aligned;
file descriptors travel beside the bytes (SCM_RIGHTS). The interfaces and their message
signatures are in `agent.wayland.protocols`; a message the table does not know is skipped by its
size, so a newer compositor never breaks the connection.
"""

from __future__ import annotations

import array
import os
import select
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.errors import AgentError
from agent.wayland.protocols import INTERFACES, Message

__all__ = ["Connection", "Global", "Proxy", "WaylandError", "socket_path"]

Handler = Callable[..., None]
MAX_FDS = 28  # libwayland's bound on descriptors in one message


class WaylandError(AgentError):
    """The compositor refused a request or the connection failed."""


@dataclass(frozen=True)
class Global:
    """One global the registry announced: its name (a number), interface and version."""

    name: int
    interface: str
    version: int


@dataclass
class Proxy:
    """A client-side object: its id, interface and version, and handlers for its events."""

    connection: Connection
    id: int
    interface: str
    version: int
    handlers: dict[str, Handler] = field(default_factory=dict)

    def request(self, name: str, *args: Any) -> Proxy | None:
        """Send a request; returns the new object when the request creates one."""
        return self.connection.request(self, name, *args)

    def create(self, name: str, *args: Any) -> Proxy:
        """Send a request that creates an object, and return that object."""
        created = self.connection.request(self, name, *args)
        if created is None:
            raise WaylandError(f"{self.interface}.{name} creates no object")
        return created

    def on(self, event: str, handler: Handler) -> None:
        """Call `handler(*arguments)` when the compositor sends `event` to this object."""
        self.handlers[event] = handler


def socket_path(display: str | None = None) -> str:
    """Where the compositor listens: an absolute WAYLAND_DISPLAY as it is, a name under
    XDG_RUNTIME_DIR (the default name is wayland-0, as libwayland's)."""
    name = display or os.environ.get("WAYLAND_DISPLAY") or "wayland-0"
    if os.path.isabs(name):
        return name
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if not runtime:
        raise WaylandError(
            f"XDG_RUNTIME_DIR is not set, so the Wayland display {name!r} cannot be found: "
            "run the agent inside the desktop session"
        )
    return os.path.join(runtime, name)


class Connection:
    """One connection to a compositor; not thread-safe (its owner serialises use)."""

    def __init__(self, sock: socket.socket) -> None:
        self._socket = sock
        self._objects: dict[int, Proxy] = {}
        self._free_ids: list[int] = []
        self._next_id = 2
        self._incoming = b""
        self._outgoing: list[tuple[bytes, list[int]]] = []
        self.display = self._new_proxy("wl_display", 1, object_id=1)
        self.display.on("error", self._error)
        self.display.on("delete_id", self._delete_id)
        self.error: str | None = None

    @classmethod
    def open(cls, display: str | None = None) -> Connection:
        """Connect to the compositor of `display` (default: this session's)."""
        path = socket_path(display)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            sock.connect(path)
        except OSError as error:
            sock.close()
            raise WaylandError(
                f"cannot connect to the Wayland display at {path}: {error}"
            ) from error
        return cls(sock)

    def close(self) -> None:
        """Close the socket; the compositor destroys every object of this client."""
        self._socket.close()

    # ---- objects ---------------------------------------------------------------------------

    def registry(self) -> dict[str, Global]:
        """The globals the compositor offers now, by interface (the newest of a name wins;
        `outputs` lists every wl_output)."""
        registry = self.display.request("get_registry")
        assert registry is not None
        found: list[Global] = []
        registry.on(
            "global",
            lambda name, interface, version: found.append(Global(name, interface, version)),
        )
        registry.on("global_remove", lambda name: None)
        self.roundtrip()
        self._registry = registry
        self.globals = found
        return {g.interface: g for g in found}

    def bind(self, found: Global, interface: str, version: int) -> Proxy:
        """A proxy for a global, at the lower of the version asked and the one offered."""
        version = min(version, found.version)
        proxy = self._new_proxy(interface, version)
        self._send(self._registry, "bind", (found.name, interface, version, proxy.id), [])
        return proxy

    def request(self, proxy: Proxy, name: str, *args: Any) -> Proxy | None:
        """Send `name` on `proxy`; a `new_id` argument is created here and returned."""
        message = _message(proxy.interface, "requests", name)
        created = None
        values: list[Any] = []
        given = iter(args)
        for kind, interface in message.arguments:
            if kind == "n":
                created = self._new_proxy(interface or "", proxy.version)
                values.append(created.id)
            else:
                values.append(next(given))
        fds = [v for (kind, _), v in zip(message.arguments, values, strict=True) if kind == "h"]
        self._send(proxy, name, tuple(values), fds)
        if message.destructor:
            self._objects.pop(proxy.id, None)
        return created

    def _new_proxy(self, interface: str, version: int, object_id: int | None = None) -> Proxy:
        if object_id is None:
            object_id = self._free_ids.pop() if self._free_ids else self._next_id
            if object_id == self._next_id:
                self._next_id += 1
        proxy = Proxy(self, object_id, interface, version)
        self._objects[object_id] = proxy
        return proxy

    # ---- sending and receiving -------------------------------------------------------------

    def flush(self) -> None:
        """Send what is queued."""
        for data, fds in self._outgoing:
            ancillary = (
                [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
            )
            try:
                sent = self._socket.sendmsg([data], ancillary)
                if sent < len(data):
                    self._socket.sendall(data[sent:])
            except OSError as error:
                raise WaylandError(f"the Wayland connection failed: {error}") from error
        self._outgoing.clear()

    def roundtrip(self, timeout: float = 5.0) -> None:
        """Send everything and wait until the compositor has handled it (wl_display.sync)."""
        done: list[int] = []
        callback = self.display.request("sync")
        assert callback is not None
        callback.on("done", lambda serial: done.append(serial))
        self.flush()
        while not done:
            answered = self.dispatch(timeout)
            self._check()  # a protocol error ends the connection: no answer will come
            if not answered:
                raise WaylandError(f"the compositor did not answer within {timeout:.0f} s")

    def dispatch(self, timeout: float = 0.0) -> bool:
        """Read and handle the events that arrive within `timeout` seconds; False if none."""
        ready, _, _ = select.select([self._socket], [], [], timeout)
        if not ready:
            return False
        fds = array.array("i")
        try:
            data, ancillary, _, _ = self._socket.recvmsg(
                65536, socket.CMSG_SPACE(MAX_FDS * fds.itemsize)
            )
        except OSError as error:
            raise WaylandError(f"the Wayland connection failed: {error}") from error
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        if not data:
            self._check()
            raise WaylandError("the compositor closed the connection")
        received = list(fds)
        self._incoming += data
        while len(self._incoming) >= 8:
            object_id, word = struct.unpack_from("=II", self._incoming)
            size = word >> 16
            if len(self._incoming) < size:
                break
            body, self._incoming = self._incoming[8:size], self._incoming[size:]
            self._handle(object_id, word & 0xFFFF, body, received)
        for fd in received:  # descriptors no handler took (e.g. a keymap we do not read)
            os.close(fd)
        return True

    def _send(self, proxy: Proxy, name: str, values: tuple[Any, ...], fds: list[int]) -> None:
        message = _message(proxy.interface, "requests", name)
        body = b"".join(
            _encode(kind, value) for (kind, _), value in zip(message.arguments, values, strict=True)
        )
        header = struct.pack("=II", proxy.id, ((len(body) + 8) << 16) | message.opcode)
        self._outgoing.append((header + body, fds))

    def _handle(self, object_id: int, opcode: int, body: bytes, fds: list[int]) -> None:
        proxy = self._objects.get(object_id)
        if proxy is None:
            return  # an event for an object already destroyed
        events = INTERFACES.get(proxy.interface, {}).get("events", ())
        if opcode >= len(events):
            return  # newer than the table: skipped by its size
        message = events[opcode]
        arguments, offset = [], 0
        for kind, _ in message.arguments:
            if kind == "h":
                arguments.append(fds.pop(0) if fds else -1)
                continue
            value, offset = _decode(kind, body, offset)
            arguments.append(value)
        handler = proxy.handlers.get(message.name)
        if handler is not None:
            handler(*arguments)
        elif "h" in (kind for kind, _ in message.arguments):
            for value, (kind, _) in zip(arguments, message.arguments, strict=True):
                if kind == "h" and value >= 0:
                    os.close(value)

    def _error(self, object_id: int, code: int, text: str) -> None:
        proxy = self._objects.get(object_id)
        where = f"{proxy.interface}@{object_id}" if proxy else f"object {object_id}"
        self.error = f"the compositor refused a request on {where} (error {code}): {text}"

    def _delete_id(self, object_id: int) -> None:
        self._objects.pop(object_id, None)
        if object_id != 1:
            self._free_ids.append(object_id)

    def _check(self) -> None:
        if self.error is not None:
            raise WaylandError(self.error)


def _message(interface: str, direction: str, name: str) -> Message:
    for message in INTERFACES[interface][direction]:
        if message.name == name:
            return message
    raise WaylandError(f"{interface} has no {direction[:-1]} {name!r}")


def _encode(kind: str, value: Any) -> bytes:
    if kind == "o":  # an object, or None for a nullable one
        return struct.pack("=I", 0 if value is None else value.id)
    if kind in ("u", "n"):
        return struct.pack("=I", int(value))
    if kind == "i":
        return struct.pack("=i", int(value))
    if kind == "f":
        return struct.pack("=i", round(value * 256))
    if kind == "h":
        return b""  # travels beside the bytes
    raw = value.encode() + b"\0" if kind == "s" else bytes(value)
    length = len(raw)
    return struct.pack("=I", length) + raw + b"\0" * (-length % 4)


def _decode(kind: str, body: bytes, offset: int) -> tuple[Any, int]:
    if kind in ("u", "o", "n"):
        return struct.unpack_from("=I", body, offset)[0], offset + 4
    if kind == "i":
        return struct.unpack_from("=i", body, offset)[0], offset + 4
    if kind == "f":
        return struct.unpack_from("=i", body, offset)[0] / 256, offset + 4
    (length,) = struct.unpack_from("=I", body, offset)
    raw = body[offset + 4 : offset + 4 + length]
    end = offset + 4 + length + (-length % 4)
    if kind == "s":
        return raw[:-1].decode(errors="replace") if raw else "", end
    return raw, end
