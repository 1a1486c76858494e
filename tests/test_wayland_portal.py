"""The portal route on a real desktop portal: xdg-desktop-portal 1.16 with its GNOME backend on
a headless mutter, its dialogs answered by clicking them (tests/wayland.py PortalDialogs).

This portal's ScreenCast is v4 (it remembers a grant: restore tokens) and its RemoteDesktop v1
(it asks on every run), so a dry run asks once and then starts with no dialog, and a run that
drives asks each time; a cancelled dialog is a refused permission.
"""

from __future__ import annotations

import json
import math
import os
import subprocess

import numpy as np
import pytest
from main_process import run_main
from PIL import Image
from wayland import PortalDialogs, headless_mutter, open_probe

from agent.actions import Click, Point, Space, TypeText
from agent.capture import CaptureConfig
from agent.coords import Frame, action_to_screen
from agent.desktop import DesktopError, open_desktop
from agent.executor import Executor, ExecutorConfig
from agent.preflight import portal_problem
from agent.wayland.portal import TokenStore


@pytest.fixture
def on_portal(monkeypatch, tmp_path):
    """A headless mutter whose bus starts the desktop portal, and this process pointed at it
    (its own state folder: the portal's tokens start empty)."""
    with headless_mutter(portal=True) as mutter:
        monkeypatch.delenv("DISPLAY", raising=False)
        for name, value in portal_env(mutter, tmp_path).items():
            monkeypatch.setenv(name, value)
        yield mutter


def portal_env(mutter, tmp_path) -> dict[str, str]:
    return mutter.env | {"XDG_STATE_HOME": str(tmp_path / "state")}


def run_on(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_main(*args, "--desktop", "portal", env={**env, "DISPLAY": None})


def test_the_portal_route_captures_clicks_and_types_after_the_dialog(on_portal, tmp_path):
    with open_probe(on_portal, tmp_path) as probe, PortalDialogs(on_portal) as dialogs:
        dialogs.answer("remote-desktop", "share")
        route = open_desktop("portal", CaptureConfig(monitor=1))
        try:
            shot = route.capture.grab()
            assert shot.image.size == (1920, 1080) and shot.monitor.width == 1920
            assert np.array_equal(np.asarray(shot.image), np.asarray(probe.picture()))
            frame = Frame(shot.monitor, shot.image.size, shot.image.size)
            targets = [(0, 0), (101, 203), (1000, 777), (1919, 1079)]
            executor = Executor(ExecutorConfig(mode="auto", pause=0), screen=route.screen)
            for x, y in targets:
                click = Click(point=Point(x + 0.5, y + 0.5, Space.PIXELS))
                assert executor.perform(action_to_screen(click, frame)).performed
            presses = probe.wait_for(lambda e: e["type"] == "press", count=len(targets))
            executor.perform(TypeText(text="Hello, World!\nline two\t~{}"))
            probe.wait_for_text("Hello, World!\nline two\t~{}")
            assert not route.screen.isValidKey("é")  # keysyms through the layout, as GNOME's
            # the rest is pasted through wl-clipboard: not checked here, where wl-clipboard has
            # no data-control protocol (GNOME) and takes the keyboard focus to set the
            # clipboard, racing the paste keys (one run in two missed a paste)
        finally:
            route.close()
        assert dialogs.answered == ["remote-desktop:share"]
    for (x, y), press in zip(targets, presses, strict=True):
        assert (math.floor(press["x"]), math.floor(press["y"])) == (x, y)


def test_a_dry_run_grant_is_remembered_and_the_next_run_has_no_dialog(on_portal, tmp_path):
    script = tmp_path / "answers.json"
    script.write_text(json.dumps(["Action: click(start_box='(300,200)')", "Action: finished()"]))
    common = ["run", "click the probe", "--scripted", str(script), "--no-prune", "--mode"]
    with open_probe(on_portal, tmp_path) as probe:
        env = portal_env(on_portal, tmp_path)
        with PortalDialogs(on_portal) as dialogs:
            dialogs.answer("screen-cast", "share")
            first = run_on(env, *common, "dry-run", "--out", str(tmp_path / "first"))
            assert first.returncode == 0, first.stderr
            assert dialogs.answered == ["screen-cast:share"]
            tokens = TokenStore(tmp_path / "state" / "pixelprune-agent" / "portal-tokens.json")
            token = tokens.get("screen-cast")
            assert token
            # the stored grant: no dialog (one would be cancelled, and the run would fail)
            second = run_on(env, *common, "dry-run", "--out", str(tmp_path / "second"))
            assert second.returncode == 0, second.stderr
            assert dialogs.answered == ["screen-cast:share"]
            assert tokens.get("screen-cast")  # the next token, for the next run
        assert not probe.events()  # a dry run never touches the desktop
        # the run without a dialog saw the screen: its first screenshot is the probe's picture
        [shot] = (tmp_path / "second").glob("*/step-001.png")
        with Image.open(shot) as image:
            assert np.array_equal(np.asarray(image.convert("RGB")), np.asarray(probe.picture()))


def test_a_run_drives_through_the_portal_and_a_cancelled_dialog_is_refused(on_portal, tmp_path):
    script = tmp_path / "answers.json"
    script.write_text(json.dumps(["Action: click(start_box='(300,200)')", "Action: finished()"]))
    common = ["run", "click the probe", "--scripted", str(script), "--no-prune"]
    common += ["--mode", "auto", "--out", str(tmp_path)]
    with open_probe(on_portal, tmp_path) as probe:
        env = portal_env(on_portal, tmp_path)
        with PortalDialogs(on_portal) as dialogs:
            no_key = run_on(env, *common)
            assert no_key.returncode == 2 and no_key.stderr.count("\n") == 1
            assert "--no-kill-hotkey" in no_key.stderr and "shortcut" in no_key.stderr
            dialogs.answer("remote-desktop", "cancel")
            refused = run_on(env, *common, "--no-kill-hotkey")
            assert refused.returncode == 2, refused.stderr
            assert refused.stderr.count("\n") == 1 and "permission refused" in refused.stderr
            assert "Share" in refused.stderr
            dialogs.answer("remote-desktop", "share")
            done = run_on(env, *common, "--no-kill-hotkey")
            assert done.returncode == 0, done.stderr
            [press] = probe.wait_for(lambda e: e["type"] == "press")
            assert dialogs.answered == ["remote-desktop:cancel", "remote-desktop:share"]
    runs = sorted(p for p in tmp_path.iterdir() if (p / "run.json").exists())
    step = json.loads((runs[-1] / "steps.jsonl").read_text().splitlines()[0])
    [action] = step["actions"]
    assert (press["x"], press["y"]) == pytest.approx((action["point"]["x"], action["point"]["y"]))


def test_preflight_names_a_missing_portal(on_portal, monkeypatch):
    assert portal_problem(drive=True) is None  # the portal starts on the first question
    bus = subprocess.Popen(  # a session bus with no service files: nothing to start
        ["dbus-daemon", "--session", "--nofork", "--print-address"],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"XDG_DATA_DIRS": "/nonexistent", "XDG_DATA_HOME": "/nonexistent"},
    )
    try:
        assert bus.stdout is not None
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus.stdout.readline().strip())
        problem = portal_problem(drive=True) or ""
        assert "no desktop portal answers" in problem and "xdg-desktop-portal-kde" in problem
    finally:
        bus.terminate()
        bus.wait(timeout=5)


def test_a_refused_route_is_a_desktop_error_and_forgets_its_token(on_portal, tmp_path):
    tokens = TokenStore(tmp_path / "state" / "pixelprune-agent" / "portal-tokens.json")
    tokens.put("screen-cast", "8c6bcd0e-42f3-4b7a-9a51-3f1b2a9c0d11")  # unknown here
    with PortalDialogs(on_portal) as dialogs:
        dialogs.answer("screen-cast", "cancel")
        route = open_desktop("portal", CaptureConfig(monitor=1), drive=False)
        try:
            with pytest.raises(DesktopError, match="permission refused"):
                route.capture.grab()
        finally:
            route.close()
    assert tokens.get("screen-cast") is None
