"""Running the app under uvicorn from Python: blocking for the command, in a thread for tests.

The listening socket is bound here, before uvicorn starts, so that a port in use or a bad host
is a clear `ServerStartError` (uvicorn would log and exit the process), and so that port 0 gives
the free port the OS chose without a race between finding and binding it.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

from agent.errors import AgentError

__all__ = ["RunningServer", "ServerStartError", "bind", "running_server", "serve"]

BACKLOG = 2048  # uvicorn's default
GRACEFUL_SHUTDOWN_SECONDS = 10  # then requests still waiting for the model are cut off


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


def serve(app: Any, sock: socket.socket, **options: Any) -> None:
    """Serve `app` on a socket from `bind` until SIGINT/SIGTERM; `options` go to uvicorn.

    After its graceful shutdown uvicorn raises the signal again for the previous handlers
    (KeyboardInterrupt for SIGINT, death for SIGTERM); both end up here as a normal return, so
    the caller's cleanup runs. Call from the main thread (signals are only delivered there).
    """

    def stopped(signum: int, frame: object) -> None:
        raise _Stopped

    previous = signal.signal(signal.SIGTERM, stopped)
    try:
        uvicorn.Server(_config(app, options)).run(sockets=[sock])
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
    server = uvicorn.Server(_config(app, {"log_level": "warning", **options}))
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


def _config(app: Any, options: dict[str, Any]) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        lifespan="off",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        backlog=BACKLOG,
        **options,
    )
