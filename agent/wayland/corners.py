"""FAILSAFE on a wlroots compositor: the pointer in a screen corner stops the run.

    corners = Corners(connection, offered, outputs)     # on the session's connection
    corners.entered()                                    # True once the pointer reached one

pyautogui's FAILSAFE reads the X pointer, and Wayland tells no client where the pointer is.
So the session puts a one-pixel surface in each corner of each output, in the overlay layer
(wlr-layer-shell) and fully transparent, and the compositor says when the pointer enters one:
the user's mouse, or the agent's own pointer, as with pyautogui. The executor's screen asks
before every action, as pyautogui checks before every call; a corner entered since the last
check counts even if the pointer has left it, so a quick flick is not missed. A click on a
corner pixel lands on that surface, never on the window under it.
"""

from __future__ import annotations

import os

from agent.wayland.wire import Connection, Global, Proxy

__all__ = ["ANCHORS", "LAYER_SHELL", "Corners"]

LAYER_SHELL = "zwlr_layer_shell_v1"
OVERLAY = 3  # the layer above fullscreen windows
TOP, BOTTOM, LEFT, RIGHT = 1, 2, 4, 8
ANCHORS = {
    "top left": TOP | LEFT,
    "top right": TOP | RIGHT,
    "bottom left": BOTTOM | LEFT,
    "bottom right": BOTTOM | RIGHT,
}
ARGB8888 = 0  # wl_shm's format 0: the pixel is 0, fully transparent


class Corners:
    """One transparent pixel surface per output corner, reporting when the pointer enters."""

    def __init__(
        self, connection: Connection, offered: dict[str, Global], seat: Proxy, outputs: list[Proxy]
    ):
        """`offered`: the registry's globals (wl_compositor, wl_shm, layer shell); `seat` and
        `outputs`: the session's wl_seat and wl_output proxies. The caller runs a roundtrip
        after."""
        compositor = connection.bind(offered["wl_compositor"], "wl_compositor", 4)
        shm = connection.bind(offered["wl_shm"], "wl_shm", 1)
        shell = connection.bind(offered[LAYER_SHELL], LAYER_SHELL, 1)
        self._buffer = _transparent_pixel(shm)
        self._surfaces: dict[int, str] = {}  # surface id → "top left" etc.
        self._inside: set[int] = set()
        self._reached: str | None = None
        for output in outputs:
            for name, anchor in ANCHORS.items():
                self._add(compositor, shell, output, name, anchor)
        pointer = seat.create("get_pointer")
        pointer.on("enter", self._enter)
        pointer.on("leave", lambda serial, surface: self._inside.discard(surface))

    def entered(self) -> str | None:
        """The corner the pointer is in or has entered since the last call (then forgotten
        unless it is still there), or None."""
        reached = self._reached
        self._reached = None
        if reached is None and self._inside:
            reached = self._surfaces.get(next(iter(self._inside)))
        return reached

    def _add(self, compositor: Proxy, shell: Proxy, output: Proxy, name: str, anchor: int) -> None:
        surface = compositor.create("create_surface")
        layer = shell.create("get_layer_surface", surface, output, OVERLAY, "pixelprune-failsafe")
        layer.request("set_size", 1, 1)
        layer.request("set_anchor", anchor)
        layer.request("set_exclusive_zone", -1)  # in the very corner, whatever panels reserve
        layer.request("set_keyboard_interactivity", 0)

        def configure(serial: int, width: int, height: int) -> None:
            layer.request("ack_configure", serial)
            surface.request("attach", self._buffer, 0, 0)
            surface.request("damage", 0, 0, 1, 1)
            surface.request("commit")

        layer.on("configure", configure)
        layer.on("closed", lambda: None)
        surface.request("commit")  # the first, empty commit asks for a configure
        self._surfaces[surface.id] = name

    def _enter(self, serial: int, surface: int, x: float, y: float) -> None:
        if surface in self._surfaces:
            self._inside.add(surface)
            self._reached = self._surfaces[surface]


def _transparent_pixel(shm: Proxy) -> Proxy:
    """A 1×1 ARGB buffer holding 0 (shared memory, as wl_shm asks)."""
    fd = os.memfd_create("pixelprune-failsafe", os.MFD_CLOEXEC)
    try:
        os.write(fd, b"\0\0\0\0")
        pool = shm.create("create_pool", fd, 4)
        shm.connection.flush()  # the descriptor goes now, so it can be closed
    finally:
        os.close(fd)
    buffer = pool.create("create_buffer", 0, 1, 1, 4, ARGB8888)
    pool.request("destroy")
    return buffer
