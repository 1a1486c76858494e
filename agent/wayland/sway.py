"""The kill hotkey on sway: a binding the agent adds over sway's IPC, heard as an IPC event.

    with SwayBinding("ctrl+shift+f12", stop.set):   # bound while the run lasts
        run_agent()

Wayland gives no client a global key grab; sway's own bindings work whatever has focus, so the
agent binds the combo to a `nop` command that names this process, subscribes to binding events
and calls back when sway reports that command. The binding is removed when the run ends. The
IPC is i3's: a magic string, a length and a type, then JSON (sway-ipc(7)); SWAYSOCK names it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any

from agent.errors import HotkeyError
from agent.hotkey import Combo, parse_combo

__all__ = ["SwayBinding", "sway_combo", "sway_socket"]

MAGIC = b"i3-ipc"
RUN_COMMAND, SUBSCRIBE = 0, 2
BINDING_EVENT = 0x80000005
HEADER = struct.Struct("=6sII")
MODIFIERS = {"ctrl": "Ctrl", "shift": "Shift", "alt": "Mod1", "super": "Mod4"}


def sway_socket() -> str | None:
    """sway's IPC socket for this session, or None when this is not sway."""
    return os.environ.get("SWAYSOCK") or None


def sway_combo(combo: Combo) -> str:
    """The combo in bindsym's spelling, e.g. "Ctrl+Shift+F12"."""
    modifiers = [MODIFIERS[m] for m in ("ctrl", "shift", "alt", "super") if m in combo.modifiers]
    return "+".join([*modifiers, combo.key])


class SwayBinding:
    """Calls `callback` (on a daemon thread) each time sway runs the agent's binding."""

    def __init__(self, combo: str, callback: Callable[[], None], path: str | None = None) -> None:
        self.combo = parse_combo(combo)
        self._callback = callback
        self._path = path or sway_socket()
        self._command = f"nop pixelprune-agent stop {os.getpid()} {id(self):x}"
        self._events: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Bind the combo and listen; HotkeyError says why it cannot."""
        if self.running:
            return
        if self._path is None:
            raise HotkeyError("SWAYSOCK is not set: this is not a sway session")
        self._events = self._connect()
        _send(self._events, SUBSCRIBE, json.dumps(["binding"]))
        if not _receive(self._events)[1].get("success"):
            raise HotkeyError("sway refused the subscription to binding events")
        keys = sway_combo(self.combo)
        self._run(f"bindsym --no-repeat {keys} {self._command}")
        self._thread = threading.Thread(target=self._listen, name="sway-binding", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Remove the binding and stop listening."""
        if self._events is None:
            return
        with contextlib.suppress(HotkeyError, OSError):
            self._run(f"unbindsym {sway_combo(self.combo)}")
        with contextlib.suppress(OSError):
            self._events.shutdown(socket.SHUT_RDWR)
        self._events.close()
        self._events = None
        if self._thread is not None:
            self._thread.join(timeout=1.0)

    def __enter__(self) -> SwayBinding:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, command: str) -> None:
        with self._connect() as connection:
            _send(connection, RUN_COMMAND, command)
            _, replies = _receive(connection)
        failed = [r for r in replies if not r.get("success")]
        if failed:
            reason = failed[0].get("error", "no reason given")
            raise HotkeyError(f"sway refused `{command}`: {reason}")

    def _connect(self) -> socket.socket:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.connect(str(self._path))
        except OSError as error:
            connection.close()
            raise HotkeyError(f"cannot reach sway's IPC at {self._path}: {error}") from error
        return connection

    def _listen(self) -> None:
        events = self._events
        while events is not None:
            try:
                kind, payload = _receive(events)
            except (OSError, HotkeyError):
                return  # closed by stop(), or sway is gone
            binding = payload.get("binding", {}) if isinstance(payload, dict) else {}
            if kind == BINDING_EVENT and binding.get("command") == self._command:
                self._callback()


def _send(connection: socket.socket, kind: int, payload: str) -> None:
    data = payload.encode()
    connection.sendall(HEADER.pack(MAGIC, len(data), kind) + data)


def _receive(connection: socket.socket) -> tuple[int, Any]:
    header = _read(connection, HEADER.size)
    magic, length, kind = HEADER.unpack(header)
    if magic != MAGIC:
        raise HotkeyError("sway's IPC answered with something that is not i3-ipc")
    return kind, json.loads(_read(connection, length) or b"null")


def _read(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise HotkeyError("sway closed its IPC connection")
        data += chunk
    return data
