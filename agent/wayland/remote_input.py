"""Input through a remote-desktop API (Mutter's own, or the desktop portal's): what is common.

    class MutterSession(RemoteInput):
        def _motion(self, output, x, y): ...     # and _button, _axis, _keysym

Both APIs take the same input: absolute pointer motion per monitor stream (in logical pixels
with fractions, from the monitor's top left), buttons by evdev code, wheel notches and keysyms
through the session's keyboard layout, so only that layout's keys are typed (`typable`) and the
executor pastes the rest. Both lose a new session's first event (measured on Mutter 43): the
session warms up first. The subclass says how each call goes on its bus and where the outputs
are (`_outputs`).
"""

from __future__ import annotations

import time

from agent.wayland.keymap import keysym_of, typable_as_keysym
from agent.wayland.wire import WaylandError
from agent.wayland.wlroots import BUTTONS, Output

__all__ = ["WARM_UP_SECONDS", "RemoteInput"]

WHEEL_VERTICAL, WHEEL_HORIZONTAL = 0, 1
WARM_UP_SECONDS = 0.2  # after the warm-up events, before the first real one


class RemoteInput:
    """The input half of a remote-desktop session (agent.wayland.screen drives it)."""

    _outputs: list[Output]
    _position: tuple[float, float] = (0.0, 0.0)
    where = "this session"  # for errors: "(x, y) is on no monitor of ..."

    def outputs(self) -> list[Output]:
        """The monitors in the compositor's layout, top to bottom, left to right."""
        return sorted(self._outputs, key=lambda o: (o.y, o.x))

    def typable(self, key: str) -> bool:
        return typable_as_keysym(key)

    def position(self) -> tuple[float, float]:
        return self._position

    def move(self, x: float, y: float) -> None:
        output = self._output_at(x, y)
        self._motion(output, x - output.x, y - output.y)
        self._position = (x, y)

    def button(self, name: str, *, pressed: bool) -> None:
        self._button(BUTTONS[name], pressed)

    def scroll(self, clicks: int, *, horizontal: bool = False) -> None:
        """`clicks` notches, positive down (or right), as Wayland counts."""
        self._axis(WHEEL_HORIZONTAL if horizontal else WHEEL_VERTICAL, clicks)

    def key(self, key: str, *, pressed: bool) -> None:
        self._keysym(keysym_of(key), pressed)

    def _motion(self, output: Output, x: float, y: float) -> None:
        """Move to (x, y) in `output`'s own logical pixels."""
        raise NotImplementedError

    def _button(self, code: int, pressed: bool) -> None:
        raise NotImplementedError

    def _axis(self, axis: int, clicks: int) -> None:
        raise NotImplementedError

    def _keysym(self, keysym: int, pressed: bool) -> None:
        raise NotImplementedError

    def _output_at(self, x: float, y: float) -> Output:
        for output in self._outputs:
            if output.x <= x < output.x + output.width and output.y <= y < output.y + output.height:
                return output
        raise WaylandError(f"({x:g}, {y:g}) is on no monitor of {self.where}")

    def _warm_up(self) -> None:
        """A motion to the middle of the first monitor and a Shift press and release, then a
        pause: the compositor loses a new session's first event."""
        first = self.outputs()[0]
        middle = (first.x + first.width / 2, first.y + first.height / 2)
        self.move(*middle)
        self.key("shift", pressed=True)
        self.key("shift", pressed=False)
        time.sleep(WARM_UP_SECONDS)
        self.move(*middle)
