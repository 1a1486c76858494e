"""Stand-ins for the screen, for loop and executor tests that must not touch a display.

`FakeScreen` has the pyautogui functions the executor calls and records them; `StillCapture`
returns the same screenshot on every grab. End-to-end tests on the real Xvfb display use the
real pyautogui and mss instead (tests/test_agent_desktop.py).
"""

from __future__ import annotations

import string
import threading
from dataclasses import dataclass, field

from PIL import Image

from agent.capture import Screenshot
from agent.coords import Monitor


class FakeFailSafe(Exception):
    """Plays pyautogui.FailSafeException."""


@dataclass
class FakeScreen:
    """Records calls as (name, args, kwargs minus _pause); raises FAILSAFE when told to."""

    calls: list[tuple] = field(default_factory=list)
    fail_safe: bool = False
    FailSafeException: type = FakeFailSafe

    def _record(self, name: str, *args, **kwargs) -> None:
        if self.fail_safe:
            raise FakeFailSafe("corner")
        kwargs.pop("_pause", None)
        self.calls.append((name, args, kwargs))

    def isValidKey(self, key: str) -> bool:
        return key in string.printable

    def __getattr__(self, name: str):
        if name in (
            "click",
            "moveTo",
            "mouseDown",
            "mouseUp",
            "hotkey",
            "press",
            "scroll",
            "hscroll",
        ):
            return lambda *args, **kwargs: self._record(name, *args, **kwargs)
        raise AttributeError(name)

    def typed(self) -> str:
        return "".join(args[0] for name, args, _ in self.calls if name == "press")


class StillCapture:
    """Grabs return a fixed image on a fixed monitor; counts grabs."""

    def __init__(self, image: Image.Image, monitor: Monitor | None = None) -> None:
        self.image = image
        self.monitor = monitor or Monitor(0, 0, image.width, image.height)
        self.grabs = 0
        self.lock = threading.Lock()

    def grab(self) -> Screenshot:
        with self.lock:
            self.grabs += 1
        return Screenshot(self.image.copy(), self.monitor, 0.001)
