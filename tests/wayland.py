"""Headless Wayland compositors for the tests, and a probe window on them.

    with headless_sway([SwayOutput("1920x1080", scale=2)]) as sway:
        with open_probe(sway, tmp_path) as probe:   # full screen on the first output
            ...drive it...
            probe.wait_for(lambda e: e["type"] == "press")
    with headless_mutter() as mutter, open_probe(mutter, tmp_path) as probe:
        ...
    with headless_mutter(portal=True) as mutter, PortalDialogs(mutter) as dialogs:
        dialogs.answer("screen-cast", "share")      # the portal's next dialog is answered

mutter runs headless on a virtual monitor inside a D-Bus session of its own, with PipeWire and
WirePlumber beside it, as a GNOME session has them (measured: up in about 1.6 s). With
`portal=True` its bus also starts xdg-desktop-portal with the GNOME backend when first asked,
whose dialogs `PortalDialogs` answers as a user would, by clicking them.

sway runs with wlroots' headless backend and pixman renderer, so it needs no GPU, no seat and
no input devices. It refuses to run as root, so under root (CI) it runs as `nobody`, with a
runtime folder of its own; the tests, still root, reach its socket by its absolute path
(WAYLAND_DISPLAY may be a path). Measured: the socket is up in about 0.1 s.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from desktop import WAIT_SECONDS, read_events, wait_for_events

from tools.processes import stop_processes

__all__ = [
    "Mutter",
    "PortalDialogs",
    "Probe",
    "Sway",
    "SwayOutput",
    "headless_mutter",
    "headless_sway",
    "open_probe",
    "require_mutter",
    "require_sway",
    "run_the_app",
]

ROOT = Path(__file__).resolve().parents[1]
START_SECONDS = 15.0  # sway starts in 0.1 s and the probe in about 1 s; this bounds a hang


@dataclass(frozen=True)
class SwayOutput:
    """One headless output: its mode, where it sits in the layout, and its scale."""

    mode: str = "1920x1080"
    position: tuple[int, int] = (0, 0)
    scale: float = 1.0


@dataclass(frozen=True)
class Sway:
    """A running headless sway: the environment that puts a client on it."""

    runtime: Path
    socket: Path
    ipc: Path
    outputs: tuple[SwayOutput, ...]

    @property
    def env(self) -> dict[str, str]:
        """This process's environment, pointed at this sway and at no X display."""
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
        return env | {
            "WAYLAND_DISPLAY": str(self.socket),
            "XDG_RUNTIME_DIR": str(self.runtime),
            "XDG_SESSION_TYPE": "wayland",
            "SWAYSOCK": str(self.ipc),
        }

    def message(self, *command: str) -> str:
        """swaymsg's answer to a command on this sway."""
        done = subprocess.run(
            ["swaymsg", "-s", str(self.ipc), *command],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return done.stdout


def require_sway() -> None:
    for program in ("sway", "grim", "swaymsg"):
        if shutil.which(program) is None:
            pytest.fail(f"{program} is not installed; run tools/install.sh")


@contextmanager
def headless_sway(outputs: list[SwayOutput] | None = None) -> Iterator[Sway]:
    """Start sway on headless outputs (named HEADLESS-1, -2, ... in this order); stop it after."""
    require_sway()
    outputs = outputs or [SwayOutput()]
    runtime = Path(tempfile.mkdtemp(prefix="sway-"))
    config = runtime / "config"
    config.write_text(
        "".join(
            f"output HEADLESS-{i} resolution {o.mode} position {o.position[0]},{o.position[1]} "
            f"scale {o.scale}\n"
            for i, o in enumerate(outputs, start=1)
        )
        + "default_border none\nfocus_follows_mouse no\n"
    )
    command = ["sway", "-c", str(config)]
    if os.geteuid() == 0:  # sway will not run as root
        shutil.chown(runtime, "nobody", "nogroup")
        shutil.chown(config, "nobody", "nogroup")
        command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]
    runtime.chmod(0o700)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(runtime),
        "XDG_RUNTIME_DIR": str(runtime),
        "WLR_BACKENDS": "headless",
        "WLR_HEADLESS_OUTPUTS": str(len(outputs)),
        "WLR_LIBINPUT_NO_DEVICES": "1",
        "WLR_RENDERER": "pixman",
    }
    log = (runtime / "sway.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        socket, ipc = _wait_for_sockets(runtime, process)
        yield Sway(runtime, socket, ipc, tuple(outputs))
    finally:
        stop_processes([process], timeout=5)
        log.close()
        shutil.rmtree(runtime, ignore_errors=True)


@dataclass
class Probe:
    """A running tests.apps.wayland_probe: what it shows and every input it logged."""

    out: Path

    def picture(self):
        """What the probe rendered, in device pixels (a PIL image)."""
        from PIL import Image

        with Image.open(self.out / "picture.png") as image:
            return image.convert("RGB")

    def events(self) -> list[dict]:
        return read_events(self.out / "events.jsonl")

    def text(self) -> str:
        """Every character the probe received, in order."""
        return "".join(e["text"] for e in self.events() if e["type"] == "text")

    def wait_for(
        self, match: Callable[[dict], bool], count: int = 1, timeout: float = WAIT_SECONDS
    ) -> list[dict]:
        """The matching events once there are `count`; fails the test with all events if not."""
        return wait_for_events(self.events, match, count, timeout)

    def wait_for_text(self, expected: str, timeout: float = WAIT_SECONDS) -> str:
        deadline = time.monotonic() + timeout
        while not (text := self.text()).endswith(expected):
            if time.monotonic() > deadline:
                pytest.fail(f"the probe got {text!r}, not {expected!r}, within {timeout}s")
            time.sleep(0.02)
        return text


@contextmanager
def open_probe(
    compositor: Sway | Mutter, tmpdir: Path, *, pointer: bool = False
) -> Iterator[Probe]:
    """The probe window, full screen on the compositor's first output, once it shows it.
    `pointer`: show the pointer over it (it hides it by default: not part of its picture)."""
    out = Path(tmpdir) / f"probe-{time.monotonic_ns()}"
    out.mkdir(parents=True)
    env = compositor.env | {"QT_QPA_PLATFORM": "wayland"}
    if pointer:  # a client without a cursor theme shows none (a desktop session sets one)
        env |= {"XCURSOR_THEME": "Adwaita", "XCURSOR_SIZE": "24"}
    command = [sys.executable, "-m", "tests.apps.wayland_probe", "--out", str(out)]
    command += ["--pointer"] if pointer else []
    with (out / "stderr.txt").open("wb") as stderr:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=stderr)
        try:
            deadline = time.monotonic() + START_SECONDS
            while not (out / "ready").exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    reason = (out / "stderr.txt").read_text(errors="replace")
                    pytest.fail(f"the Wayland probe did not start: {reason or process.returncode}")
                time.sleep(0.05)
            yield Probe(out)
        finally:
            stop_processes([process], timeout=5)


def _wait_for_sockets(runtime: Path, process: subprocess.Popen[bytes]) -> tuple[Path, Path]:
    deadline = time.monotonic() + START_SECONDS
    while True:
        sockets = sorted(p for p in runtime.glob("wayland-*") if not p.name.endswith(".lock"))
        ipc = sorted(runtime.glob("sway-ipc.*.sock"))
        if sockets and ipc:
            return sockets[0], ipc[0]
        if process.poll() is not None or time.monotonic() > deadline:
            log = (runtime / "sway.log").read_text(errors="replace")[-2000:]
            pytest.fail(f"sway did not start (exit {process.returncode}):\n{log}")
        time.sleep(0.02)


@dataclass(frozen=True)
class Mutter:
    """A running headless mutter (GNOME's compositor) with PipeWire on its own session bus."""

    runtime: Path
    bus: str  # its DBUS_SESSION_BUS_ADDRESS

    @property
    def env(self) -> dict[str, str]:
        """This process's environment, pointed at this mutter and at no X display."""
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
        return env | {
            "WAYLAND_DISPLAY": str(self.runtime / "wayland-0"),
            "XDG_RUNTIME_DIR": str(self.runtime),
            "XDG_SESSION_TYPE": "wayland",
            "DBUS_SESSION_BUS_ADDRESS": self.bus,
            "XDG_CONFIG_HOME": str(self.runtime / ".config"),  # dconf's, as its service has it
        }

    @property
    def socket(self) -> Path:
        return self.runtime / "wayland-0"


MUTTER_SCRIPT = """
echo "$DBUS_SESSION_BUS_ADDRESS" > "$XDG_RUNTIME_DIR/bus"
pipewire >"$XDG_RUNTIME_DIR/pipewire.log" 2>&1 &
wireplumber >"$XDG_RUNTIME_DIR/wireplumber.log" 2>&1 &
exec mutter --headless --wayland --no-x11 --virtual-monitor "$1"
"""


PORTAL_PROGRAMS = ("/usr/libexec/xdg-desktop-portal", "/usr/libexec/xdg-desktop-portal-gnome")


def require_mutter(*, portal: bool = False) -> None:
    for program in ("mutter", "pipewire", "wireplumber", "dbus-run-session", "gst-launch-1.0"):
        if shutil.which(program) is None:
            pytest.fail(f"{program} is not installed; run tools/install.sh")
    for program in PORTAL_PROGRAMS if portal else ():
        if not Path(program).exists():
            pytest.fail(f"{program} is not installed; run tools/install.sh")


@contextmanager
def headless_mutter(
    mode: str = "1920x1080", scale: float = 1.0, *, portal: bool = False
) -> Iterator[Mutter]:
    """Start mutter headless on one virtual monitor, with PipeWire and WirePlumber, inside a
    D-Bus session of its own (as a GNOME session has); stop it all after. Runs as any user.
    `scale`: the monitor's scale, set as GNOME's display settings set it (DisplayConfig).
    `portal`: the bus starts the desktop portal with its GNOME backend (which draws its dialogs
    on this mutter), as a GNOME session's bus does; its grants live in this session's HOME."""
    from agent.desktop import mutter_on_bus

    require_mutter(portal=portal)
    runtime = Path(tempfile.mkdtemp(prefix="mutter-"))
    runtime.chmod(0o700)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(runtime),
        "XDG_RUNTIME_DIR": str(runtime),
    }
    if portal:  # what the bus hands the portal it starts: which backend, and where to draw
        env |= {"XDG_CURRENT_DESKTOP": "GNOME", "WAYLAND_DISPLAY": "wayland-0"}
    command = ["dbus-run-session", "--", "sh", "-c", MUTTER_SCRIPT, "mutter", mode]
    log = (runtime / "mutter.log").open("wb")
    process = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            bus = (runtime / "bus").read_text().strip() if (runtime / "bus").exists() else ""
            ready = [runtime / "wayland-0", runtime / "pipewire-0"]
            if (
                bus
                and all(p.exists() for p in ready)
                and mutter_on_bus({"DBUS_SESSION_BUS_ADDRESS": bus})
            ):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                text = (runtime / "mutter.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"mutter did not start (exit {process.returncode}):\n{text}")
            time.sleep(0.05)
        if scale != 1.0:
            _scale_monitor(bus, scale)
        yield Mutter(runtime, bus)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # dbus, pipewire, wireplumber and mutter
        stop_processes([process], timeout=5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(runtime, ignore_errors=True)


def _scale_monitor(bus: str, scale: float) -> None:
    """Set the first monitor's scale through org.gnome.Mutter.DisplayConfig (temporarily)."""
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection
    from jeepney.wrappers import unwrap_msg

    config = DBusAddress(
        "/org/gnome/Mutter/DisplayConfig",
        bus_name="org.gnome.Mutter.DisplayConfig",
        interface="org.gnome.Mutter.DisplayConfig",
    )
    with open_dbus_connection(bus=bus) as connection:
        serial, monitors, _, _ = unwrap_msg(
            connection.send_and_get_reply(new_method_call(config, "GetCurrentState"))
        )
        (connector, *_), modes, _ = monitors[0]
        [mode] = [m[0] for m in modes if m[6].get("is-current", ("b", False))[1]]
        logical = [(0, 0, scale, 0, True, [(connector, mode, {})])]
        signature = "uua(iiduba(ssa{sv}))a{sv}"
        arguments = (serial, 1, logical, {})  # method 1: temporary
        unwrap_msg(
            connection.send_and_get_reply(
                new_method_call(config, "ApplyMonitorsConfig", signature, arguments)
            )
        )


DIALOG_BODY = (250, 250, 250)  # the portal dialog's background (xdg-desktop-portal-gnome 43)
PALE_SHARE = (144, 183, 231)  # its Share button while nothing is chosen
TOGGLE_OFF = (225, 225, 225)  # the track of a switch that is off


class PortalDialogs:
    """Answers the portal's dialogs on a headless mutter as a user would: by looking at the
    screen and clicking, through a Mutter session of its own (the test's hand and eyes). The
    test's environment must point at the mutter (its PipeWire is read through it).

    The places are those of xdg-desktop-portal-gnome 43's dialogs at 1920x1080, relative to
    the dialog's body: the screen-cast dialog (a monitor list under "Remember this selection")
    and the remote-desktop dialog (a monitor list and an "Allow remote interaction" switch)."""

    def __init__(self, mutter: Mutter) -> None:
        self._mutter = mutter
        self.answered: list[str] = []
        self._pending: list[tuple[str, str]] = []
        self._stop = False
        self._error: BaseException | None = None
        self._thread = None

    def __enter__(self) -> PortalDialogs:
        import threading

        self._thread = threading.Thread(target=self._watch, name="portal-dialogs", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._error is not None and exc[0] is None:
            raise self._error

    def answer(self, kind: str, choice: str) -> None:
        """Answer the next dialog of `kind` ("screen-cast", "remote-desktop") with `choice`
        ("share" or "cancel")."""
        self._pending.append((kind, choice))

    def _watch(self) -> None:
        from agent.wayland.mutter import MutterSession
        from agent.wayland.pipewire import PipeWireFrames

        hand = None
        eyes = None
        try:
            hand = MutterSession.open(self._mutter.bus, watch_corners=False)
            eyes = PipeWireFrames(hand.pipewire_node(hand.outputs()[0].name))
            while not self._stop:
                box = self._dialog(eyes)
                if box is None:
                    time.sleep(0.2)
                    continue
                # a dialog nobody expected is cancelled (and recorded), so a run that should
                # have started without one fails at once instead of waiting for an answer
                kind, choice = self._pending.pop(0) if self._pending else ("unexpected", "cancel")
                self.answered.append(f"{kind}:{choice}")  # before the run can go on
                self._click_through(hand, eyes, box, kind, choice)
        except BaseException as error:  # reported when the test leaves the block
            self._error = error
        finally:
            if eyes is not None:
                eyes.close()
            if hand is not None:
                hand.close()

    @staticmethod
    def _dialog(eyes) -> tuple[int, int, int, int] | None:
        """The dialog's body (left, top, right, bottom) once it is shown, or None."""
        import numpy as np

        picture = np.asarray(eyes.grab())
        body = (picture == DIALOG_BODY).all(axis=-1)
        if body.sum() < 40_000:
            return None
        ys, xs = np.nonzero(body)
        return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())

    def _click_through(self, hand, eyes, box, kind: str, choice: str) -> None:
        left, top, right, _ = box
        middle = (left + right) / 2

        def colour(x: float, y: float) -> tuple[int, ...]:
            return tuple(int(v) for v in eyes.grab().getpixel((int(x), int(y))))

        def click(x: float, y: float) -> None:
            hand.move(x, y)
            time.sleep(0.1)
            hand.button("left", pressed=True)
            hand.button("left", pressed=False)
            time.sleep(0.4)

        if choice == "cancel":
            click(left + 50, top - 24)
        else:
            if kind == "remote-desktop" and colour(right - 59, top + 175) == TOGGLE_OFF:
                click(right - 70, top + 175)  # "Allow remote interaction"
            if colour(right - 79, top - 35) == PALE_SHARE:  # no monitor chosen yet
                click(middle, top + (88 if kind == "remote-desktop" else 127))
            click(right - 47, top - 24)
        deadline = time.monotonic() + WAIT_SECONDS
        while self._dialog(eyes) is not None:
            if time.monotonic() > deadline:
                raise AssertionError(f"the portal's {kind} dialog stayed open after {choice}")
            time.sleep(0.1)


def run_the_app(compositor: Sway | Mutter, out: Path, now: Callable[[], object]):
    """The control app (tests.apps.overlay_window) runs a 3-step scripted run on the
    compositor; returns how it ended (its done and back.json) and `now()` once it is back."""
    import json

    command = [sys.executable, "-m", "tests.apps.overlay_window", "app"]
    command += ["--monitor", "0,0,1920,1080", "--steps", "3", "--out", str(out)]
    env = {**compositor.env, "QT_QPA_PLATFORM": "wayland"}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (out / "back.json").exists():
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the app's run did not end"
            time.sleep(0.1)
        shown = now()
    finally:
        stop_processes([process], timeout=5)
    done = json.loads((out / "done").read_text())
    back = json.loads((out / "back.json").read_text())
    return done, back, shown
