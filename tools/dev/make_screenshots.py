"""Render the real screenshots kept in tests/data for tests and benchmarks.

Three kinds of scene, all real renderings rather than synthetic arrays:
- a desktop under Xvfb with openbox and xterm windows full of text, captured with mss;
- a Chromium window (tabs, address bar and page) under Xvfb, captured with mss;
- headless Chromium on local HTML documentation from /usr/share/doc, at 1080p to 4K.

    python -m tools.dev.make_screenshots [--out tests/data]

Needs the Debian packages that tools/install.sh installs (xvfb, openbox, xterm, chromium).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import mss
import mss.tools

from tools.xvfb import TERMINALS, virtual_display

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]

PAGES = [
    ("chromium-xterm-faq", "/usr/share/doc/xterm/xterm.faq.html", (1920, 1080)),
    ("chromium-libffi-index", "/usr/share/doc/libffi8/html/Index.html", (1920, 1080)),
    ("chromium-python-policy", "/usr/share/doc/python3/python-policy.html", (2560, 1440)),
    ("chromium-users-and-groups", "/usr/share/doc/base-passwd/users-and-groups.html", (3840, 2160)),
]


def render_page(html: str, size: tuple[int, int], out: Path) -> None:
    """Headless Chromium screenshot of a local page at size (width, height)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise RuntimeError("chromium is not installed; run tools/install.sh")
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        subprocess.run(
            [
                browser,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={size[0]},{size[1]}",
                f"--screenshot={out}",
                f"file://{html}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )


def render_browser_window(html: str, size: tuple[int, int], out: Path) -> None:
    """A real Chromium window, maximised by openbox on an Xvfb screen, captured with mss."""
    with virtual_display(*size) as env, tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        window = subprocess.Popen(
            chromium_window_command([f"file://{html}"], profile, "--start-maximized"),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(8)
            capture(env, out)
        finally:
            window.terminate()
            window.wait(timeout=10)


def chromium_window_command(urls: list[str], profile: str, *flags: str) -> list[str]:
    """Command line of a windowed Chromium (tabs, address bar) opening urls, one tab each.

    Shared with tools/dev/make_corpus.py, which opens such windows on desktops of its own.
    """
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise RuntimeError("chromium is not installed; run tools/install.sh")
    windowed = [flag for flag in CHROMIUM_FLAGS if flag not in ("--headless", "--hide-scrollbars")]
    return [browser, *windowed, f"--user-data-dir={profile}", "--test-type", *flags, *urls]


def capture(env: dict[str, str], out: Path) -> None:
    """Screenshot of the whole virtual screen with mss, as the agent will take it."""
    os.environ.update(DISPLAY=env["DISPLAY"], XAUTHORITY=env["XAUTHORITY"])
    with mss.MSS() as grabber:
        shot = grabber.grab(grabber.monitors[1])
        mss.tools.to_png(shot.rgb, shot.size, output=str(out))


def render_desktop(size: tuple[int, int], out: Path) -> None:
    """Xvfb desktop with openbox and xterms showing text, captured with mss."""
    with virtual_display(*size) as env:
        terms = [
            subprocess.Popen(
                ["xterm", "-geometry", geometry, "-e", "sh", "-c", f"{cmd}; sleep 60"], env=env
            )
            for geometry, cmd in TERMINALS
        ]
        try:
            time.sleep(2.5)
            capture(env, out)
        finally:
            for term in terms:
                term.terminate()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[2] / "tests" / "data"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    render_desktop((1920, 1080), args.out / "desktop-xterm-1920x1080.png")
    render_browser_window(
        "/usr/share/doc/python3/python-policy.html",
        (1920, 1080),
        args.out / "window-chromium-1920x1080.png",
    )
    for name, html, size in PAGES:
        render_page(html, size, args.out / f"{name}-{size[0]}x{size[1]}.png")
    for path in sorted(args.out.glob("*.png")):
        print(f"{path.name}: {path.stat().st_size / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
