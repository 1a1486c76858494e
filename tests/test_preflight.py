"""Preflight: a desktop the process cannot see or drive is one line with the fix, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from main_process import run_main

from agent.executor import MODES
from agent.preflight import desktop_problem
from main import main as cli

ROOT = Path(__file__).resolve().parents[1]


def main(*args: str, **env_changes: str | None) -> subprocess.CompletedProcess[str]:
    return run_main(*args, env=env_changes, timeout=60)


@pytest.mark.parametrize("command", [["app"], ["view"]])
def test_no_display_is_one_line_and_points_to_screenshot(command, tmp_path):
    if command == ["view"]:  # a run folder to view
        header = '{"task": "t", "model": "m", "parser": "uitars"}'
        (tmp_path / "run.json").write_text(header)
        command = ["view", str(tmp_path)]
    done = main(*command, DISPLAY=None, QT_QPA_PLATFORM=None)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "DISPLAY is not set" in done.stderr and "--screenshot OUT.png" in done.stderr
    assert done.stderr.count("\n") == 1  # one line, not Qt's abort


def test_run_without_a_display_or_an_xauthority_file(tmp_path):
    script = tmp_path / "outputs.json"
    script.write_text('["Action: wait()"]')
    base = ["run", "x", "--scripted", str(script), "--no-kill-hotkey", "--no-record"]
    done = main(*base, "--mode", "auto", DISPLAY=None)
    assert done.returncode == 2 and "DISPLAY is not set" in done.stderr
    missing = tmp_path / "nope" / "Xauthority"
    done = main(*base, "--mode", "auto", DISPLAY=":5", XAUTHORITY=str(missing))
    assert done.returncode == 2 and f"no Xauthority file at {missing}" in done.stderr
    assert "$DISPLAY" not in done.stderr and "xauth add :5 ." in done.stderr


@pytest.mark.parametrize("authority", ["missing", "without a key"])
def test_an_unusable_xauthority_gets_the_same_hint_in_every_mode(
    tmp_path, monkeypatch, capsys, authority
):
    # tools/test.sh's Xvfb asks for a key (-auth): without one it refuses every client, which
    # in dry-run (no pyautogui) used to surface as libX11's "Authorization required" instead
    display = os.environ.get("DISPLAY")
    if not display:
        pytest.fail("DISPLAY is not set: run the tests through tools/test.sh")
    file = tmp_path / "Xauthority"
    if authority == "without a key":
        file.touch()
    monkeypatch.setenv("XAUTHORITY", str(file))
    script = tmp_path / "outputs.json"
    script.write_text('["Action: wait()"]')
    errors = set()
    for mode in MODES:
        base = ["run", "x", "--scripted", str(script), "--no-kill-hotkey", "--no-record"]
        assert cli([*base, "--mode", mode]) == 2
        errors.add(capsys.readouterr().err)
    [error] = errors  # the same line in dry-run, confirm and auto
    assert error.count("\n") == 1 and f"xauth add {display} ." in error and str(file) in error
    assert "is a display available" not in error


def test_a_monitor_this_desktop_lacks_is_refused_before_the_model(tmp_path):
    if not os.environ.get("DISPLAY"):
        pytest.fail("DISPLAY is not set: run the tests through tools/test.sh")
    script = tmp_path / "outputs.json"
    script.write_text('["Action: wait()"]')
    done = main("run", "x", "--scripted", str(script), "--monitor", "7", "--mode", "dry-run")
    assert done.returncode == 2 and "no monitor 7: this display has 1" in done.stderr


def test_a_wayland_session_whose_compositor_is_gone_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_SESSION_TYPE", "wayland")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    problem = desktop_problem(drive=False) or ""
    assert str(tmp_path / "wayland-0") in problem and "is the compositor running" in problem
