"""The one wrapper every screen action passes: kill switch, dry-run, confirm, then pyautogui.

    executor = Executor(ExecutorConfig(mode="confirm"), confirm=ask, stop=switch)
    outcome = executor.perform(action)      # action already mapped to the screen

Modes: `dry-run` logs what would happen and touches nothing; `confirm` asks a callback (the CLI
asks on the terminal, the app shows a dialog) and performs only approved actions; `auto`
performs everything. pyautogui's FAILSAFE stays on: moving the mouse into a screen corner raises
`pyautogui.FailSafeException`, which the loop turns into a stop. The kill switch is checked
before the confirm question, after it (a question a stop ended counts as stopped, not
rejected) and between the parts of an action. Secrets are revealed here, at the last moment,
and only in what is typed. Text with characters no key types (é, 東, 😀) is pasted through the
clipboard, which gets the user's text back afterwards.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from agent.actions import (
    Action,
    CallUser,
    Click,
    Drag,
    Finished,
    Hotkey,
    KeyPress,
    Move,
    Point,
    Scroll,
    Space,
    TypeText,
    Wait,
    describe,
    points_of,
)
from agent.clipboard import PASTE_KEYS, Clipboard, SystemClipboard
from agent.errors import ExecutionError
from agent.secrets import reveal

__all__ = [
    "MODES",
    "ActionStatus",
    "Executor",
    "ExecutorConfig",
    "FailSafeError",
    "Mode",
    "Outcome",
    "StopSwitch",
]

Mode = Literal["dry-run", "confirm", "auto"]
MODES: tuple[Mode, ...] = get_args(Mode)
# what happened to one action
ActionStatus = Literal["performed", "dry-run", "rejected", "stopped", "no-op"]
log = logging.getLogger(__name__)


class FailSafeError(ExecutionError):
    """pyautogui's FAILSAFE fired: the mouse is in a screen corner. The run stops."""


@dataclass(frozen=True)
class ExecutorConfig:
    """How actions reach the screen."""

    mode: Mode = "confirm"
    pause: float = 0.1  # seconds after each action, so the screen can react
    type_interval: float = 0.01  # seconds between typed characters
    drag_seconds: float = 0.3  # how long a drag takes (apps miss instant drags)
    paste_seconds: float = 0.3  # after the paste keys, before the user's clipboard comes back

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ExecutionError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")


@dataclass(frozen=True)
class Outcome:
    """What happened to an action: performed, or why not."""

    performed: bool
    status: ActionStatus
    seconds: float = 0.0


class StopSwitch:
    """A latch that stops the loop before its next action (kill hotkey, stop(), limits)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def trip(self, reason: str) -> None:
        """Stop; the first reason given is kept."""
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def sleep(self, seconds: float) -> bool:
        """Sleep unless stopped first; True when it slept the whole time."""
        return not self._event.wait(seconds)


class Executor:
    """Performs screen actions under the configured mode and the stop switch."""

    def __init__(
        self,
        config: ExecutorConfig | None = None,
        *,
        confirm: Callable[[Action], bool] | None = None,
        stop: StopSwitch | None = None,
        secrets: Mapping[str, str] | None = None,
        screen: Any = None,
        clipboard: Clipboard | None = None,
    ) -> None:
        """`screen`: pyautogui or a stand-in; `clipboard`: what text no key types is pasted
        through (default: the system clipboard)."""
        self.config = config or ExecutorConfig()
        if self.config.mode == "confirm" and confirm is None:
            raise ExecutionError("confirm mode needs a confirm callback (action -> bool)")
        self.confirm = confirm
        self.stop = stop or StopSwitch()
        self.secrets = dict(secrets or {})
        self._screen = screen  # pyautogui or a stand-in with the same functions; lazy
        self.clipboard = clipboard or SystemClipboard()

    def perform(self, action: Action) -> Outcome:
        """Carry the action out if the mode and the stop switch allow it."""
        start = time.perf_counter()
        for point in points_of(action).values():
            if point.space is not Space.SCREEN:
                raise ExecutionError(f"{describe(action)}: point is not mapped to the screen")
        if isinstance(action, (Finished, CallUser)):
            return Outcome(False, "no-op")
        if self.stop.is_set():
            return Outcome(False, "stopped")
        secret_values = tuple(self.secrets.values())
        text = describe(action, secrets=secret_values)
        if self.config.mode == "dry-run":
            log.info("dry-run: %s", text)
            return Outcome(False, "dry-run")
        if self.config.mode == "confirm" and self.confirm is not None:
            approved = self.confirm(action)
            if self.stop.is_set():  # a stop ends the question "no": the run stopped, not refused
                return Outcome(False, "stopped")
            if not approved:
                log.info("rejected: %s", text)
                return Outcome(False, "rejected")
        log.info("perform: %s", text)
        screen = self._pyautogui()
        failsafe = getattr(screen, "FailSafeException", ())
        try:
            performed = self._perform(screen, action)
        except failsafe as error:
            raise FailSafeError(
                "FAILSAFE: the mouse is in a screen corner, so the agent stopped"
            ) from error
        if performed and self.config.pause:
            self.stop.sleep(self.config.pause)
        return Outcome(
            performed, "performed" if performed else "stopped", time.perf_counter() - start
        )

    def _perform(self, screen: Any, action: Action) -> bool:
        match action:
            case Click(point=point, button=button, hold=hold) if hold:
                screen.mouseDown(*self._xy(point), button=button, _pause=False)
                try:
                    self.stop.sleep(hold)  # a stop cuts the press short, never leaves it down
                finally:
                    screen.mouseUp(*self._xy(point), button=button, _pause=False)
            case Click(point=point, button=button, count=count):
                screen.click(
                    *self._xy(point),
                    clicks=count,
                    interval=0.05,
                    button=button,
                    _pause=False,
                )
            case Drag(start=start, end=end, button=button):
                if start is not None:
                    screen.moveTo(*self._xy(start), _pause=False)
                screen.mouseDown(button=button, _pause=False)
                try:
                    screen.moveTo(*self._xy(end), duration=self.config.drag_seconds, _pause=False)
                finally:
                    screen.mouseUp(*self._xy(end), button=button, _pause=False)
            case Move(point=point):
                screen.moveTo(*self._xy(point), _pause=False)
            case TypeText(text=text, point=point):
                text = reveal(text, self.secrets)
                if point is not None:
                    screen.click(*self._xy(point), _pause=False)
                if all(screen.isValidKey(character) for character in text):
                    return self._type(screen, text)
                return self._paste(screen, text)
            case Hotkey(keys=keys):
                screen.hotkey(*keys, _pause=False)
            case KeyPress(key=key, presses=presses):
                screen.press(key, presses=presses, interval=0.05, _pause=False)
            case Scroll(direction=direction, amount=amount, point=point):
                self._scroll(screen, direction, amount, point)
            case Wait(seconds=seconds):
                return self.stop.sleep(seconds)
            case _:
                raise ExecutionError(f"no way to perform {type(action).__name__}")
        return True

    def _paste(self, screen: Any, text: str) -> bool:
        """Text with characters no key types (é, 東, 😀), pasted whole through the clipboard;
        the user's clipboard text is put back afterwards (pyautogui would skip them silently)."""
        saved = self.clipboard.read()
        self.clipboard.write(text)
        try:
            screen.hotkey(*PASTE_KEYS, _pause=False)
            self.stop.sleep(self.config.paste_seconds)  # the application reads it after the keys
        finally:
            self.clipboard.write(saved or "")
        return True

    def _type(self, screen: Any, text: str) -> bool:
        """Type character by character so the stop switch can cut a long text short."""
        for character in text:
            if self.stop.is_set():
                return False
            screen.press(character, _pause=False)
            if self.config.type_interval:
                time.sleep(self.config.type_interval)
        return True

    def _scroll(self, screen: Any, direction: str, amount: int, point: Point | None) -> None:
        position: dict[str, float] = {}
        if point is not None:
            position["x"], position["y"] = self._xy(point)
        # pyautogui: positive scrolls up, and right for hscroll
        sign = 1 if direction in ("up", "right") else -1
        if direction in ("up", "down"):
            screen.scroll(sign * amount, _pause=False, **position)
        else:
            screen.hscroll(sign * amount, _pause=False, **position)

    def _xy(self, point: Point) -> tuple[float, float]:
        """A point as the screen takes it: whole pixels for pyautogui (X11 has no finer
        pointer), with its fractions for a screen that places the pointer finer (Wayland)."""
        if getattr(self._screen, "subpixel", False):
            return point.x, point.y
        return int(point.x), int(point.y)

    def _pyautogui(self) -> Any:
        if self._screen is None:
            try:
                import pyautogui
            except Exception as error:  # no display: Xlib raises on import
                raise ExecutionError(f"cannot control the screen: {error}") from error
            if not pyautogui.FAILSAFE:
                raise ExecutionError(
                    "pyautogui.FAILSAFE was turned off elsewhere in this process; the agent "
                    "refuses to act without it"
                )
            self._screen = pyautogui
        return self._screen
