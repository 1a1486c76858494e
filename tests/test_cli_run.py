"""`main.py run` and `main.py replay` as a user runs them, on the real display.

The Xvfb screen is one 4480x1440 monitor here (no injected layout: the CLI captures what mss
reports), so the scripted answers are in UI-TARS pixels of its Qwen2.5 resize, 4480x1428.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from desktop import open_button_window, require_display
from main_process import run_main

from tools.processes import stop_processes

ROOT = Path(__file__).resolve().parents[1]
SCREEN = (4480, 1440)
RESIZED = (4480, 1428)


@pytest.fixture(autouse=True)
def _display() -> None:
    require_display()


def click_on(window, name: str) -> str:
    x, y = window.centre(name)
    mx = round((x + 0.5) / SCREEN[0] * RESIZED[0])
    my = round((y + 0.5) / SCREEN[1] * RESIZED[1])
    return f"Thought: press {name}\nAction: click(start_box='({mx},{my})')"


def script(tmp_path: Path, outputs: list[str]) -> str:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    return str(path)


def presses(window) -> list[str]:
    return [e["target"] for e in window.events() if e["type"] == "press"]


def test_run_then_replay(tmp_path):
    with open_button_window((1920, 0, 2560, 1440), tmp_path / "w") as window:
        outputs = [click_on(window, "Foxtrot"), "Action: finished(content='pressed it')"]
        done = run_main(
            "run",
            "press Foxtrot",
            "--scripted",
            script(tmp_path, outputs),
            "--parser",
            "uitars",
            "--mode",
            "auto",
            "--runs-dir",
            str(tmp_path / "runs"),
        )
        assert done.returncode == 0, done.stderr
        window.wait_for(lambda e: e["type"] == "clicked" and e["target"] == "Foxtrot")
    assert "step 1: left click" in done.stdout and "[performed]" in done.stdout
    assert "finished: pressed it" in done.stdout
    [run_dir] = (tmp_path / "runs").iterdir()
    replay = run_main("replay", str(run_dir))
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "re-parse: left click" in replay.stdout and "MISMATCH" not in replay.stdout
    dry = run_main("replay", str(run_dir), "--execute")
    assert dry.returncode == 0 and "dry-run: left click" in dry.stderr + dry.stdout


def test_confirm_mode_asks_on_the_terminal(tmp_path):
    with open_button_window((0, 0, 1280, 800), tmp_path / "w") as window:
        outputs = [click_on(window, "Alpha")]
        refused = run_main(
            "run",
            "press Alpha",
            "--scripted",
            script(tmp_path, outputs),
            "--parser",
            "uitars",
            "--no-record",
            stdin="n\n",
        )
        assert refused.returncode == 1
        assert "perform left click" in refused.stdout and "rejected" in refused.stdout
        assert presses(window) == []


def test_the_kill_hotkey_ends_the_confirm_question_on_the_terminal(tmp_path):
    """A person at a real terminal (a pty) is asked; the hotkey, no Enter, ends the run."""
    with open_button_window((0, 0, 1280, 800), tmp_path / "w") as window:
        outputs = [click_on(window, "Alpha")]
        keyboard, program = os.openpty()
        answers = script(tmp_path, outputs)
        command = ["run", "press Alpha", "--scripted", answers, "--parser", "uitars", "--no-record"]
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "main.py"), *command, "--mode", "confirm"],
            cwd=ROOT,
            stdin=program,
            stdout=program,
            stderr=program,
        )
        os.close(program)
        try:
            shown = read_until(keyboard, b"[y/N] ")
            os.write(keyboard, b"y")  # half an answer: the hotkey needs no Enter
            subprocess.run(["xdotool", "key", "ctrl+shift+F12"], check=True, timeout=10)
            shown += read_until(keyboard, None, seconds=10)
            assert process.wait(timeout=10) == 1
        finally:
            stop_processes([process])
            os.close(keyboard)
        assert presses(window) == []
    text = shown.decode()
    assert "perform left click" in text and "[y/N] ystopped" in text.replace("\r", "")
    assert "stopped: kill hotkey ctrl+shift+f12" in text and "rejected" not in text


def read_until(descriptor: int, end: bytes | None, seconds: float = 60) -> bytes:
    """What a program writes to its terminal until `end` shows (None: until it closes it)."""
    seen = b""
    deadline = time.monotonic() + seconds
    awaited = "the end of its output" if end is None else repr(end)
    while end is None or end not in seen:
        assert time.monotonic() < deadline, f"{awaited} not shown; shown: {seen!r}"
        if not select.select([descriptor], [], [], 0.1)[0]:
            continue
        try:
            chunk = os.read(descriptor, 4096)
        except OSError:  # Linux: EIO once the program's side of the terminal is closed
            chunk = b""
        if not chunk:
            assert end is None, f"{awaited} not shown; shown: {seen!r}"
            break
        seen += chunk
    return seen


def test_a_task_file_with_a_secret(tmp_path):
    with open_button_window((0, 0, 1920, 1080), tmp_path / "w") as window:
        outputs = [
            click_on(window, "text"),
            "Action: type(content='{{pin}}')",
            "Action: finished(content='typed the pin')",
        ]
        script(tmp_path, outputs)
        (tmp_path / "task.toml").write_text(
            'task = "type my pin"\n[model]\nscripted = "outputs.json"\nparser = "uitars"\n'
            '[run]\nmode = "auto"\nrecord_to = "runs"\n[secrets]\npin = "pin-8642"\n'
        )
        done = run_main("run", str(tmp_path / "task.toml"))
        assert done.returncode == 0, done.stderr
        window.wait_for(lambda e: e["type"] == "text" and e["value"] == "pin-8642")
    assert "pin-8642" not in done.stdout + done.stderr
    [run_dir] = (tmp_path / "runs").iterdir()
    for path in run_dir.iterdir():
        if path.suffix in (".json", ".jsonl"):
            assert "pin-8642" not in path.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "x", "--model", "/nonexistent/model"], "/nonexistent/model"),
        (["run", "x", "--model", "m", "--scripted", "s.json"], "exactly one of"),
        (["run", "missing.toml"], "cannot read task file"),
        (["replay", "/nonexistent/run"], "not a run folder"),
        (["run", "x", "--server", "http://h/v1", "--no-vision-cache"], "local model"),
    ],
)
def test_bad_input_is_a_message_not_a_traceback(args, message):
    done = run_main(*args)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_a_local_models_vision_settings_go_with_the_local_model(tmp_path):
    from agent.commands.run import settings_from

    local = settings_from(run_args("x", "--model", "m", "--quantize-vision", "--no-vision-cache"))
    assert local.model.quantize_vision is True and local.model.vision_cache is False
    task = tmp_path / "task.toml"
    task.write_text(
        'task = "x"\n[model]\npath = "m"\nquantize_vision = true\nvision_cache = false\n'
    )
    served = settings_from(run_args(str(task), "--server", "http://h/v1")).model
    assert served.path is None and not served.quantize_vision and served.vision_cache
    kept = settings_from(run_args(str(task))).model
    assert kept.quantize_vision is True and kept.vision_cache is False


def run_args(*argv: str):
    import argparse

    from agent.commands import run as run_command

    parser = argparse.ArgumentParser()
    run_command.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_pruning_is_one_spec_on_the_command_line(tmp_path, capsys):
    from agent.commands.run import settings_from as _spec
    from pixelprune import PruneConfig

    script(tmp_path, ["Action: wait()"])
    base = ["open it", "--scripted", str(tmp_path / "outputs.json")]
    assert _spec(run_args(*base)).agent.prune == PruneConfig()
    chosen = _spec(run_args(*base, "--prune", "raster:0.02:mae")).agent.prune
    assert chosen == PruneConfig("raster", 0.02, "mae")
    assert _spec(run_args(*base, "--no-prune")).agent.prune is None
    old = _spec(run_args(*base, "--prune-method", "raster", "--tau", "0.02")).agent.prune
    assert old == PruneConfig("raster", 0.02)
    assert "use --prune raster:0.02" in capsys.readouterr().err
    task = tmp_path / "task.toml"
    task.write_text('task = "x"\n[model]\nscripted = "outputs.json"\n[prune]\ntau = 0.05\n')
    assert _spec(run_args(str(task))).agent.prune == PruneConfig(tau=0.05)  # the file's
    assert _spec(run_args(str(task), "--no-prune")).agent.prune is None
    with pytest.raises(SystemExit) as stopped:
        run_args(*base, "--prune", "bogus")
    assert stopped.value.code == 2 and "unknown method 'bogus'" in capsys.readouterr().err


def test_json_results_and_masked_terminal_lines(tmp_path):
    task = tmp_path / "task.toml"
    task.write_text(
        'task = "log in"\n[model]\nscripted = "outputs.json"\nparser = "uitars"\n'
        '[run]\nmode = "dry-run"\nkill_hotkey = false\n[secrets]\npassword = "hunter2"\n'
    )
    script(
        tmp_path,
        [
            "Thought: type it\nAction: type(content='{{password}}')",
            "Action: finished(content='typed {{password}}')",
        ],
    )
    done = run_main("run", str(task), "--out", str(tmp_path / "runs"), "--json", "-")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)  # standard output holds the JSON alone
    assert result["status"] == "finished" and len(result["steps"]) == 2
    assert "step 1: type" in done.stderr and "hunter2" not in done.stdout + done.stderr
    [run_dir] = (tmp_path / "runs").iterdir()
    assert result["run_dir"] == str(run_dir)
    replay = run_main("replay", str(run_dir), "--json", str(tmp_path / "replay.json"))
    assert replay.returncode == 0, replay.stdout + replay.stderr
    rows = json.loads((tmp_path / "replay.json").read_text())
    assert rows["mismatches"] == 0 and [r["number"] for r in rows["steps"]] == [1, 2]
    assert "hunter2" not in replay.stdout + (tmp_path / "replay.json").read_text()


def test_the_quickstart_example_runs_without_a_model(tmp_path):
    done = run_main("run", "examples/quickstart/task.toml", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "(uitars)" in done.stdout  # the scripted answers tell their convention
    assert "step 3: finished:" in done.stdout and "[dry-run]" in done.stdout
    assert len(list(tmp_path.iterdir())) == 1
