"""Render the screenshot corpus (tests/data/corpus): real desktop scenes at 1080p and 1440p.

    python -m tools.dev.make_corpus [--out tests/data/corpus] [--only SCENE ...]
                                [--sizes 1920x1080,2560x1440] [--list]

Each scene is a real Xvfb desktop (openbox, tint2, real programs typed into with xdotool), captured
with mss as the agent captures it; scenes and rules: docs/report.md. Writes <scene>-<W>x<H>.png and
manifest.json; --only updates those entries and keeps the others. Content avoids clocks and dates
(top's header excepted). As root, desktop programs run as `nobody`, the Qt dialogs as the caller.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from Xlib import display as xdisplay

from tools.dev.make_screenshots import capture, chromium_window_command
from tools.processes import stop_processes
from tools.xvfb import virtual_display

ROOT = Path(__file__).resolve().parents[2]

DEFAULT_OUT = ROOT / "tests" / "data" / "corpus"
DEFAULT_SIZES = ((1920, 1080), (2560, 1440))
DESIGN = (1920, 1080)  # layouts are written for this screen and scaled to others
KINDS = ("terminal", "browser", "editor", "calculator", "qt-dialog", "desktop")
WALLPAPER = 0x36587A
# Debian package of each program a scene may need, for the error message when one is missing
PACKAGES = {
    "Xvfb": "xvfb",
    "openbox": "openbox",
    "tint2": "tint2",
    "xdotool": "xdotool",
    "xprop": "x11-utils",
    "xterm": "xterm",
    "chromium": "chromium",
    "mousepad": "mousepad",
    "galculator": "galculator",
    "xedit": "x11-apps",
    "xcalc": "x11-apps",
    "man": "man-db",
    "less": "less",
    "top": "procps",
    "setpriv": "util-linux",
    "python3": "python3",
}
SESSION_PROGRAMS = ("Xvfb", "openbox", "tint2", "xdotool", "xprop")


@dataclass(frozen=True)
class Scene:
    """One desktop scene: what it shows (for the manifest) and how to open its windows."""

    kind: str
    description: str
    programs: tuple[str, ...]
    build: Callable[[Desktop], None]


SCENES: dict[str, Scene] = {}


def render_corpus(
    out: Path, names: list[str], sizes: list[tuple[int, int]], log: Callable[[str], None] = print
) -> list[dict]:
    """Render every named scene at every size into out and update out/manifest.json.

    Each image enters the manifest as soon as it is saved, and a failed capture replaces no
    image, so a run stopped by an error loses nothing. Returns the entries rendered now.
    """
    for name in names:
        for program in (*SESSION_PROGRAMS, *SCENES[name].programs):
            require(program)
    out.mkdir(parents=True, exist_ok=True)
    rendered = []
    for name in names:
        scene = SCENES[name]
        for width, height in sizes:
            path = out / f"{name}-{width}x{height}.png"
            start = time.monotonic()
            with open_desktop((width, height)) as desktop:
                scene.build(desktop)
                desktop.settle(1.0)
                shot = desktop.home / "screen.png"
                capture(desktop.env, shot)
                check_not_blank(shot, path.name)
                Image.open(shot).save(path, optimize=True)
            entry = {
                "file": path.name,
                "scene": name,
                "kind": scene.kind,
                "width": width,
                "height": height,
                "description": scene.description,
            }
            write_manifest(out, [entry])
            rendered.append(entry)
            size_kb = path.stat().st_size / 1e3
            log(f"{path.name}: {size_kb:.0f} kB in {time.monotonic() - start:.1f} s")
    return rendered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the corpus")
    parser.add_argument("--only", nargs="+", metavar="SCENE", help="render only these scenes")
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=list(DEFAULT_SIZES),
        help="comma-separated screen sizes, e.g. 1920x1080,2560x1440",
    )
    parser.add_argument("--list", action="store_true", help="list the scenes and exit")
    parser.add_argument("--qt-dialog", choices=sorted(QT_DIALOGS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.qt_dialog:
        return show_qt_dialog(args.qt_dialog)
    if args.list:
        for name, scene in SCENES.items():
            print(f"{name:24} {scene.kind:11} {scene.description}")
        return 0
    unknown = sorted(set(args.only or []) - set(SCENES))
    if unknown:
        print(f"error: unknown scene(s) {', '.join(unknown)}; see --list", file=sys.stderr)
        return 2
    start = time.monotonic()
    try:
        rendered = render_corpus(args.out, args.only or list(SCENES), args.sizes)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    total = sum(path.stat().st_size for path in args.out.glob("*.png")) / 1e6
    print(
        f"{len(rendered)} images in {time.monotonic() - start:.0f} s; "
        f"{args.out} holds {total:.1f} MB of PNGs"
    )
    return 0


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """'1920x1080,2560x1440' -> [(1920, 1080), (2560, 1440)]."""
    sizes = []
    for item in text.split(","):
        match = re.fullmatch(r"\s*(\d+)x(\d+)\s*", item)
        if not match or min(int(match[1]), int(match[2])) < 480:
            raise argparse.ArgumentTypeError(f"not a screen size like 1920x1080: {item!r}")
        sizes.append((int(match[1]), int(match[2])))
    return sizes


def require(program: str) -> None:
    """Fail with the package to install when a program a scene needs is missing."""
    if shutil.which(program) is None:
        package = PACKAGES.get(program, program)
        raise RuntimeError(
            f"{program} is not installed (Debian package {package}); run tools/install.sh"
        )


def check_not_blank(shot: Path, name: str) -> None:
    """A capture of a few colours means a window never painted: fail rather than keep it."""
    colours = Image.open(shot).convert("RGB").getcolors(maxcolors=64)
    if colours is not None:
        raise RuntimeError(f"{name} would show only {len(colours)} colours: nothing painted?")


def write_manifest(out: Path, rendered: list[dict]) -> None:
    """Merge the entries rendered now into out/manifest.json, in scene order."""
    manifest = out / "manifest.json"
    entries = {entry["file"]: entry for entry in rendered}
    if manifest.exists():
        for entry in json.loads(manifest.read_text()):
            if entry["file"] not in entries and (out / entry["file"]).exists():
                entries[entry["file"]] = entry
    order = list(SCENES)

    def position(entry: dict) -> tuple:
        known = entry["scene"] in SCENES
        return (not known, order.index(entry["scene"]) if known else 0, entry["file"])

    manifest.write_text(json.dumps(sorted(entries.values(), key=position), indent=2) + "\n")


class Desktop:
    """A desktop session on a private display: programs, their windows, keyboard input.

    Positions and sizes are given on the 1920x1080 design screen and scaled to the real one.
    """

    def __init__(self, env: dict[str, str], caller_env: dict[str, str], size: tuple[int, int]):
        self.env = env
        self.caller_env = caller_env
        self.size = size
        self.home = Path(env["HOME"])
        self.processes: list[subprocess.Popen] = []

    def launch(
        self, argv: list[str], *, as_caller: bool = False, settle: float = 0.8, timeout: float = 40
    ) -> str:
        """Start a program and wait for its window; returns the window id."""
        before = self.client_windows()
        command = argv if as_caller or os.geteuid() != 0 else [*drop_root(), *argv]
        self.processes.append(
            subprocess.Popen(
                command,
                env=self.caller_env if as_caller else self.env,
                cwd=self.home,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            new = [window for window in self.client_windows() if window not in before]
            if new:
                self.settle(settle)
                return new[-1]
            if self.processes[-1].poll() is not None:
                raise RuntimeError(f"{argv[0]} exited before opening a window")
            time.sleep(0.1)
        raise RuntimeError(f"{argv[0]} opened no window in {timeout:.0f} s")

    def client_windows(self) -> list[str]:
        """The windows openbox manages, oldest first (EWMH _NET_CLIENT_LIST)."""
        listing = self.xtool("xprop", "-root", "-notype", "_NET_CLIENT_LIST")
        return re.findall(r"0x[0-9a-f]+", listing)

    def place(self, window: str, x: int, y: int, width: int, height: int) -> None:
        """Move and resize a window to a box given on the design screen."""
        sx, sy = self.size[0] / DESIGN[0], self.size[1] / DESIGN[1]
        self.xtool("xdotool", "windowsize", window, str(round(width * sx)), str(round(height * sy)))
        self.xtool("xdotool", "windowmove", window, str(round(x * sx)), str(round(y * sy)))

    def type(self, window: str, text: str, pause: float = 0.6) -> None:
        """Focus a window (raising it) and type text into it; newlines press Return."""
        self.xtool("xdotool", "windowactivate", "--sync", window)
        for line in text.splitlines(keepends=True):
            self.xtool("xdotool", "type", "--delay", "4", line)
            if line.endswith("\n"):
                time.sleep(0.15)  # let the program take the line, as a typist would
        self.settle(pause)

    def key(self, window: str, *keys: str) -> None:
        """Focus a window and press keys (xdotool names, e.g. ctrl+s)."""
        self.xtool("xdotool", "windowactivate", "--sync", window)
        self.xtool("xdotool", "key", *keys)
        self.settle(0.4)

    def wait_for_title(self, window: str, pattern: str, timeout: float = 40) -> None:
        """Wait until the window's title matches (e.g. a page has loaded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.xtool("xdotool", "getwindowname", window)):
                return
            time.sleep(0.2)
        raise RuntimeError(f"window title never matched {pattern!r}")

    def settle(self, seconds: float) -> None:
        """Give the programs time to paint."""
        time.sleep(seconds)

    def xtool(self, *argv: str) -> str:
        """Run an X tool (xdotool, xprop) on this display; its output."""
        result = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
        return result.stdout

    def close(self) -> None:
        """End the programs this desktop started (the display's end would cut them off)."""
        stop_processes(self.processes[::-1])


@contextmanager
def open_desktop(size: tuple[int, int]) -> Iterator[Desktop]:
    """Xvfb and openbox at size, with wallpaper, panel and a fresh home folder."""
    with (
        virtual_display(*size) as display_env,
        tempfile.TemporaryDirectory(prefix="corpus-") as tmp,
    ):
        os.chmod(tmp, 0o711)  # the session user (nobody, under root) must reach its home
        home = Path(tmp) / "home"
        make_home(home, Path(display_env["XAUTHORITY"]))
        env = session_env(display_env["DISPLAY"], home)
        caller_env = {
            **display_env,
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "QT_QPA_PLATFORM": "xcb",
            "LANG": "C.UTF-8",
        }
        set_wallpaper(display_env)
        desktop = Desktop(env, caller_env, size)
        # the pointer rests on the panel's empty end: over a window it would raise tooltips
        desktop.xtool("xdotool", "mousemove", str(size[0] - 1), str(size[1] - 1))
        try:
            desktop.launch(["tint2", "-c", str(home / ".config" / "tint2" / "tint2rc")])
            yield desktop
        finally:
            desktop.close()


def session_env(display: str, home: Path) -> dict[str, str]:
    """A clean login-like environment, so the caller's variables cannot change the pictures."""
    user = "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    return {
        "DISPLAY": display,
        "XAUTHORITY": str(home / ".Xauthority"),
        "HOME": str(home),
        "USER": user,
        "LOGNAME": user,
        "SHELL": "/bin/bash",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "XDG_RUNTIME_DIR": str(home / ".runtime"),
        "GSETTINGS_BACKEND": "keyfile",  # settings from ~/.config/glib-2.0, no dconf daemon
        "NO_AT_BRIDGE": "1",
    }


def drop_root() -> list[str]:
    """Command prefix that runs a program as nobody (used when this script runs as root)."""
    require("setpriv")
    nobody = pwd.getpwnam("nobody")
    return ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]


def make_home(home: Path, xauthority: Path) -> None:
    """The session user's home: shell prompt, app settings, panel, files the editors open."""
    config = home / ".config"
    for folder in (config / "glib-2.0" / "settings", config / "gtk-3.0", config / "tint2"):
        folder.mkdir(parents=True)
    (home / ".runtime").mkdir(mode=0o700)
    shutil.copy(xauthority, home / ".Xauthority")
    (home / ".bashrc").write_text(BASHRC)
    (config / "gtk-3.0" / "settings.ini").write_text("[Settings]\ngtk-cursor-blink=false\n")
    (config / "glib-2.0" / "settings" / "keyfile").write_text(GSETTINGS)
    (config / "tint2" / "tint2rc").write_text(tint2_config())
    shutil.copy(textwrap.__file__, home / "textwrap.py")
    shutil.copy(require_file("/etc/xdg/openbox/rc.xml", "openbox"), home / "rc.xml")
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        for path in [home, *home.rglob("*")]:
            os.chown(path, nobody.pw_uid, nobody.pw_gid)


BASHRC = r"""PS1='\[\e[1;32m\]user@desktop\[\e[0m\]:\[\e[1;34m\]\w\[\e[0m\]\$ '
alias ls='ls --color=auto'
alias grep='grep --color=auto'
HISTFILE=/dev/null
"""

GSETTINGS = """[org/xfce/mousepad/preferences/view]
show-line-numbers=true
color-scheme='tango'
highlight-current-line=true
[org/xfce/mousepad/preferences/window]
statusbar-visible=true
toolbar-visible=true
"""


def tint2_config() -> str:
    """tint2's stock dark panel with launchers and a taskbar, and no clock (pictures stay put)."""
    stock = require_file("/usr/share/tint2/horizontal-dark-opaque.tint2rc", "tint2")
    config = re.sub(r"(?m)^panel_items = .*$", "panel_items = LT", stock.read_text())
    config = re.sub(r"(?m)^taskbar_name = .*$", "taskbar_name = 0", config)
    config = re.sub(r"(?m)^launcher_item_app = .*\n", "", config)
    launchers = ("debian-xterm", "chromium", "org.xfce.mousepad", "galculator")
    return config + "".join(
        f"launcher_item_app = /usr/share/applications/{name}.desktop\n" for name in launchers
    )


def set_wallpaper(env: dict[str, str]) -> None:
    """Paint the root window one colour, as a plain desktop background."""
    os.environ.update(DISPLAY=env["DISPLAY"], XAUTHORITY=env["XAUTHORITY"])
    connection = xdisplay.Display(env["DISPLAY"])
    try:
        root = connection.screen().root
        root.change_attributes(background_pixel=WALLPAPER)
        root.clear_area()
        connection.sync()
    finally:
        connection.close()


def require_file(path: str, package: str) -> Path:
    """A file a scene shows, with the package that provides it when it is missing."""
    found = sorted(Path("/").glob(path.lstrip("/")))
    if not found:
        raise RuntimeError(f"{path} is missing (Debian package {package}); run tools/install.sh")
    return found[0]


def scene(kind: str, description: str, *programs: str) -> Callable:
    """Register a scene function under its name (underscores become hyphens)."""

    def register(build: Callable[[Desktop], None]) -> Callable[[Desktop], None]:
        SCENES[build.__name__.replace("_", "-")] = Scene(kind, description, programs, build)
        return build

    return register


def xterm(title: str = "user@desktop: ~", *, dark: bool = True, font: bool = True) -> list[str]:
    """An xterm running the session's interactive bash; DejaVu Sans Mono unless font=False."""
    argv = ["xterm", "-T", title]
    if font:
        argv += ["-fa", "DejaVu Sans Mono", "-fs", "11"]
    if dark:
        argv += ["-bg", "#1d2021", "-fg", "#d5d0c4", "-cr", "#d5d0c4"]
    return argv


def chromium(desktop: Desktop, urls: list[str], *flags: str) -> str:
    """A Chromium window with one tab per url (the first shown); waits for the page to load."""
    profile = desktop.home / f"chromium-{len(desktop.processes)}"
    command = chromium_window_command(
        urls,
        str(profile),
        "--no-default-browser-check",
        "--password-store=basic",
        *flags,
    )
    window = desktop.launch(command)
    # a page's title once loaded; an error page would be titled with its file: url
    desktop.wait_for_title(window, r"^(?!file:).+ - Chromium$")
    desktop.settle(2.5)
    return window


def doc(pattern: str, package: str, fragment: str = "") -> str:
    """The url of a local documentation page, e.g. doc('xterm/xterm.faq.html', 'xterm')."""
    url = require_file(f"/usr/share/doc/{pattern}", package).as_uri()
    return f"{url}#{fragment}" if fragment else url


def qt_dialog(desktop: Desktop, name: str) -> str:
    """One of QT_DIALOGS, shown by this script in a process of its own (see show_qt_dialog)."""
    return desktop.launch(
        [sys.executable, str(Path(__file__).resolve()), "--qt-dialog", name],
        as_caller=True,
        settle=1.2,
    )


PYTHON_SESSION = """import statistics, textwrap
statistics.mean([2, 3, 5, 7, 11, 13])
print(textwrap.fill("The quick brown fox jumps over the lazy dog. " * 4, width=48))
squares = {n: n * n for n in range(1, 13)}
squares
def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a

[fib(n) for n in range(20)]
sorted(p for p in __import__("os").listdir("/usr/share/doc") if p.startswith("x"))
1 / 0
"""


@scene("terminal", "A dark xterm after `ls -l /usr/share/doc`: a long coloured listing.", "xterm")
def terminal_ls(desktop: Desktop) -> None:
    term = desktop.launch(xterm())
    desktop.place(term, 80, 50, 1240, 920)
    desktop.type(term, "ls -l /usr/share/doc\n")


@scene("terminal", "A light xterm showing the man page of ls in less.", "xterm", "man", "less")
def terminal_man(desktop: Desktop) -> None:
    term = desktop.launch(xterm("man ls", dark=False))
    desktop.place(term, 440, 30, 1000, 980)
    desktop.type(term, "man ls\n", pause=1.5)


@scene(
    "terminal", "A dark xterm with a Python REPL session ending in a traceback.", "xterm", "python3"
)
def terminal_python(desktop: Desktop) -> None:
    term = desktop.launch(xterm("python3"))
    desktop.place(term, 300, 60, 1100, 900)
    desktop.type(term, "python3\n", pause=1.0)  # typed ahead, lines would echo before the banner
    desktop.type(term, PYTHON_SESSION)


@scene(
    "terminal",
    "An xterm in the classic bitmap font with the output of `top -b -n 1`.",
    "xterm",
    "top",
)
def terminal_top(desktop: Desktop) -> None:
    term = desktop.launch(xterm(dark=False, font=False))
    desktop.place(term, 60, 40, 1300, 900)
    desktop.type(term, "top -b -n 1 | head -n 60\n", pause=1.2)


@scene("terminal", "A dark xterm paging the GPL-3 in less, with 'warranty' found.", "xterm", "less")
def terminal_less(desktop: Desktop) -> None:
    term = desktop.launch(xterm("less GPL-3"))
    desktop.place(term, 360, 40, 1200, 960)
    desktop.type(term, "less /usr/share/common-licenses/GPL-3\n", pause=0.8)
    desktop.type(term, "/warranty\n")


@scene("terminal", "Two xterms side by side: system details and the largest docs by `du`.", "xterm")
def terminal_split(desktop: Desktop) -> None:
    left = desktop.launch(xterm())
    desktop.place(left, 10, 10, 940, 1020)
    desktop.type(left, "cat /etc/os-release\nfind /usr/share/doc/xterm /etc/xdg/openbox | sort\n")
    right = desktop.launch(xterm(dark=False))
    desktop.place(right, 965, 10, 945, 1020)
    desktop.type(right, "du -sh /usr/share/doc/* | sort -rh | head -n 50\n", pause=1.5)


@scene(
    "browser",
    "A Chromium window with two tabs, on the Module Path section of the Debian Python Policy.",
    "chromium",
)
def browser_python_policy(desktop: Desktop) -> None:
    page = doc("python3/python-policy.html", "python3", "module-path")
    users = doc("base-passwd/users-and-groups.html", "base-passwd")
    window = chromium(desktop, [page, users])
    desktop.place(window, 200, 50, 1480, 940)


@scene(
    "browser",
    "A maximised Chromium window on the xterm FAQ, its change log in a second tab.",
    "chromium",
)
def browser_xterm_faq(desktop: Desktop) -> None:
    pages = [doc("xterm/xterm.faq.html", "xterm"), doc("xterm/xterm.log.html", "xterm")]
    chromium(desktop, pages, "--start-maximized")


@scene(
    "browser",
    "A Chromium window on the fontconfig user manual beside the empty desktop.",
    "chromium",
)
def browser_fontconfig(desktop: Desktop) -> None:
    pages = [
        doc("fontconfig/fontconfig-user.html", "fontconfig"),
        doc("libffi[0-9]*/html/index.html", "libffi8"),
    ]
    window = chromium(desktop, pages)
    desktop.place(window, 560, 20, 1300, 990)


@scene("browser", "A maximised Chromium window on the GCC release notes (NEWS.html).", "chromium")
def browser_gcc_news(desktop: Desktop) -> None:
    pages = [
        doc("gcc-*-base/NEWS.html", "gcc-12-base"),
        doc("libffi[0-9]*/html/The-Basics.html", "libffi8"),
    ]
    chromium(desktop, pages, "--start-maximized")


@scene(
    "editor",
    "Mousepad with Python's textwrap.py open: line numbers, syntax colours, toolbar.",
    "mousepad",
)
def editor_mousepad(desktop: Desktop) -> None:
    window = desktop.launch(["mousepad", "textwrap.py"], settle=1.5)
    desktop.place(window, 300, 60, 1200, 900)


@scene("editor", "xedit (Athena widgets) with openbox's rc.xml open.", "xedit")
def editor_xedit(desktop: Desktop) -> None:
    window = desktop.launch(["xedit", "rc.xml"])
    desktop.place(window, 400, 60, 1000, 900)


@scene("calculator", "galculator in scientific mode after computing 1234*56.78.", "galculator")
def calculator_galculator(desktop: Desktop) -> None:
    window = desktop.launch(["galculator"], settle=1.0)
    desktop.key(window, "alt+v")  # View menu, then Scientific Mode
    desktop.key(window, "s")
    desktop.place(window, 560, 260, 800, 480)
    desktop.type(window, "1234*56.78=")


@scene("calculator", "xcalc (the X11 scientific calculator) after computing 355/113.", "xcalc")
def calculator_xcalc(desktop: Desktop) -> None:
    window = desktop.launch(["xcalc"])
    desktop.place(window, 800, 240, 320, 480)
    desktop.type(window, "355/113=")


@scene("qt-dialog", "A Qt file dialog (detail view of /usr/share/doc) over an xterm.", "xterm")
def qt_file_dialog(desktop: Desktop) -> None:
    term = desktop.launch(xterm())
    desktop.place(term, 60, 40, 1000, 700)
    desktop.type(term, "ls /usr/share/doc | head -n 40\n")
    dialog = qt_dialog(desktop, "files")
    desktop.place(dialog, 480, 200, 960, 600)


@scene("qt-dialog", "A Qt font dialog over Mousepad editing textwrap.py.", "mousepad")
def qt_font_dialog(desktop: Desktop) -> None:
    editor = desktop.launch(["mousepad", "textwrap.py"], settle=1.5)
    desktop.place(editor, 100, 40, 1300, 950)
    dialog = qt_dialog(desktop, "font")
    desktop.place(dialog, 600, 220, 760, 560)


@scene("qt-dialog", "A Qt preferences dialog (tabs, form fields, check boxes) over xedit.", "xedit")
def qt_settings_dialog(desktop: Desktop) -> None:
    editor = desktop.launch(["xedit", "rc.xml"])
    desktop.place(editor, 200, 40, 1000, 950)
    dialog = qt_dialog(desktop, "settings")
    desktop.place(dialog, 700, 220, 620, 560)


@scene(
    "desktop",
    "Overlapping windows: Chromium on the Python policy, Mousepad, and a dark xterm on top.",
    "chromium",
    "mousepad",
    "xterm",
)
def desktop_work(desktop: Desktop) -> None:
    window = chromium(desktop, [doc("python3/python-policy.html", "python3")])
    desktop.place(window, 30, 20, 1250, 820)
    editor = desktop.launch(["mousepad", "textwrap.py"], settle=1.5)
    desktop.place(editor, 700, 180, 900, 640)
    term = desktop.launch(xterm())
    desktop.place(term, 980, 470, 900, 540)
    desktop.type(term, "ls -l /usr/share/doc/python3\n")


@scene(
    "desktop",
    "Overlapping tools: xedit, an xterm with top, galculator and xcalc.",
    "xedit",
    "xterm",
    "top",
    "galculator",
    "xcalc",
)
def desktop_tools(desktop: Desktop) -> None:
    editor = desktop.launch(["xedit", "rc.xml"])
    desktop.place(editor, 40, 40, 900, 760)
    term = desktop.launch(xterm(dark=False, font=False))
    desktop.place(term, 620, 300, 900, 600)
    desktop.type(term, "top -b -n 1 | head -n 30\n")
    calculator = desktop.launch(["galculator"], settle=1.0)
    desktop.place(calculator, 1240, 60, 600, 460)
    desktop.type(calculator, "12*12=")
    xcalc = desktop.launch(["xcalc"])
    desktop.place(xcalc, 1520, 560, 300, 440)


@scene(
    "desktop",
    "Chromium on libffi's manual, an xterm with a man page and a Qt file dialog on top.",
    "chromium",
    "xterm",
    "man",
    "less",
)
def desktop_docs(desktop: Desktop) -> None:
    window = chromium(desktop, [doc("libffi[0-9]*/html/The-Basics.html", "libffi8")])
    desktop.place(window, 10, 10, 1150, 1020)
    term = desktop.launch(xterm("man xterm", dark=False))
    desktop.place(term, 1000, 60, 900, 900)
    desktop.type(term, "man xterm\n", pause=1.5)
    dialog = qt_dialog(desktop, "files")
    desktop.place(dialog, 560, 380, 900, 560)


def show_qt_dialog(name: str) -> int:
    """Show one of the Qt dialogs (run in its own process by a scene) until it is closed."""
    from PyQt6.QtWidgets import QApplication

    app = QApplication([sys.argv[0]])
    app.setCursorFlashTime(0)  # a blinking caret would make pictures differ
    dialog = QT_DIALOGS[name]()
    dialog.show()
    return app.exec()


def file_dialog():
    """Qt's own (non-native) file dialog listing /usr/share/doc in detail view."""
    from PyQt6.QtCore import QUrl
    from PyQt6.QtWidgets import QFileDialog, QTreeView

    dialog = QFileDialog(None, "Open Document", "/usr/share/doc", "All files (*)")
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog)
    dialog.setViewMode(QFileDialog.ViewMode.Detail)
    # fixed places: the default ones name this run's temporary home
    dialog.setSidebarUrls([QUrl.fromLocalFile(path) for path in ("/", "/usr/share/doc", "/tmp")])
    dialog.selectFile("xterm")
    columns = dialog.findChild(QTreeView).header()  # wide enough for names and whole dates
    for column, width in enumerate((300, 90, 90, 160)):
        columns.resizeSection(column, width)
    return dialog


def font_dialog():
    """Qt's own font dialog with a serif font chosen."""
    from PyQt6.QtGui import QFont
    from PyQt6.QtWidgets import QFontDialog

    dialog = QFontDialog(QFont("DejaVu Serif", 12))
    dialog.setOption(QFontDialog.FontDialogOption.DontUseNativeDialog)
    dialog.setWindowTitle("Select Font")
    return dialog


def settings_dialog():
    """A typical preferences dialog: tabs, a form, check boxes, radio buttons, a slider."""
    from PyQt6.QtCore import Qt
    from PyQt6.QtWidgets import (
        QCheckBox,
        QComboBox,
        QDialog,
        QDialogButtonBox,
        QFormLayout,
        QGroupBox,
        QLineEdit,
        QRadioButton,
        QSlider,
        QSpinBox,
        QTabWidget,
        QVBoxLayout,
        QWidget,
    )

    dialog = QDialog()
    dialog.setWindowTitle("Preferences")
    general = QWidget()
    form = QFormLayout(general)
    form.addRow("Display name:", QLineEdit("Ada Lovelace"))
    language = QComboBox()
    language.addItems(["English (United Kingdom)", "Deutsch", "Français", "日本語"])
    form.addRow("Language:", language)
    autosave = QSpinBox()
    autosave.setRange(1, 60)
    autosave.setValue(10)
    autosave.setSuffix(" min")
    form.addRow("Autosave every:", autosave)
    volume = QSlider(Qt.Orientation.Horizontal)
    volume.setValue(65)
    form.addRow("Notification volume:", volume)
    for label, checked in (
        ("Start at login", True),
        ("Show notifications", True),
        ("Send anonymous usage statistics", False),
    ):
        box = QCheckBox(label)
        box.setChecked(checked)
        form.addRow(box)
    updates = QGroupBox("Updates")
    choices = QVBoxLayout(updates)
    for label in ("Install automatically", "Ask before installing", "Never check"):
        choices.addWidget(QRadioButton(label))
    choices.itemAt(1).widget().setChecked(True)
    form.addRow(updates)
    tabs = QTabWidget()
    tabs.addTab(general, "General")
    tabs.addTab(QWidget(), "Appearance")
    tabs.addTab(QWidget(), "Network")
    tabs.addTab(QWidget(), "Advanced")
    buttons = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok
        | QDialogButtonBox.StandardButton.Cancel
        | QDialogButtonBox.StandardButton.Apply
        | QDialogButtonBox.StandardButton.Help
    )
    layout = QVBoxLayout(dialog)
    layout.addWidget(tabs)
    layout.addWidget(buttons)
    return dialog


QT_DIALOGS = {"files": file_dialog, "font": font_dialog, "settings": settings_dialog}


if __name__ == "__main__":
    raise SystemExit(main())
