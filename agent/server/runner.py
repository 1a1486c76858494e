"""Running the app under uvicorn from Python: blocking for the command, in a thread for tests.

    with bind("127.0.0.1", 0) as sock:
        serve(app, sock, on_exit=engine.shutdown)      # until SIGINT/SIGTERM

The socket is bound before uvicorn starts, so a port in use is a clear `ServerStartError`.
A connection must complete its request headers within HEADER_SECONDS (and idles at most
uvicorn's keep-alive between requests), so idle or slow sockets cannot hold the server.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from agent.errors import AgentError

__all__ = ["RunningServer", "ServerStartError", "bind", "running_server", "serve"]

BACKLOG = 2048  # uvicorn's default
GRACEFUL_SHUTDOWN_SECONDS = 10  # then requests still waiting for the model are cut off
HEADER_SECONDS = 10.0  # a new connection's time to send its request line and headers


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
    """An HTTP/1.1 connection that is closed unless its first request's headers arrive within
    HEADER_SECONDS: uvicorn's own keep-alive timer, armed when the connection opens (uvicorn
    disarms it when a request's headers are complete and re-arms it after each answer)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self.timeout_keep_alive_task = self.loop.call_later(
            HEADER_SECONDS, self.timeout_keep_alive_handler
        )


def _config(app: Any, options: dict[str, Any]) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        lifespan="off",
        http=_Connection,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        backlog=BACKLOG,
        **options,
    )
