"""A private Xvfb display with its own Xauthority file, for tools that render real windows,
and the terminal windows the loop benchmark and the screenshot generator open on it.

python-xlib (under pyautogui) refuses a display without an Xauthority entry, so we always make
one; `-displayfd` lets the server pick a free display number instead of guessing one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tools.processes import stop_processes

__all__ = ["TERMINALS", "on_display", "qt_on_x11", "virtual_display"]

# xterm geometry and the command it shows: the text-heavy desktop of tests/data and bench_loop
TERMINALS = [
    ("110x48+10+10", "ls -l /usr/share/doc | head -46"),
    (
        "90x30+880+300",
        "fold -w 88 /usr/share/doc/xterm/README.Debian* 2>/dev/null | head -28; "
        "python3 -c 'import this' | head -12",
    ),
]


@contextmanager
def virtual_display(
    width: int, height: int, *, window_manager: bool = True
) -> Iterator[dict[str, str]]:
    """Start Xvfb (and openbox) at width x height; yields the env for programs to run on it."""
    for program in ("Xvfb", "xauth", "mcookie"):
        if shutil.which(program) is None:
            raise RuntimeError(f"{program} is not installed; run tools/install.sh")
    workdir = Path(tempfile.mkdtemp(prefix="xvfb-"))
    auth = workdir / "Xauthority"
    auth.touch()
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(
        [
            "Xvfb",
            "-displayfd",
            str(write_fd),
            "-screen",
            "0",
            f"{width}x{height}x24",
            "-auth",
            str(auth),
            "-nolisten",
            "tcp",
            "-noreset",
        ],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    helpers: list[subprocess.Popen] = []
    try:
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not start")
        display = f":{number}"
        cookie = subprocess.run(["mcookie"], capture_output=True, text=True, check=True).stdout
        subprocess.run(["xauth", "-f", str(auth), "add", display, ".", cookie.strip()], check=True)
        env = {**os.environ, "DISPLAY": display, "XAUTHORITY": str(auth)}
        if window_manager and shutil.which("openbox"):
            helpers.append(
                subprocess.Popen(
                    ["openbox"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )
            time.sleep(0.5)
        yield env
    finally:
        stop_processes(helpers, timeout=5)  # the window manager before its display
        stop_processes([server], timeout=5)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def on_display(env: dict[str, str]) -> Iterator[None]:
    """Point this process's X clients (mss) at the private display while the block runs."""
    names = ("DISPLAY", "XAUTHORITY")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({name: env[name] for name in names})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def qt_on_x11(env: dict[str, str]) -> dict[str, str]:
    """`env` for a Qt child on the X display at scale 1, so its window pixels are the screen's
    (a user's scale settings would otherwise resize what a test or a picture compares)."""
    env = {k: v for k, v in env.items() if not k.startswith(("QT_SCALE", "QT_SCREEN_SCALE"))}
    env.pop("QT_AUTO_SCREEN_SCALE_FACTOR", None)
    return {**env, "QT_QPA_PLATFORM": "xcb", "QT_ENABLE_HIGHDPI_SCALING": "0"}
