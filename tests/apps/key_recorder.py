"""Records every byte a terminal sends, for tests that type into a real xterm.

    xterm -e python -m tests.apps.key_recorder OUTFILE

The tty is put in raw mode, so hotkeys arrive as their control bytes (ctrl+a → 0x01,
Enter → 0x0d, Escape → 0x1b) instead of being acted on by the line discipline. Each read is
appended to OUTFILE as raw bytes and flushed at once, and echoed (control bytes as ^A) so a
screenshot shows what was typed. OUTFILE.ready is written first, once raw mode is on, so a test
knows typing can start; it holds xterm's $WINDOWID, to find the window. It ends when the
terminal closes (EOF or SIGHUP).
"""

from __future__ import annotations

import os
import sys
import termios
import tty
from pathlib import Path


def record(out: Path, fd: int = 0) -> None:
    """Appends what arrives on fd to out until EOF; restores the tty mode when done."""
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        with out.open("ab", buffering=0) as sink:
            Path(f"{out}.ready").write_text(os.environ.get("WINDOWID", "0") + "\n")
            while chunk := os.read(fd, 1024):
                sink.write(chunk)
                os.write(fd, echo(chunk))
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def echo(chunk: bytes) -> bytes:
    """What to show for chunk, so the terminal looks typed into on a screenshot: printable
    bytes as they are, Enter as a new line, other control bytes in caret notation (^A)."""
    shown = bytearray()
    for byte in chunk:
        if byte == 0x0D:
            shown += b"\r\n"
        elif byte < 0x20 or byte == 0x7F:
            shown += b"^" + bytes([byte ^ 0x40])
        else:
            shown.append(byte)
    return bytes(shown)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.apps.key_recorder OUTFILE", file=sys.stderr)
        return 2
    try:
        record(Path(argv[0]))
    except (OSError, termios.error):
        return 0  # the terminal went away (EIO on a closed pty): the normal way to end
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
