"""The executor's screen on Wayland: pyautogui's functions over a compositor input session.

    executor = Executor(config, screen=WaylandScreen(session))

`agent.executor.Executor` performs every action through a `screen` with pyautogui's names
(click, mouseDown, moveTo, press, hotkey, scroll, ...). This class gives it those names over a
compositor session (`WlrootsSession`, `MutterSession`), so the executor's modes, stop switch
and secrets work unchanged on Wayland.
Points are layout coordinates with fractions (`subpixel`): on a scaled output a point lands on
its exact device pixel. `isValidKey` asks the session: on wlroots every character is a key of
the session's own keymap, so text is typed, never pasted; on GNOME only the layout's keys are.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from agent.errors import ExecutionError
from agent.wayland.wlroots import BUTTONS

__all__ = ["DRAG_STEPS_PER_SECOND", "CornerReached", "InputSession", "WaylandScreen"]

DRAG_STEPS_PER_SECOND = 60  # pointer updates while a drag moves, as a hand would give


class InputSession(Protocol):
    """What the screen drives: a compositor session (WlrootsSession, MutterSession)."""

    def move(self, x: float, y: float) -> None: ...

    def button(self, name: str, *, pressed: bool) -> None: ...

    def scroll(self, clicks: int, *, horizontal: bool = False) -> None: ...

    def key(self, key: str, *, pressed: bool) -> None: ...

    def typable(self, key: str) -> bool: ...

    def position(self) -> tuple[float, float]: ...

    def corner_reached(self) -> str | None: ...


class CornerReached(ExecutionError):
    """The pointer reached a screen corner: pyautogui's FAILSAFE, on Wayland."""


class WaylandScreen:
    """pyautogui's screen functions, as the executor calls them, on a wlroots session.

    Like pyautogui, each call first checks that the pointer has not reached a screen corner
    (agent.wayland.corners) and raises `FailSafeException` if it has."""

    subpixel = True  # the executor passes points with their fractions
    FailSafeException = CornerReached  # the executor turns it into a stop

    def __init__(self, session: Callable[[], InputSession]) -> None:
        """`session`: returns the run's session (opened on first use, shared with capture)."""
        self._session = session

    def position(self) -> tuple[float, float]:
        return self._session().position()

    def moveTo(self, x: float, y: float, duration: float = 0.0, _pause: bool = False) -> None:
        session = self._checked()
        steps = int(duration * DRAG_STEPS_PER_SECOND)
        if steps > 1:
            start_x, start_y = session.position()
            for step in range(1, steps):
                fraction = step / steps
                session.move(start_x + (x - start_x) * fraction, start_y + (y - start_y) * fraction)
                time.sleep(duration / steps)
        session.move(x, y)

    def click(
        self,
        x: float,
        y: float,
        clicks: int = 1,
        interval: float = 0.0,
        button: str = "left",
        _pause: bool = False,
    ) -> None:
        session = self._checked()
        session.move(x, y)
        for count in range(clicks):
            if count and interval:
                time.sleep(interval)
            session.button(_button(button), pressed=True)
            session.button(_button(button), pressed=False)

    def mouseDown(
        self, x: float | None = None, y: float | None = None, button: str = "left",
        _pause: bool = False,
    ) -> None:  # fmt: skip
        self._checked()
        self._press(x, y, button, pressed=True)

    def mouseUp(
        self, x: float | None = None, y: float | None = None, button: str = "left",
        _pause: bool = False,
    ) -> None:  # fmt: skip
        """Never refused: a button the agent pressed is always released, corner or not."""
        self._press(x, y, button, pressed=False)

    def isValidKey(self, key: str) -> bool:
        """Whether the session types this key (the executor pastes what it cannot)."""
        return self._session().typable(key)

    def press(
        self, key: str, presses: int = 1, interval: float = 0.0, _pause: bool = False
    ) -> None:
        session = self._checked()
        for count in range(presses):
            if count and interval:
                time.sleep(interval)
            session.key(key, pressed=True)
            session.key(key, pressed=False)

    def hotkey(self, *keys: str, _pause: bool = False) -> None:
        """Press the keys in order and release them in reverse, as pyautogui does."""
        session = self._checked()
        pressed: list[str] = []
        try:
            for key in keys:
                session.key(key, pressed=True)
                pressed.append(key)
        finally:
            for key in reversed(pressed):
                session.key(key, pressed=False)

    def scroll(
        self, clicks: int, x: float | None = None, y: float | None = None, _pause: bool = False
    ) -> None:
        """pyautogui's sign: positive scrolls up (Wayland counts down as positive)."""
        self._checked()
        self._at(x, y)
        self._session().scroll(-clicks)

    def hscroll(
        self, clicks: int, x: float | None = None, y: float | None = None, _pause: bool = False
    ) -> None:
        """Positive scrolls right, in pyautogui and Wayland alike."""
        self._checked()
        self._at(x, y)
        self._session().scroll(clicks, horizontal=True)

    def _checked(self) -> InputSession:
        """The session, once the pointer is known to be in no screen corner."""
        session = self._session()
        if corner := session.corner_reached():
            raise CornerReached(f"the pointer reached the {corner} corner of a screen")
        return session

    def _press(self, x: float | None, y: float | None, button: str, *, pressed: bool) -> None:
        self._at(x, y)
        self._session().button(_button(button), pressed=pressed)

    def _at(self, x: float | None, y: float | None) -> None:
        if x is not None and y is not None:
            self._session().move(x, y)


def _button(name: str) -> str:
    if name not in BUTTONS:
        raise ExecutionError(f"no mouse button {name!r} (left, right or middle)")
    return name
