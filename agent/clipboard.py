"""The system clipboard, for typing text no key can type: `café`, `東京`, emoji.

    clipboard = SystemClipboard()
    saved = clipboard.read()
    clipboard.write("東京")       # then the paste keys; then clipboard.write(saved)

On X11 both selections are set through `xclip` (or `xsel`): CLIPBOARD, which Qt and GTK paste on
Shift+Insert, and PRIMARY, which xterm pastes on Shift+Insert. Elsewhere pyperclip does it.
Only text is kept and restored: a picture on the clipboard is not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Protocol

from agent.errors import ExecutionError

__all__ = ["PASTE_KEYS", "Clipboard", "SystemClipboard"]

TIMEOUT = 5.0  # seconds for one clipboard tool call
# the keys that paste on each platform (Shift+Insert pastes in X11 toolkits and in xterm)
PASTE_KEYS: tuple[str, ...] = (
    ("command", "v") if sys.platform == "darwin" else ("ctrl", "v") if os.name == "nt" else
    ("shift", "insert")
)  # fmt: skip


class Clipboard(Protocol):
    """What the executor pastes through (the system clipboard, or a stand-in in tests)."""

    def read(self) -> str | None:
        """The text on the clipboard; None when it holds none (empty, or not text)."""
        ...

    def write(self, text: str) -> None:
        """Put `text` on the clipboard (`ExecutionError` when the system has no clipboard)."""
        ...


class SystemClipboard:
    """The desktop's clipboard: xclip/xsel on X11 (both selections), pyperclip elsewhere."""

    def read(self) -> str | None:
        if _x11():
            return self._x11_read()
        try:
            import pyperclip

            text = pyperclip.paste()
        except Exception as error:  # pyperclip raises its own exception types per platform
            raise ExecutionError(f"cannot read the clipboard: {error}") from None
        return text or None

    def write(self, text: str) -> None:
        if _x11():
            for selection in ("clipboard", "primary"):
                self._x11_run(_tool("write", selection), text)
            return
        try:
            import pyperclip

            pyperclip.copy(text)
        except Exception as error:
            raise ExecutionError(f"cannot use the clipboard: {error}") from None

    def _x11_read(self) -> str | None:
        done = self._x11_run(_tool("read", "clipboard"), None, check=False)
        if done.returncode != 0:
            return None  # an empty clipboard, or one that holds no text
        return done.stdout.decode("utf-8", errors="replace")

    def _x11_run(
        self, command: list[str], text: str | None, *, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        """Run one tool call. A write's tool stays behind to serve the selection, holding its
        output open: so a write captures nothing (waiting for its output would never end)."""
        writing = text is not None
        try:
            done = subprocess.run(
                command,
                input=None if text is None else text.encode("utf-8"),
                stdout=subprocess.DEVNULL if writing else subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                timeout=TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise ExecutionError(f"the clipboard tool failed: {error}") from None
        if check and done.returncode != 0:
            raise ExecutionError(f"the clipboard tool {command[0]} failed ({done.returncode})")
        return done


def _x11() -> bool:
    return os.name == "posix" and sys.platform != "darwin" and bool(os.environ.get("DISPLAY"))


def _tool(direction: str, selection: str) -> list[str]:
    """The xclip (or xsel) command that reads or writes one selection."""
    if shutil.which("xclip"):
        if direction == "read":
            return ["xclip", "-selection", selection, "-o"]
        return ["xclip", "-selection", selection, "-i"]
    if shutil.which("xsel"):
        flag = "--clipboard" if selection == "clipboard" else "--primary"
        return ["xsel", flag, "--output" if direction == "read" else "--input"]
    raise ExecutionError(
        "typing this text needs the clipboard, and neither xclip nor xsel is installed "
        "(Debian/Ubuntu: apt install xclip)"
    )
