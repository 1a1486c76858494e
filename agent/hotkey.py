"""A global kill hotkey on X11: stops the agent while any other window has the keyboard focus.

    with GlobalHotkey(DEFAULT_KILL_HOTKEY, stop_requested.set):
        run_agent()

The agent clicks and types into other programs, so its own window rarely has focus and a Qt
shortcut would never fire. `XGrabKey` on the root window makes the X server hand the combo to
us wherever the focus is (and keeps it from the focused program). The grab is made for each
NumLock/CapsLock state too, because X matches modifier masks exactly.

X11 only: under Wayland (without an X display), Windows and macOS `start()` raises HotkeyError;
FAILSAFE (mouse to a screen corner) and `stop()` of the agent still work there.
"""

from __future__ import annotations

import contextlib
import functools
import select
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from agent.errors import HotkeyError

__all__ = ["DEFAULT_KILL_HOTKEY", "Combo", "GlobalHotkey", "parse_combo"]

# Ctrl+Shift+F12 is bound by no common desktop or application by default. Ctrl+Alt+F-keys switch
# virtual terminals on Linux, bare F-keys and Ctrl+F-keys are taken by browsers and IDEs, and
# Super combos by desktop shells.
DEFAULT_KILL_HOTKEY = "ctrl+shift+f12"

_MODIFIERS = {
    "ctrl": "ctrl",
    "control": "ctrl",
    "ctl": "ctrl",
    "shift": "shift",
    "alt": "alt",
    "super": "super",
    "win": "super",
}
_MODIFIER_ORDER = ("ctrl", "shift", "alt", "super")
_KEY_ALIASES = {
    "esc": "Escape",
    "enter": "Return",
    "del": "Delete",
    "ins": "Insert",
    "pgup": "Prior",
    "pgdn": "Next",
    "pgdown": "Next",
}
_UNAVAILABLE = (
    "the kill hotkey is unavailable here (it needs an X11 display: not Wayland without "
    "XWayland, Windows or macOS); FAILSAFE (move the mouse to a screen corner) and stop() "
    "still work"
)
_POLL_SECONDS = 0.1  # how long the listener waits on the X socket before looking at stop()


@dataclass(frozen=True)
class Combo:
    """A parsed hotkey: modifier names from ctrl/shift/alt/super and one X keysym name."""

    modifiers: frozenset[str]
    key: str  # X keysym name, e.g. "F12", "a", "Escape"

    def __str__(self) -> str:
        return "+".join([*(m for m in _MODIFIER_ORDER if m in self.modifiers), self.key])


def parse_combo(text: str) -> Combo:
    """Parses "ctrl+shift+f12" (case-insensitive; control/ctl, win aliases) into a Combo."""
    parts = [part.strip().lower() for part in text.split("+")]
    if not text.strip() or any(not part for part in parts):
        raise HotkeyError(f"hotkey {text!r} is malformed; write it like {DEFAULT_KILL_HOTKEY!r}")
    modifiers = {_MODIFIERS[p] for p in parts if p in _MODIFIERS}
    keys = [p for p in parts if p not in _MODIFIERS]
    if len(keys) != 1:
        raise HotkeyError(
            f"hotkey {text!r} needs exactly one key besides the modifiers "
            f"({', '.join(_MODIFIER_ORDER)}), got {len(keys)}"
        )
    key = _KEY_ALIASES.get(keys[0]) or _keysym_names().get(keys[0])
    if key is None:
        raise HotkeyError(
            f"unknown key {keys[0]!r} in hotkey {text!r}; use an X keysym name such as "
            "f12, escape, pause, a or 1"
        )
    return Combo(frozenset(modifiers), key)


class GlobalHotkey:
    """Calls `callback` (on a daemon thread) each time the combo is pressed, whatever has focus.

    The callback should be quick and idempotent (holding the keys auto-repeats); an exception
    from it ends the listener and goes to `threading.excepthook`. `display` is an X display
    name; None lets python-xlib read $DISPLAY. The constructor raises HotkeyError for a bad
    combo, and where python-xlib is missing (Windows, macOS); start() for the rest.
    """

    def __init__(
        self, combo: str, callback: Callable[[], None], *, display: str | None = None
    ) -> None:
        self.combo = parse_combo(combo)
        self._callback = callback
        self._display_name = display
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """True while the grab is held and the listener thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Grabs the combo and starts listening; HotkeyError says why it cannot."""
        if self.running:
            return
        display = _open_display(self._display_name)
        try:
            grabs = _grab(display, self.combo)
        except BaseException:
            display.close()
            raise
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._listen, args=(display, grabs), name=f"hotkey {self.combo}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Ungrabs, closes the connection and waits for the thread; safe to call twice."""
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def __enter__(self) -> GlobalHotkey:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _listen(self, display: Any, grabs: list[tuple[Any, int, int]]) -> None:
        from Xlib import X
        from Xlib.error import ConnectionClosedError

        try:
            while not self._stopping.is_set():
                select.select([display.fileno()], [], [], _POLL_SECONDS)
                # pending_events() also reads what arrived; events queued earlier are seen too.
                while display.pending_events() and not self._stopping.is_set():
                    if display.next_event().type == X.KeyPress:
                        self._callback()
        except ConnectionClosedError:
            pass  # the X server went away, and the grab with it
        finally:
            with contextlib.suppress(ConnectionClosedError):
                _ungrab(display, grabs)
                display.close()


def _open_display(name: str | None) -> Any:
    """An Xlib Display, or HotkeyError saying the hotkey is unavailable and what still works."""
    if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        raise HotkeyError(f"{sys.platform}: {_UNAVAILABLE}")
    try:
        from Xlib import error
        from Xlib.display import Display
    except ImportError as exc:
        raise HotkeyError(f"python-xlib is not installed: {_UNAVAILABLE}") from exc
    try:
        return Display(name)
    except (error.DisplayError, error.XauthError, error.XNoAuthError, OSError) as exc:
        shown = name if name is not None else "$DISPLAY"
        raise HotkeyError(f"cannot open X display {shown} ({exc}): {_UNAVAILABLE}") from exc


def _grab(display: Any, combo: Combo) -> list[tuple[Any, int, int]]:
    """Grabs combo on every screen's root, with each lock state; returns (root, key, mask)."""
    from Xlib import XK, X, error

    keycode = display.keysym_to_keycode(XK.string_to_keysym(combo.key))
    if keycode == 0:
        raise HotkeyError(f"no key on this keyboard layout gives {combo.key!r} (hotkey {combo})")
    masks = {"ctrl": X.ControlMask, "shift": X.ShiftMask, "alt": X.Mod1Mask, "super": X.Mod4Mask}
    base = functools.reduce(int.__or__, (masks[m] for m in combo.modifiers), 0)
    numlock = _numlock_mask(display)
    catcher = error.CatchError(error.BadAccess)
    grabs = [
        (display.screen(number).root, keycode, base | lock)
        for number in range(display.screen_count())
        for lock in dict.fromkeys((0, numlock, X.LockMask, numlock | X.LockMask))
    ]
    for root, key, mask in grabs:
        root.grab_key(key, mask, True, X.GrabModeAsync, X.GrabModeAsync, onerror=catcher)
    display.sync()  # errors arrive asynchronously; this round trip makes them arrive now
    if catcher.get_error() is not None:
        _ungrab(display, grabs)
        raise HotkeyError(
            f"hotkey {combo} is already grabbed by another program (a desktop shortcut or "
            "another agent); choose a different kill hotkey"
        )
    return grabs


def _ungrab(display: Any, grabs: list[tuple[Any, int, int]]) -> None:
    """Releases our grabs; ungrabbing one held by another client is ignored by X, not an error."""
    for root, key, mask in grabs:
        root.ungrab_key(key, mask)
    display.sync()


def _numlock_mask(display: Any) -> int:
    """The modifier bit NumLock is mapped to (Mod2 on nearly every layout)."""
    from Xlib import XK, X

    keycode = display.keysym_to_keycode(XK.XK_Num_Lock)
    for index, keycodes in enumerate(display.get_modifier_mapping()):
        if keycode and keycode in keycodes:
            return 1 << index
    return int(X.Mod2Mask)


@functools.cache
def _keysym_names() -> dict[str, str]:
    """Lower-case name → X keysym name, from the keysym groups python-xlib loads (latin1,
    miscellany); the lower-case spelling wins where two differ only in case ("a" over "A")."""
    try:
        from Xlib import XK
    except ImportError as exc:
        raise HotkeyError(f"python-xlib is not installed: {_UNAVAILABLE}") from exc
    names: dict[str, str] = {}
    for attribute in vars(XK):
        if attribute.startswith("XK_"):
            name = attribute[3:]
            if name.lower() not in names or name == name.lower():
                names[name.lower()] = name
    return names
