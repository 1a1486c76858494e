"""The wlroots route on a real headless sway: detection, layout, capture, clicks, text, runs.

Each test starts sway (tests/wayland.py) and, where it drives something, the full-screen probe
window (tests/apps/wayland_probe.py), which logs what really arrived in device pixels.
"""

from __future__ import annotations

import json
import math
import socket
import struct
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
from main_process import run_main
from PIL import Image
from wayland import Sway, SwayOutput, headless_sway, open_probe, run_the_app

from agent.actions import Click, Hotkey, Point, Space, TypeText
from agent.backends.scripted import ScriptedBackend
from agent.capture import CaptureConfig
from agent.coords import Frame, Monitor, action_to_screen
from agent.desktop import detect_desktop, open_desktop
from agent.events import StepStarted
from agent.executor import Executor, ExecutorConfig, FailSafeError
from agent.loop import Agent
from agent.wayland.capture import grim_shot
from agent.wayland.screen import WaylandScreen
from agent.wayland.wlroots import Output, WlrootsSession

ROOT = Path(__file__).resolve().parents[1]
F12 = 0x0100003B  # Qt::Key_F12, as the probe logs a Ctrl shortcut


@pytest.fixture
def on_sway(monkeypatch):
    """Point this process at a sway started for the test (as a user's session would be)."""
    started = []

    def start(outputs: list[SwayOutput] | None = None) -> Sway:
        context = headless_sway(outputs)
        sway = context.__enter__()
        started.append(context)
        for name in ("DISPLAY", "WAYLAND_DISPLAY"):
            monkeypatch.delenv(name, raising=False)
        for name, value in sway.env.items():
            monkeypatch.setenv(name, value)
        return sway

    yield start
    for context in reversed(started):
        context.__exit__(None, None, None)


def executor_on(route) -> Executor:
    return Executor(
        ExecutorConfig(mode="auto", pause=0), screen=route.screen, clipboard=route.clipboard
    )


# ---- detection and layout --------------------------------------------------------------------


def test_a_sway_session_is_detected_as_wlroots(on_sway):
    sway = on_sway()
    assert detect_desktop(sway.env) == "wlroots"
    assert detect_desktop({"DISPLAY": ":0"}) == "x11"  # no Wayland display: X11


def test_the_outputs_are_the_compositors_own_layout(on_sway):
    on_sway([SwayOutput("1920x1080"), SwayOutput("2560x1440", position=(1920, 0), scale=2)])
    session = WlrootsSession.open()
    try:
        assert session.outputs() == [
            Output("HEADLESS-1", 0, 0, 1920, 1080, 1.0),
            Output("HEADLESS-2", 1920, 0, 1280, 720, 2.0),
        ]
    finally:
        session.close()
    route = open_desktop("wlroots", CaptureConfig(monitor=2))
    try:
        shot = route.capture.grab()  # the second output, in its device pixels
        assert (shot.monitor.left, shot.monitor.width, shot.image.size) == (
            1920,
            1280,
            (2560, 1440),
        )
        assert shot.scale == (2.0, 2.0)
    finally:
        route.close()


# ---- capture and input, on unscaled and scaled outputs ---------------------------------------


@pytest.mark.parametrize("scale", [1, 2])
def test_captured_pixels_are_the_windows_own(on_sway, tmp_path, scale):
    sway = on_sway([SwayOutput("1920x1080", scale=scale)])
    with open_probe(sway, tmp_path) as probe:
        route = open_desktop(None, CaptureConfig(monitor=1))
        try:
            shot = route.capture.grab()
        finally:
            route.close()
        assert shot.image.size == (1920, 1080) and shot.monitor.width == 1920 // scale
        assert np.array_equal(np.asarray(shot.image), np.asarray(probe.picture()))


@pytest.mark.parametrize("scale", [1, 2, 1.5])
def test_clicks_land_on_the_exact_pixel_through_the_mapping(on_sway, tmp_path, scale):
    sway = on_sway([SwayOutput("1920x1080", scale=scale)])
    with open_probe(sway, tmp_path) as probe:
        route = open_desktop("wlroots", CaptureConfig(monitor=1))
        try:
            shot = route.capture.grab()
            frame = Frame(shot.monitor, shot.image.size, shot.image.size)  # model saw it 1:1
            executor = executor_on(route)
            # captured pixels: both edges, off the corner pixels (FAILSAFE's own, as in pyautogui)
            targets = [(3, 0), (101, 203), (1000, 777), (1919, 1075)]
            clicks = [
                action_to_screen(Click(point=Point(x + 0.5, y + 0.5, Space.PIXELS)), frame)
                for x, y in targets
            ]
            for click in clicks:
                assert executor.perform(click).performed
        finally:
            route.close()
        presses = probe.wait_for(lambda e: e["type"] == "press", count=len(targets))
    for (x, y), click, press in zip(targets, clicks, presses, strict=True):
        point = click.point
        # to the client's precision: Wayland sends positions in 1/256 of a unit (wl_fixed)
        landed = (press["logical_x"], press["logical_y"])
        assert landed == pytest.approx((point.x, point.y), abs=1 / 256)
        # the output's device pixel under the pointer is the captured pixel the model named
        device = (math.floor(press["logical_x"] * scale), math.floor(press["logical_y"] * scale))
        assert device == (x, y)
        if scale == int(scale):  # the window's own device pixels are the output's
            assert (math.floor(press["x"]), math.floor(press["y"])) == (x, y)


def test_any_text_and_hotkeys_arrive_exactly(on_sway, tmp_path):
    sway = on_sway()
    with open_probe(sway, tmp_path) as probe:
        route = open_desktop("wlroots", CaptureConfig())
        try:
            executor = executor_on(route)
            executor.perform(TypeText(text="café 東京 😀"))
            probe.wait_for_text("café 東京 😀")
            executor.perform(TypeText(text="line one\nline two\n\tTabbed"))
            probe.wait_for_text("café 東京 😀line one\nline two\n\tTabbed")
            executor.perform(Hotkey(keys=("ctrl", "c")))
            probe.wait_for(lambda e: e["type"] == "shortcut" and e["key"] == ord("C"))
        finally:
            route.close()


@pytest.mark.parametrize("scale", [1, 2])
def test_the_pointer_in_a_screen_corner_stops_the_run_as_failsafe(on_sway, tmp_path, scale):
    sway = on_sway([SwayOutput("1920x1080", scale=scale)])
    with open_probe(sway, tmp_path) as probe:
        backend = ScriptedBackend(["Action: click(start_box='(100,100)')"] * 5, delay=1.0)
        agent = Agent(backend, mode="auto", parser="uitars", kill_hotkey=None)
        user = WlrootsSession.open(
            watch_corners=False
        )  # the user's mouse: another pointer on the same seat
        right, bottom = 1920 / scale, 1080 / scale

        def flick_to_a_corner(event) -> None:
            if isinstance(event, StepStarted) and event.number == 2:  # and straight back
                user.move(right - 0.1, bottom - 0.1)
                threading.Timer(0.2, user.move, args=(right / 2, bottom / 2)).start()

        agent.events.subscribe(flick_to_a_corner)
        try:
            result = agent.run("click until stopped")
        finally:
            user.close()
        assert result.status == "failsafe" and len(result.steps) == 2
        assert "FAILSAFE" in (result.steps[1].error or "")
        assert len([e for e in probe.events() if e["type"] == "press"]) == 1  # step 1's only


def test_a_click_on_a_corner_pixel_lands_on_no_window_and_stops_the_next_action(on_sway, tmp_path):
    sway = on_sway()
    with open_probe(sway, tmp_path) as probe:
        route = open_desktop("wlroots", CaptureConfig())
        try:
            executor = executor_on(route)
            assert executor.perform(Click(point=Point(0, 0, Space.SCREEN))).performed
            with pytest.raises(FailSafeError, match="FAILSAFE"):
                executor.perform(Click(point=Point(500, 500, Space.SCREEN)))
        finally:
            route.close()
    assert not [e for e in probe.events() if e["type"] == "press"]


# ---- the whole loop ----------------------------------------------------------------------------


def run_on(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`main.py ARGS` in the session `env` describes (a Wayland one: no X display)."""
    return run_main(*args, env={**env, "DISPLAY": None})


def test_a_scripted_run_sees_and_drives_sway_in_dry_run_and_auto(tmp_path):
    script = tmp_path / "answers.json"
    script.write_text(json.dumps(["Action: click(start_box='(300,200)')", "Action: finished()"]))
    common = ["run", "click the probe", "--scripted", str(script), "--no-prune"]
    common += ["--out", str(tmp_path)]
    with (
        headless_sway([SwayOutput("1920x1080", scale=2)]) as sway,
        open_probe(sway, tmp_path) as probe,
    ):
        dry = run_on(sway.env, *common, "--mode", "dry-run")
        assert dry.returncode == 0, dry.stderr
        assert not probe.events()  # a dry run touches nothing
        done = run_on(sway.env, *common, "--mode", "auto")  # the kill hotkey: a sway binding
        assert done.returncode == 0, done.stderr
        [press] = probe.wait_for(lambda e: e["type"] == "press")
        not_sway = run_on({**sway.env, "SWAYSOCK": None}, *common, "--mode", "auto")
    # another wlroots compositor has no binding to add: refused before acting, saying so
    assert not_sway.returncode == 2 and not_sway.stderr.count("\n") == 1
    assert "--no-kill-hotkey" in not_sway.stderr and "Ctrl-C" in not_sway.stderr
    runs = sorted(p for p in tmp_path.iterdir() if (p / "run.json").exists())
    assert len(runs) == 2
    for run in runs:  # each run saw the probe, pixel for pixel, at the output's device size
        first = json.loads((run / "steps.jsonl").read_text().splitlines()[0])
        assert first["frame"]["captured"] == [1920, 1080]
        assert first["frame"]["monitor"]["width"] == 960
    step = json.loads((runs[-1] / "steps.jsonl").read_text().splitlines()[0])
    [action] = step["actions"]
    # the click lands where the recorded screen point is, on the output's device pixel
    assert press["logical_x"] == pytest.approx(action["point"]["x"], abs=1 / 256)
    assert press["logical_y"] == pytest.approx(action["point"]["y"], abs=1 / 256)


def test_the_kill_hotkey_is_a_sway_binding_that_stops_a_running_loop(on_sway, tmp_path):
    sway = on_sway()
    with open_probe(sway, tmp_path) as probe:
        backend = ScriptedBackend(["Action: click(start_box='(100,100)')"] * 5, delay=1.0)
        agent = Agent(backend, mode="auto", parser="uitars", kill_hotkey="ctrl+shift+f12")
        user = WlrootsSession.open(
            watch_corners=False
        )  # the user's keyboard: another device on the same seat
        user_keys = WaylandScreen(lambda: user)
        combo = ("ctrl", "shift", "f12")

        def press_hotkey(event) -> None:
            if isinstance(event, StepStarted) and event.number == 2:
                threading.Timer(0.3, user_keys.hotkey, args=combo).start()

        agent.events.subscribe(press_hotkey)
        try:
            result = agent.run("click until stopped")
            assert result.status == "stopped" and "kill hotkey" in result.answer
            assert len(result.steps) == 2 and result.steps[1].outcome == "stopped"
            presses = [e for e in probe.events() if e["type"] == "press"]
            assert len(presses) == 1  # step 2's click, answered after the hotkey, never happened
            assert not [e for e in probe.events() if e.get("key") == F12]  # sway kept the combo
            user_keys.hotkey(*combo)  # the run is over: the binding is gone
            probe.wait_for(lambda e: e["type"] == "shortcut" and e["key"] == F12)
        finally:
            user.close()


def test_the_app_stays_out_of_the_agents_screenshots_and_has_no_overlay(on_sway, tmp_path):
    out = tmp_path / "app"
    out.mkdir()
    sway = on_sway()
    empty = np.asarray(desktop_now())  # the desktop before the app exists
    done, back, shown = run_the_app(sway, out, lambda: np.asarray(desktop_now()))
    assert done["status"] == "max_steps"
    shots = sorted(Path(done["dir"]).glob("step-*[0-9].png"))
    assert len(shots) == 3
    for shot in shots:  # the app was hidden for every capture: the bare desktop...
        with Image.open(shot) as image:
            changed = np.argwhere((np.asarray(image.convert("RGB")) != empty).any(axis=-1))
        # ...and the pointer, which sway draws into the output: where the session left it
        assert len(changed) and (np.abs(changed - (540, 960)) < 32).all(), shot.name
    assert back["visible"] and (shown != empty).any(axis=-1).mean() > 0.5  # back at the end


def desktop_now():
    """The first output now, as the wlroots route captures it."""
    return grim_shot(None, Monitor(0, 0, 1920, 1080))


# ---- preflight -------------------------------------------------------------------------------


def test_a_missing_compositor_is_one_line_with_exit_2(tmp_path):
    script = tmp_path / "answers.json"
    script.write_text('["Action: wait()"]')
    env = {"WAYLAND_DISPLAY": str(tmp_path / "no-such-socket"), "XDG_RUNTIME_DIR": str(tmp_path)}
    done = run_on(env, "run", "x", "--scripted", str(script), "--desktop", "wlroots")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "no-such-socket" in done.stderr and "is the compositor running" in done.stderr


def test_a_compositor_without_the_protocols_is_told_with_the_route_to_choose(tmp_path):
    path = tmp_path / "bare-compositor"
    script = tmp_path / "answers.json"
    script.write_text('["Action: wait()"]')
    env = {"WAYLAND_DISPLAY": str(path), "XDG_RUNTIME_DIR": str(tmp_path)}
    with BareCompositor(path):
        forced = run_on(env, "run", "x", "--scripted", str(script), "--desktop", "wlroots")
        detected = run_on(env, "run", "x", "--scripted", str(script))
    assert forced.returncode == 2 and forced.stderr.count("\n") == 1
    assert "does not offer wl_seat" in forced.stderr and "--desktop" in forced.stderr
    assert detected.returncode == 2 and detected.stderr.count("\n") == 1
    assert "the portal route" in detected.stderr  # neither wlroots nor GNOME: the portal


class BareCompositor:
    """A Wayland server that offers no globals: it answers wl_display.sync and nothing more."""

    def __init__(self, path: Path) -> None:
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> BareCompositor:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.close()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(client,), daemon=True).start()

    def _answer(self, client: socket.socket) -> None:
        buffer = b""
        with client:
            while data := client.recv(4096):
                buffer += data
                while len(buffer) >= 8:
                    object_id, word = struct.unpack_from("=II", buffer)
                    size = word >> 16
                    if len(buffer) < size:
                        break
                    message, buffer = buffer[:size], buffer[size:]
                    if object_id == 1 and word & 0xFFFF == 0:  # wl_display.sync(callback)
                        (callback,) = struct.unpack_from("=I", message, 8)
                        done = struct.pack("=III", callback, (12 << 16) | 0, 1)
                        deleted = struct.pack("=III", 1, (12 << 16) | 1, callback)
                        client.sendall(done + deleted)
