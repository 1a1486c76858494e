"""The options every command spells alike: -v, --prune SPEC, --out DIR, --json FILE."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from main_process import run_main

import main

ROOT = Path(__file__).resolve().parents[1]
SHOT = ROOT / "tests" / "data" / "desktop-xterm-1920x1080.png"
# the least each command needs to parse, with -v added by main.py for every command
MINIMAL = {
    "analyze": [str(SHOT)],
    "run": ["a task", "--scripted", "x.json"],
    "pull": [],
    "replay": ["runs/x"],
    "view": ["runs/x"],
    "app": [],
    "report": ["tests/data"],
    "eval-grounding": ["tests/data/grounding", "--scripted", "x.json"],
    "serve": ["--model", "m"],
    "bench": [],
}


def test_every_command_is_covered_here():
    assert set(MINIMAL) == set(main.COMMANDS)


@pytest.mark.parametrize("command", sorted(MINIMAL))
def test_every_command_takes_verbose(command, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["main.py", command])  # imports the command's module
    args = main.build_parser().parse_args([command, *MINIMAL[command], "-v"])
    assert args.verbose is True


@pytest.mark.parametrize(
    ("command", "flag"),
    [("run", "--out"), ("run", "--runs-dir"), ("app", "--out"), ("app", "--runs-dir")],
)
def test_out_is_the_folder_a_command_writes_and_runs_dir_stays(command, flag, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["main.py", command])
    args = main.build_parser().parse_args([command, *MINIMAL[command], flag, "elsewhere"])
    assert args.out == Path("elsewhere")


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return run_main("analyze", *args)


def test_json_goes_to_a_file_or_alone_to_standard_output(tmp_path):
    alone = analyze(str(SHOT), "--json", "-")
    assert alone.returncode == 0 and json.loads(alone.stdout)[0]["kept"] > 0
    written = analyze(str(SHOT), "--json", str(tmp_path / "rows.json"))
    assert written.returncode == 0 and "kept" in written.stdout  # the table still shows
    [row] = json.loads((tmp_path / "rows.json").read_text())
    assert {**row, "ms": None} == {**json.loads(alone.stdout)[0], "ms": None}  # timing varies


def test_json_never_overwrites_an_input(tmp_path):
    image = tmp_path / "shot.png"
    image.write_bytes(SHOT.read_bytes())
    refused = analyze("--json", str(image), str(SHOT))  # the old flag before an image
    assert refused.returncode == 2 and "FILE.json" in refused.stderr
    assert image.read_bytes() == SHOT.read_bytes()


def test_one_spec_syntax_in_every_command_that_prunes(monkeypatch):
    from pixelprune import PruneConfig

    expected = PruneConfig("raster", 0.05, "mae")
    for command in ("analyze", "run", "serve"):
        monkeypatch.setattr(sys, "argv", ["main.py", command])
        args = main.build_parser().parse_args(
            [command, *MINIMAL[command], "--prune", "raster:0.05:mae"]
        )
        assert args.prune == expected, command
    for command in ("report", "eval-grounding"):
        monkeypatch.setattr(sys, "argv", ["main.py", command])
        args = main.build_parser().parse_args(
            [command, *MINIMAL[command], "--prune", "raster:0.05:mae", "pred_2d"]
        )
        assert args.prune == [expected, PruneConfig()], command


def test_the_console_script_runs_the_same_commands():
    script = Path(sys.executable).parent / "pixelprune-agent"
    assert script.exists(), "pip install -e . (tools/install.sh) creates it"
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("usage: pixelprune-agent")
    assert all(name in done.stdout for name in main.COMMANDS)


def test_the_install_script_can_add_a_menu_entry(tmp_path):
    # only the menu part of the script, against a temporary data folder
    source = (ROOT / "tools" / "install.sh").read_text()
    menu = source[source.index('if [ "${1:-}" = "--menu" ]') :]
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    done = subprocess.run(
        ["bash", "-c", menu, "install.sh", "--menu"], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    entry = (tmp_path / "applications" / "pixelprune-agent.desktop").read_text()
    assert f"Exec={ROOT}/.venv/bin/pixelprune-agent app" in entry and "Type=Application" in entry


def test_analyze_takes_a_folder_like_report(tmp_path):
    (tmp_path / "shots" / "deeper").mkdir(parents=True)
    (tmp_path / "shots" / "a.png").write_bytes(SHOT.read_bytes())
    (tmp_path / "shots" / "deeper" / "b.png").write_bytes(SHOT.read_bytes())
    (tmp_path / "empty").mkdir()
    done = analyze(str(tmp_path / "shots"), "--json", "-")
    assert done.returncode == 0, done.stderr
    assert sorted(Path(row["file"]).name for row in json.loads(done.stdout)) == ["a.png", "b.png"]
    empty = analyze(str(tmp_path / "empty"))
    assert empty.returncode == 1 and "empty" in empty.stderr


def fake_nvidia_smi(tmp_path: Path) -> Path:
    """A stand-in `nvidia-smi` that lists one H100, in a folder of its own (for PATH)."""
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)'\n")
    fake.chmod(0o755)
    return fake


def test_the_install_script_says_when_torch_does_not_fit_the_machine(tmp_path):
    source = (ROOT / "tools" / "install.sh").read_text()
    check = source[
        source.index("# The torch build against") : source.index('if [ "${1:-}" = "--menu" ]')
    ]
    fake = fake_nvidia_smi(tmp_path)
    with_gpu = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    without = {**os.environ, "PATH": "/usr/bin:/bin"}  # no nvidia-smi there
    said = {}
    for name, env in (("gpu", with_gpu), ("none", without)):
        done = subprocess.run(
            ["bash", "-c", check], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        said[name] = done.stdout
    # this machine's torch is the CPU build
    assert "has a GPU (GPU 0: NVIDIA H100" in said["gpu"] and "whl/cu128" in said["gpu"]
    assert "torch build: CPU, matching this machine (no NVIDIA GPU)" in said["none"]


def test_the_install_script_takes_torch_from_the_cpu_index_where_there_is_no_gpu(tmp_path):
    source = (ROOT / "tools" / "install.sh").read_text()
    choose = source[
        source.index("torch_index=()") : source.index('.venv/bin/python -m pip install -q "torch')
    ]
    fake = fake_nvidia_smi(tmp_path)
    (tmp_path / "index").mkdir()
    serve = [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1"]
    with subprocess.Popen(
        [*serve, "-d", str(tmp_path / "index")], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True,
    ) as server:  # fmt: skip
        port = server.stdout.readline().split("port ")[1].split(" ")[0]
        index = f"http://127.0.0.1:{port}"
        cases = {
            "cpu": (
                {"PATH": "/usr/bin:/bin", "TORCH_CPU_INDEX": index},
                f"--extra-index-url {index}",
            ),
            "gpu": ({"PATH": f"{fake.parent}:/usr/bin:/bin", "TORCH_CPU_INDEX": index}, ""),
            "offline": ({"PATH": "/usr/bin:/bin", "TORCH_CPU_INDEX": "http://127.0.0.1:9"}, ""),
        }
        for name, (env, expected) in cases.items():
            done = subprocess.run(
                ["bash", "-c", choose + 'echo "${torch_index[*]}"'], cwd=ROOT,
                env={**os.environ, **env, "PYTHON": sys.executable}, capture_output=True,
                text=True, timeout=60,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            assert done.stdout.strip() == expected, name
        server.terminate()
