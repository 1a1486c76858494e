"""The kill hotkey on GNOME: a custom keyboard shortcut the agent adds for the run.

    with GnomeShortcut("ctrl+shift+f12", stop.set):   # in Settings › Keyboard while it lasts
        run_agent()

Wayland gives no client a global key grab. GNOME's own custom shortcuts work whatever has
focus: gnome-settings-daemon's media-keys plugin has gnome-shell grab them and runs their
command. The agent adds one, as Settings › Keyboard › Custom Shortcuts would, whose command
touches a file only this run watches (a stale shortcut left by a killed run touches a file no
one watches: it can stop nothing else), and removes it when the run ends; shortcuts that dead
runs left behind are removed at the next start. The settings are written with `gsettings`.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from agent.errors import HotkeyError
from agent.hotkey import Combo, parse_combo
from agent.wayland.bus import name_on_bus

__all__ = ["MEDIA_KEYS", "GnomeShortcut", "gnome_accelerator"]

MEDIA_KEYS = "org.gnome.settings-daemon.plugins.media-keys"
MEDIA_KEYS_BUS = "org.gnome.SettingsDaemon.MediaKeys"  # the plugin that runs custom shortcuts
CUSTOM = f"{MEDIA_KEYS}.custom-keybinding"
SHORTCUTS_PATH = "/org/gnome/settings-daemon/plugins/media-keys/custom-keybindings/"
PREFIX = "pixelprune-agent-"  # our shortcuts' dconf names: PREFIX + pid
POLL_SECONDS = 0.1
GSETTINGS_SECONDS = 10.0
ACCELERATOR_MODIFIERS = {
    "ctrl": "<Control>",
    "shift": "<Shift>",
    "alt": "<Alt>",
    "super": "<Super>",
}


def gnome_accelerator(combo: Combo) -> str:
    """The combo in GNOME's accelerator spelling, e.g. "<Control><Shift>F12"."""
    order = ("ctrl", "shift", "alt", "super")
    return "".join(ACCELERATOR_MODIFIERS[m] for m in order if m in combo.modifiers) + combo.key


class GnomeShortcut:
    """Calls `callback` (on a daemon thread) each time GNOME runs the run's custom shortcut."""

    def __init__(self, combo: str, callback: Callable[[], None]) -> None:
        """HotkeyError at once when GNOME's shortcuts cannot be set or run in this session
        (so a run refuses before it loads a model or asks for anything)."""
        self.combo = parse_combo(combo)
        if shutil.which("gsettings") is None:
            raise HotkeyError("gsettings is not installed, and GNOME's shortcuts are set with it")
        if not media_keys_running():
            raise HotkeyError(
                "gnome-settings-daemon's media-keys plugin, which runs GNOME's custom "
                "shortcuts, is not running in this session"
            )
        self._callback = callback
        runtime = Path(os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/pixelprune-{os.getuid()}")
        self._trigger = runtime / "pixelprune-agent" / f"stop-{os.getpid()}-{id(self):x}"
        self._path = f"{SHORTCUTS_PATH}{PREFIX}{os.getpid()}/"
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def trigger(self) -> Path:
        """The file the shortcut's command touches."""
        return self._trigger

    def start(self) -> None:
        """Add the shortcut (HotkeyError when the settings cannot be written)."""
        self._trigger.parent.mkdir(parents=True, exist_ok=True)
        self._trigger.unlink(missing_ok=True)
        shortcuts = [p for p in _shortcut_paths() if not _left_by_a_dead_run(p)]
        for stale in set(_shortcut_paths()) - set(shortcuts):
            _reset(stale)
        relocated = f"{CUSTOM}:{self._path}"
        _gsettings("set", relocated, "name", f"Stop the PixelPrune agent (run {os.getpid()})")
        _gsettings("set", relocated, "command", f"touch {self._trigger}")
        _gsettings("set", relocated, "binding", gnome_accelerator(self.combo))
        _gsettings("set", MEDIA_KEYS, "custom-keybindings", repr([*shortcuts, self._path]))
        self._stopping.clear()
        self._thread = threading.Thread(target=self._watch, name="gnome-shortcut", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Remove the shortcut and stop watching."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        try:
            remaining = [p for p in _shortcut_paths() if p != self._path]
            _gsettings("set", MEDIA_KEYS, "custom-keybindings", repr(remaining))
            _reset(self._path)
        except HotkeyError:
            pass  # the session is gone: nothing left to remove it from
        self._trigger.unlink(missing_ok=True)

    def __enter__(self) -> GnomeShortcut:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _watch(self) -> None:
        while not self._stopping.wait(POLL_SECONDS):
            if self._trigger.exists():
                self._trigger.unlink(missing_ok=True)
                self._callback()


def media_keys_running() -> bool:
    """Whether gnome-settings-daemon's media-keys plugin is on this session's bus."""
    return name_on_bus(os.environ, MEDIA_KEYS_BUS)


def _shortcut_paths() -> list[str]:
    listed = ast.literal_eval(
        _gsettings("get", MEDIA_KEYS, "custom-keybindings").removeprefix("@as ")
    )
    return [str(p) for p in listed]


def _left_by_a_dead_run(path: str) -> bool:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    if not name.startswith(PREFIX) or not name[len(PREFIX) :].isdigit():
        return False  # the user's own shortcut
    return not Path(f"/proc/{name[len(PREFIX) :]}").exists()


def _reset(path: str) -> None:
    for key in ("name", "command", "binding"):
        _gsettings("reset", f"{CUSTOM}:{path}", key)


def _gsettings(*arguments: str) -> str:
    try:
        done = subprocess.run(
            ["gsettings", *arguments],
            capture_output=True,
            text=True,
            timeout=GSETTINGS_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise HotkeyError(f"gsettings {arguments[0]} failed: {error}") from error
    if done.returncode != 0:
        reason = done.stderr.strip() or f"exit {done.returncode}"
        raise HotkeyError(f"cannot set GNOME's custom shortcut: {reason}")
    return done.stdout.strip()
