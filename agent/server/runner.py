"""Running the app under uvicorn from Python: blocking for the command, in a thread for tests.

    with bind("127.0.0.1", 0) as sock:
        serve(app, sock, on_exit=engine.shutdown)      # until SIGINT/SIGTERM

The socket is bound before uvicorn starts, so a port in use is a clear `ServerStartError`.
A connection must complete each request head (request line and headers) within HEADER_SECONDS,
however it trickles in, and idles at most uvicorn's keep-alive between requests; at most
HEAD_LIMIT connections may be sending heads at once (the oldest is closed first), so idle or
slow sockets cannot hold the server or use up its file descriptors.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from agent.errors import AgentError
from agent.server.errors import error_body

__all__ = ["RunningServer", "ServerStartError", "bind", "running_server", "serve"]

BACKLOG = 2048  # uvicorn's default
GRACEFUL_SHUTDOWN_SECONDS = 10  # then requests still waiting for the model are cut off
HEADER_SECONDS = 10.0  # a new connection's time to send its request line and headers
HEAD_LIMIT = 256  # connections per server still sending their request head; then oldest closed
_HEAD_BODY = json.dumps(
    error_body(
        408, f"the request head did not arrive within {HEADER_SECONDS:.0f} s", "request_timeout"
    )
).encode()
HEAD_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    + f"content-length: {len(_HEAD_BODY)}\r\n\r\n".encode()
    + _HEAD_BODY
)
_HEADS: weakref.WeakKeyDictionary[Any, dict[_Connection, None]] = weakref.WeakKeyDictionary()


class _Stopped(Exception):
    """SIGTERM, turned into an exception so that cleanup code runs."""


class ServerStartError(AgentError):
    """The server cannot listen where it was asked to (port in use, unknown host)."""


@dataclass(frozen=True)
class RunningServer:
    """A server started by `running_server`, reachable at `url`."""

    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def serve(
    app: Any, sock: socket.socket, *, on_exit: Callable[[], None] | None = None, **options: Any
) -> None:
    """Serve `app` on a socket from `bind` until SIGINT/SIGTERM; `options` go to uvicorn.

    `on_exit` runs as soon as the signal arrives, before uvicorn stops accepting and waits (at
    most GRACEFUL_SHUTDOWN_SECONDS) for the open requests: the engine answers them then. After
    its shutdown uvicorn raises the signal again for the previous handlers (KeyboardInterrupt
    for SIGINT, death for SIGTERM); both end up here as a normal return, so the caller's
    cleanup runs. Call from the main thread (signals are only delivered there).
    """

    def stopped(signum: int, frame: object) -> None:
        raise _Stopped

    previous = signal.signal(signal.SIGTERM, stopped)
    try:
        _Server(_config(app, options), on_exit).run(sockets=[sock])
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def running_server(
    app: Any, host: str = "127.0.0.1", port: int = 0, **options: Any
) -> Iterator[RunningServer]:
    """Serve `app` in a background thread for the duration of the block."""
    sock = bind(host, port)
    server = _Server(_config(app, {"log_level": "warning", **options}), None)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="http-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise ServerStartError(f"the server on {host}:{port} did not start")
        time.sleep(0.01)
    try:
        yield RunningServer(host, sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


def bind(host: str, port: int) -> socket.socket:
    """A socket listening on (host, port), for uvicorn to accept on."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as error:
        raise ServerStartError(f"cannot listen on {host}:{port}: {error}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)  # from now on clients wait in the backlog until uvicorn accepts
    except OSError as error:
        sock.close()
        raise ServerStartError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, telling the app's owner of a shutdown before it begins."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None] | None) -> None:
        super().__init__(config)
        self.on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.on_exit is not None and not self.should_exit:
            self.on_exit()
        super().handle_exit(sig, frame)


class _Connection(H11Protocol):
    """An HTTP/1.1 connection whose request head (request line and headers) must be complete
    within HEADER_SECONDS: from the connection's start for its first request, from the first
    byte of each later one (uvicorn's keep-alive timer closes a connection idle between
    requests, and stops at any byte, so it cannot bound a head sent a byte at a time).

    At most HEAD_LIMIT connections of a server may be sending their heads at once; beyond that
    the one that has waited longest is closed, so sockets that trickle bytes cannot use up the
    server's file descriptors. A connection closed for its head gets a 408 first."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._head_timer: asyncio.TimerHandle | None = None
        self._heads = _HEADS.setdefault(self.server_state, {})
        self._await_head()

    def data_received(self, data: bytes) -> None:
        if self._head_timer is None and self.conn.their_state is h11.IDLE:
            self._await_head()  # the first bytes of a later request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the head is complete (or was refused)
            self._head_done()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_done()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._head_timer = self.loop.call_later(HEADER_SECONDS, self._head_too_slow)
        self._heads[self] = None  # kept in the order the heads began
        while len(self._heads) > HEAD_LIMIT:
            next(iter(self._heads))._head_too_slow()

    def _head_done(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._heads.pop(self, None)

    def _head_too_slow(self) -> None:
        self._head_done()
        if not self.transport.is_closing():
            self.transport.write(HEAD_TIMEOUT)
            self.transport.close()


def _config(app: Any, options: dict[str, Any]) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        lifespan="off",
        http=_Connection,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        backlog=BACKLOG,
        **options,
    )
