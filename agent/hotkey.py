"""A global kill hotkey: stops the agent while any other window has the keyboard focus.

    with GlobalHotkey(DEFAULT_KILL_HOTKEY, stop_requested.set):
        run_agent()

The agent clicks and types into other programs, so its own window rarely has focus and a Qt
shortcut would never fire. On X11 `XGrabKey` on the root window makes the X server hand the
combo to us wherever the focus is, and keeps it from the focused program (grabbed for each
NumLock/CapsLock state, as X matches masks exactly). On Windows and macOS pynput's global
hotkey listener hears it (macOS: the terminal needs the Accessibility permission); pynput
cannot grab one combo on X11 without grabbing the whole keyboard, so X11 keeps the grab.
Under Wayland without XWayland `start()` raises HotkeyError; FAILSAFE and `stop()` still work.
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
from typing import Any, Literal

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
# key names a hotkey may use → (X keysym name, pynput `Key` name; None: a character key)
_NAMED_KEYS: dict[str, tuple[str, str]] = {
    "escape": ("Escape", "esc"),
    "esc": ("Escape", "esc"),
    "return": ("Return", "enter"),
    "enter": ("Return", "enter"),
    "tab": ("Tab", "tab"),
    "space": ("space", "space"),
    "backspace": ("BackSpace", "backspace"),
    "delete": ("Delete", "delete"),
    "del": ("Delete", "delete"),
    "insert": ("Insert", "insert"),
    "ins": ("Insert", "insert"),
    "home": ("Home", "home"),
    "end": ("End", "end"),
    "prior": ("Prior", "page_up"),
    "pageup": ("Prior", "page_up"),
    "pgup": ("Prior", "page_up"),
    "next": ("Next", "page_down"),
    "pagedown": ("Next", "page_down"),
    "pgdn": ("Next", "page_down"),
    "pgdown": ("Next", "page_down"),
    "pause": ("Pause", "pause"),
    "print": ("Print", "print_screen"),
    "scroll_lock": ("Scroll_Lock", "scroll_lock"),
    "menu": ("Menu", "menu"),
    **{name: (name.capitalize(), name) for name in ("up", "down", "left", "right")},
    **{f"f{n}": (f"F{n}", f"f{n}") for n in range(1, 36)},
}
_PYNPUT_MODIFIERS = {"ctrl": "<ctrl>", "shift": "<shift>", "alt": "<alt>", "super": "<cmd>"}
_UNAVAILABLE = (
    "the kill hotkey is unavailable here (on Linux it needs an X11 display, not Wayland "
    "without XWayland); FAILSAFE (move the mouse to a screen corner) and stop() still work"
)
_POLL_SECONDS = 0.1  # how long the listener waits on the X socket before looking at stop()
STOP_SECONDS = 1.0  # the most stop() waits for pynput's listener thread


@dataclass(frozen=True)
class Combo:
    """A parsed hotkey: modifier names from ctrl/shift/alt/super and one X keysym name."""

    modifiers: frozenset[str]
    key: str  # X keysym name, e.g. "F12", "a", "Escape"

    def __str__(self) -> str:
        return "+".join([*(m for m in _MODIFIER_ORDER if m in self.modifiers), self.key])

    @property
    def pynput(self) -> str:
        """The combo in pynput's `GlobalHotKeys` spelling, e.g. "<ctrl>+<shift>+<f12>"."""
        names = {x_name: pynput for x_name, pynput in _NAMED_KEYS.values()}
        key = f"<{names[self.key]}>" if self.key in names else self.key
        modifiers = [_PYNPUT_MODIFIERS[m] for m in _MODIFIER_ORDER if m in self.modifiers]
        return "+".join([*modifiers, key])


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
    name = keys[0]
    if name in _NAMED_KEYS:
        key = _NAMED_KEYS[name][0]
    elif len(name) == 1 and name.isascii() and name.isalnum():
        key = name
    else:
        raise HotkeyError(
            f"unknown key {name!r} in hotkey {text!r}; use a letter, a digit, f1..f35 or one "
            f"of {', '.join(sorted(n for n in _NAMED_KEYS if not n.startswith('f')))}"
        )
    return Combo(frozenset(modifiers), key)


class GlobalHotkey:
    """Calls `callback` (on a daemon thread) each time the combo is pressed, whatever has focus.

    The callback should be quick and idempotent (holding the keys auto-repeats); an exception
    from it ends the listener and goes to `threading.excepthook`. `display` is an X display
    name; None lets python-xlib read $DISPLAY. `backend`: "x11" (a grab) or "pynput" (a
    listener); None picks "pynput" on Windows and macOS, "x11" elsewhere. The constructor
    raises HotkeyError for a bad combo; start() for the rest.
    """

    def __init__(
        self,
        combo: str,
        callback: Callable[[], None],
        *,
        display: str | None = None,
        backend: Literal["x11", "pynput"] | None = None,
    ) -> None:
        self.combo = parse_combo(combo)
        self.backend = backend or ("pynput" if sys.platform in ("win32", "darwin") else "x11")
        self._callback = callback
        self._display_name = display
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: Any = None  # pynput's GlobalHotKeys, when that backend runs

    @property
    def running(self) -> bool:
        """True while the grab (or pynput's listener) is held and listening."""
        if self._listener is not None:
            return bool(self._listener.is_alive())
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Grabs the combo and starts listening; HotkeyError says why it cannot."""
        if self.running:
            return
        if self.backend == "pynput":
            self._start_pynput()
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
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()
            if listener is not threading.current_thread():
                # its X11 backend may wait for one more event before it sees the stop; it is
                # a daemon thread and hears nothing more, so do not wait for it for long
                listener.join(STOP_SECONDS)
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

    def _start_pynput(self) -> None:
        """pynput's global hotkey listener (Windows, macOS; X11 when asked for)."""
        try:
            from pynput import keyboard
        except Exception as error:  # pynput picks a platform backend at import; it may fail
            raise HotkeyError(f"pynput cannot listen here ({error}): {_UNAVAILABLE}") from None
        try:
            listener = keyboard.GlobalHotKeys({self.combo.pynput: self._callback})
        except ValueError as error:
            raise HotkeyError(f"pynput has no key for hotkey {self.combo} ({error})") from None
        listener.start()
        listener.wait()
        if getattr(listener, "IS_TRUSTED", True) is False:  # macOS without the permission
            listener.stop()
            raise HotkeyError(
                "macOS does not let this program hear keys: allow it under System Settings › "
                "Privacy & Security › Accessibility (and Input Monitoring), then start again"
            )
        self._listener = listener

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
