"""The GNOME route on a real headless mutter: detection, capture, clicks, keys, runs, preflight.

Each test starts mutter with PipeWire on a D-Bus session of its own (tests/wayland.py) and the
full-screen probe window (tests/apps/wayland_probe.py), which logs what really arrived.
"""

from __future__ import annotations

import ast
import json
import math
import os
import shlex
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from main_process import run_main
from PIL import Image
from wayland import headless_mutter, open_probe, run_the_app

from agent.actions import Click, Hotkey, Point, Space, TypeText
from agent.backends.scripted import ScriptedBackend
from agent.capture import CaptureConfig
from agent.coords import Frame, action_to_screen
from agent.desktop import detect_desktop, open_desktop
from agent.errors import HotkeyError
from agent.events import StepStarted
from agent.executor import Executor, ExecutorConfig, FailSafeError
from agent.loop import Agent
from agent.preflight import gnome_problem
from agent.wayland.gnome_shortcut import CUSTOM, MEDIA_KEYS, MEDIA_KEYS_BUS
from agent.wayland.mutter import MutterSession
from agent.wayland.pipewire import PipeWireFrames

ROOT = Path(__file__).resolve().parents[1]
C = 0x43  # Qt::Key_C, as the probe logs a Ctrl shortcut


@pytest.fixture(params=[1.0], ids=["scale1"])
def on_mutter(monkeypatch, request):
    """A headless mutter, and this process pointed at it as a GNOME session's would be."""
    with headless_mutter(scale=request.param) as mutter:
        monkeypatch.delenv("DISPLAY", raising=False)
        for name, value in mutter.env.items():
            monkeypatch.setenv(name, value)
        yield mutter


def executor_on(route) -> Executor:
    return Executor(
        ExecutorConfig(mode="auto", pause=0), screen=route.screen, clipboard=route.clipboard
    )


def run_on(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_main(*args, env={**env, "DISPLAY": None})


def test_a_mutter_session_is_detected_as_gnome(on_mutter):
    assert detect_desktop(on_mutter.env) == "gnome"
    assert gnome_problem() is None


SCALES = pytest.mark.parametrize("on_mutter", [1.0, 2.0], ids=["scale1", "scale2"], indirect=True)


@SCALES
def test_captured_pixels_are_the_windows_own(on_mutter, tmp_path):
    with open_probe(on_mutter, tmp_path) as probe:
        route = open_desktop(None, CaptureConfig(monitor=1))
        try:
            first, second = route.capture.grab(), route.capture.grab()  # the stream, kept
        finally:
            route.close()
        # GNOME lays monitors out in physical pixels by default: one unit per device pixel
        assert first.image.size == (1920, 1080) and first.monitor.width == 1920
        for shot in (first, second):
            assert np.array_equal(np.asarray(shot.image), np.asarray(probe.picture()))


@SCALES
def test_clicks_land_on_the_exact_pixel_through_the_mapping(on_mutter, tmp_path):
    with open_probe(on_mutter, tmp_path) as probe:
        route = open_desktop("gnome", CaptureConfig(monitor=1))
        try:
            shot = route.capture.grab()
            frame = Frame(shot.monitor, shot.image.size, shot.image.size)
            # both edges, out of the arrow's reach of the corner pixels (FAILSAFE's own)
            targets = [(3, 0), (101, 203), (1000, 777), (1919, 1040), (1880, 1079)]
            clicks = [
                action_to_screen(Click(point=Point(x + 0.5, y + 0.5, Space.PIXELS)), frame)
                for x, y in targets
            ]
            executor = executor_on(route)
            for click in clicks:
                assert executor.perform(click).performed
            presses = probe.wait_for(lambda e: e["type"] == "press", count=len(targets))
        finally:
            route.close()
    for (x, y), press in zip(targets, presses, strict=True):
        assert (math.floor(press["x"]), math.floor(press["y"])) == (x, y)


def users_mouse() -> MutterSession:
    """The user's mouse: a pointer device of its own, there before any window opens (a client
    that started on a seat without a pointer shows no pointer over its window)."""
    return MutterSession.open(watch_corners=False)


def test_the_pointer_in_a_screen_corner_stops_the_run_as_failsafe(on_mutter, tmp_path):
    user = users_mouse()
    with open_probe(on_mutter, tmp_path, pointer=True) as probe:
        backend = ScriptedBackend(["Action: click(start_box='(100,100)')"] * 5, delay=1.0)
        agent = Agent(backend, mode="auto", parser="uitars", kill_hotkey=None)

        def flick_to_a_corner(event) -> None:
            if isinstance(event, StepStarted) and event.number == 2:  # and back 0.3 s later
                user.move(1919.5, 0.5)
                threading.Timer(0.3, user.move, args=(960, 540)).start()

        agent.events.subscribe(flick_to_a_corner)
        try:
            result = agent.run("click until stopped")
        finally:
            agent.close()
            user.close()
        assert result.status == "failsafe", (result.answer, [s.error for s in result.steps])
        assert len(result.steps) == 2
        assert "FAILSAFE" in (result.steps[1].error or "")
        assert len([e for e in probe.events() if e["type"] == "press"]) == 1  # step 1's only


@pytest.mark.parametrize("corner", [(0, 0), (1919, 0), (0, 1079), (1919, 1079)])
def test_a_click_on_a_corner_pixel_stops_the_next_action(on_mutter, tmp_path, corner):
    user = users_mouse()
    with open_probe(on_mutter, tmp_path, pointer=True) as probe:
        route = open_desktop("gnome", CaptureConfig())
        try:
            executor = executor_on(route)
            x, y = corner
            assert executor.perform(Click(point=Point(x + 0.5, y + 0.5, Space.SCREEN))).performed
            with pytest.raises(FailSafeError, match="FAILSAFE"):
                executor.perform(Click(point=Point(500, 500, Space.SCREEN)))
        finally:
            route.close()
            user.close()
    [press] = [e for e in probe.events() if e["type"] == "press"]  # the corner's, as pyautogui
    assert (math.floor(press["x"]), math.floor(press["y"])) == corner


def test_keys_hotkeys_and_any_text_arrive_exactly(on_mutter, tmp_path):
    with open_probe(on_mutter, tmp_path) as probe:
        route = open_desktop("gnome", CaptureConfig())
        try:
            executor = executor_on(route)
            executor.perform(TypeText(text="Hello, World!\nline two\t~{}"))
            probe.wait_for_text("Hello, World!\nline two\t~{}")
            executor.perform(Hotkey(keys=("ctrl", "c")))
            probe.wait_for(lambda e: e["type"] == "shortcut" and e["key"] == C)
            # Mutter types only its layout's keys: the rest is pasted through the session's
            # clipboard, and what the clipboard held before comes back afterwards
            assert not route.screen.isValidKey("é")
            clipboard = route.clipboard
            clipboard.write("the user's own")
            for text in ("café 東京 😀", "multi\nline ✓"):
                executor.perform(TypeText(text=text))
                probe.wait_for(lambda e, t=text: e.get("pasted") and e["text"] == t)
            assert clipboard.read() == "the user's own"
        finally:
            route.close()


def test_a_scripted_run_sees_and_drives_gnome_in_dry_run_and_auto(tmp_path):
    script = tmp_path / "answers.json"
    script.write_text(json.dumps(["Action: click(start_box='(300,200)')", "Action: finished()"]))
    common = ["run", "click the probe", "--scripted", str(script), "--no-prune"]
    common += ["--out", str(tmp_path)]
    with headless_mutter() as mutter, open_probe(mutter, tmp_path) as probe:
        dry = run_on(mutter.env, *common, "--mode", "dry-run")
        assert dry.returncode == 0, dry.stderr
        assert not probe.events()
        refused = run_on(mutter.env, *common, "--mode", "auto")
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1
        assert "--no-kill-hotkey" in refused.stderr and "custom shortcut" in refused.stderr
        done = run_on(mutter.env, *common, "--mode", "auto", "--no-kill-hotkey")
        assert done.returncode == 0, done.stderr
        [press] = probe.wait_for(lambda e: e["type"] == "press")
        # the quickstart, unchanged, on a GNOME Wayland session without DISPLAY
        quickstart = run_on(
            mutter.env, "run", "examples/quickstart/task.toml", "--out", str(tmp_path / "qs")
        )
        assert quickstart.returncode == 0, quickstart.stderr
        assert "finished: Opened a terminal" in quickstart.stderr + quickstart.stdout
    # every run closed its screen-cast pipelines as it ended: none is left reading a PipeWire
    # that is gone (an orphaned gst-launch would wait on it for ever)
    assert not screen_casts_of(mutter.runtime)
    runs = sorted(p for p in tmp_path.iterdir() if (p / "run.json").exists())
    step = json.loads((runs[-1] / "steps.jsonl").read_text().splitlines()[0])
    [action] = step["actions"]
    assert (press["x"], press["y"]) == pytest.approx((action["point"]["x"], action["point"]["y"]))


@contextmanager
def media_keys_on(bus: str):
    """gnome-settings-daemon's media-keys plugin's name on the bus (its stand-in: the test
    runs a shortcut's command as the plugin would when gnome-shell reports the key)."""
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import open_dbus_connection

    with open_dbus_connection(bus=bus) as connection:
        connection.send_and_get_reply(message_bus.RequestName(MEDIA_KEYS_BUS))
        yield


def shortcut(path: str, key: str) -> str:
    done = subprocess.run(
        ["gsettings", "get", f"{CUSTOM}:{path}", key], capture_output=True, text=True, check=True
    )
    return ast.literal_eval(done.stdout.strip())


def shortcuts() -> list[str]:
    done = subprocess.run(
        ["gsettings", "get", MEDIA_KEYS, "custom-keybindings"],
        capture_output=True,
        text=True,
        check=True,
    )
    return list(ast.literal_eval(done.stdout.strip().removeprefix("@as ")))


def test_the_kill_hotkey_is_a_gnome_custom_shortcut_that_stops_a_running_loop(on_mutter, tmp_path):
    user_own = "/org/gnome/settings-daemon/plugins/media-keys/custom-keybindings/custom0/"
    dead_run = user_own.replace("custom0", "pixelprune-agent-999999")
    subprocess.run(
        ["gsettings", "set", MEDIA_KEYS, "custom-keybindings", repr([user_own, dead_run])],
        check=True,
    )
    with pytest.raises(HotkeyError, match="media-keys plugin"):  # no gnome-settings-daemon
        open_desktop("gnome", CaptureConfig()).hotkey("ctrl+shift+f12", lambda: None)
    with media_keys_on(on_mutter.bus), open_probe(on_mutter, tmp_path) as probe:
        backend = ScriptedBackend(["Action: click(start_box='(100,100)')"] * 5, delay=1.0)
        agent = Agent(backend, mode="auto", parser="uitars", kill_hotkey="ctrl+shift+f12")
        seen: dict[str, str] = {}

        def press_hotkey(event) -> None:  # what gnome-settings-daemon does on the key
            if isinstance(event, StepStarted) and event.number == 2:
                [ours] = [p for p in shortcuts() if "pixelprune-agent-" in p]
                seen.update(path=ours, binding=shortcut(ours, "binding"))
                command = shlex.split(shortcut(ours, "command"))
                threading.Timer(0.3, subprocess.run, args=(command,)).start()

        agent.events.subscribe(press_hotkey)
        try:
            result = agent.run("click until stopped")
        finally:
            agent.close()
        assert result.status == "stopped" and "kill hotkey" in result.answer
        assert len(result.steps) == 2 and result.steps[1].outcome == "stopped"
        assert len([e for e in probe.events() if e["type"] == "press"]) == 1
    assert seen["binding"] == "<Control><Shift>F12"
    assert seen["path"].endswith(f"/pixelprune-agent-{os.getpid()}/")
    # the run's shortcut is gone, a dead run's was removed, the user's own is kept
    assert shortcuts() == [user_own]


def test_preflight_names_a_missing_pipewire_and_a_bus_without_mutter(
    on_mutter, monkeypatch, tmp_path
):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # no pipewire-0 socket there
    assert "PipeWire is not running" in (gnome_problem() or "")
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert bus.stdout is not None
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus.stdout.readline().strip())
        assert "org.gnome.Mutter.RemoteDesktop" in (gnome_problem() or "")
        monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS")
        assert "DBUS_SESSION_BUS_ADDRESS is not set" in (gnome_problem() or "")
    finally:
        bus.terminate()
        bus.wait(timeout=5)


def test_the_app_stays_out_of_the_agents_screenshots_and_has_no_overlay(on_mutter, tmp_path):
    out = tmp_path / "app"
    out.mkdir()
    eyes = MutterSession.open(watch_corners=False)
    cast = PipeWireFrames(eyes.pipewire_node(eyes.outputs()[0].name))
    try:
        empty = np.asarray(cast.grab())  # the desktop before the app exists
        done, back, shown = run_the_app(on_mutter, out, lambda: np.asarray(cast.grab()))
    finally:
        cast.close()
        eyes.close()
    assert done["status"] == "max_steps"
    shots = sorted(Path(done["dir"]).glob("step-*[0-9].png"))
    assert len(shots) == 3
    for shot in shots:  # the app was hidden for every capture: the bare desktop, exactly
        with Image.open(shot) as image:
            assert np.array_equal(np.asarray(image.convert("RGB")), empty), shot.name
    assert back["visible"] and (shown != empty).any(axis=-1).mean() > 0.5  # back at the end


def screen_casts_of(runtime) -> list[int]:
    """The gst-launch processes still reading this mutter's PipeWire (none once runs end)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        ours = f"XDG_RUNTIME_DIR={runtime}".encode() in environ
        if command and command[0].endswith(b"gst-launch-1.0") and ours:
            found.append(int(entry.name))
    return found
