"""`main.py pull`: a model downloaded from a hub on loopback, its size shown first; a cut
download resumes; a refusal downloads nothing; offline is a clear error; `run` offers it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fake_hub import FakeHub
from main_process import run_main

from agent.backends.loading import ModelConfig, load_model
from agent.models import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[1]
REPO = "someone/tiny-vl"


def main(*args: str, hub: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
    """`main.py` against the hub at `hub` (HF_ENDPOINT)."""
    environment = {"HF_ENDPOINT": hub, "HF_HUB_DISABLE_TELEMETRY": "1", **env}
    return run_main(*args, env=environment, stdin=stdin)


def largest(folder: Path) -> str:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return max(files, key=lambda p: p.stat().st_size).relative_to(folder).as_posix()


def test_pull_shows_the_size_downloads_and_the_model_loads(tiny_model_dirs, tmp_path):
    folder = tiny_model_dirs["qwen2.5"]
    cache = tmp_path / "cache"
    with FakeHub(folder, REPO, cut=largest(folder)) as hub:  # the connection drops once
        done = main("pull", REPO, "--yes", "--cache-dir", str(cache), hub=hub.url)
        assert done.returncode == 0, done.stderr
        assert hub.cut is None  # the cut happened, and the download still completed
    assert f"{REPO}: {len(hub.files)} files, " in done.stderr and "MB" in done.stderr
    loaded = load_model(
        ModelConfig(REPO, quantization=None, device_map="cpu", cache_dir=str(cache))
    )
    assert loaded.model.config.model_type == "qwen2_5_vl"
    snapshot = next((cache / "models--someone--tiny-vl" / "snapshots").iterdir())
    name = largest(folder)
    assert (snapshot / name).read_bytes() == (folder / name).read_bytes()


def test_pull_asks_first_and_a_no_downloads_nothing(tiny_model_dirs, tmp_path):
    cache = tmp_path / "cache"
    with FakeHub(tiny_model_dirs["qwen2.5"], REPO) as hub:
        done = main("pull", REPO, "--cache-dir", str(cache), hub=hub.url, stdin="n\n")
    assert (
        done.returncode == 1 and "download" in done.stderr and "nothing downloaded" in done.stderr
    )
    assert not (cache / "models--someone--tiny-vl" / "snapshots").exists()


@pytest.mark.parametrize(
    ("repo", "env", "message"),
    [
        ("someone/not-there", {}, "no model 'someone/not-there'"),
        (REPO, {"HF_HUB_OFFLINE": "1"}, "offline"),
    ],
)
def test_pull_refusals_are_one_line(tiny_model_dirs, tmp_path, repo, env, message):
    cache = tmp_path / "cache"
    with FakeHub(tiny_model_dirs["qwen2.5"], REPO) as hub:
        done = main("pull", repo, "--yes", "--cache-dir", str(cache), hub=hub.url, **env)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_no_hub_at_all_is_a_clear_error(tmp_path):
    cache = tmp_path / "cache"
    done = main("pull", REPO, "--yes", "--cache-dir", str(cache), hub="http://127.0.0.1:9")
    assert done.returncode == 2 and "cannot reach http://127.0.0.1:9" in done.stderr
    assert "give its folder as the model" in done.stderr and "resume" not in done.stderr
    assert "Traceback" not in done.stderr


def test_a_name_the_hub_cannot_hold_is_refused_before_asking_it(tmp_path):
    done = main(
        "pull", "acme/tiny vl!", "--yes", "--cache-dir", str(tmp_path), hub="http://127.0.0.1:9"
    )
    assert done.returncode == 2 and "'acme/tiny vl!' is not a hub id" in done.stderr
    assert "cannot reach" not in done.stderr and "Traceback" not in done.stderr


def without_the_loader(*args: str) -> tuple[str, str]:
    """`main.main(args)` in a fresh interpreter: (its status and whether torch or transformers
    were imported, its standard error)."""
    code = (
        "import sys, main\n"
        f"status = main.main({list(args)!r})\n"
        "print(status, 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    return done.stdout.strip(), done.stderr


def test_pull_needs_no_torch():
    # the command only talks to the hub: importing the model loader would add seconds to it
    status, stderr = without_the_loader("pull", "acme/tiny vl!", "--yes")
    assert status == "2 False False", stderr


@pytest.mark.parametrize(
    "command", [["run", "x", "--mode", "dry-run", "--no-kill-hotkey", "--no-record"], ["serve"]]
)
def test_a_missing_model_folder_is_told_before_the_loader_is_imported(command, tmp_path):
    # torch and transformers take ~20 s to import here: a mistyped folder is told without them
    missing = str(tmp_path / "no" / "such" / "dir")
    status, stderr = without_the_loader(*command, "--model", missing)
    assert status == "2 False False", stderr
    assert f"error: model {missing!r} not found: no such folder" in stderr


def test_run_without_a_model_offers_the_default_one(tmp_path):
    # the README's default model: a task text alone asks to download it, as for a named hub id
    from desktop import require_display

    require_display()
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    run = ["run", "look", "--mode", "dry-run", "--no-record", "--no-kill-hotkey"]
    with FakeHub(folder, DEFAULT_MODEL) as hub:
        refused = main(*run, hub=hub.url, stdin="n\n", HF_HOME=str(tmp_path / "hf-home"))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"{DEFAULT_MODEL} is not in the local Hugging Face cache" in refused.stderr
    assert "nothing downloaded" in refused.stderr


def test_run_offers_the_download_of_a_missing_model(tiny_model_dirs, tmp_path):
    from desktop import require_display

    require_display()
    home = tmp_path / "hf-home"
    run = ["run", "look", "--model", REPO, "--quant", "none", "--mode", "dry-run"]
    run += ["--max-steps", "1", "--no-record", "--no-kill-hotkey"]
    with FakeHub(tiny_model_dirs["qwen2.5"], REPO) as hub:
        refused = main(*run, hub=hub.url, stdin="n\n", HF_HOME=str(home))
        assert refused.returncode == 2 and "not in the local Hugging Face cache" in refused.stderr
        assert "nothing downloaded" in refused.stderr
        done = main(*run, "--yes", hub=hub.url, HF_HOME=str(home))
    assert "downloaded:" in done.stderr and "Traceback" not in done.stderr
    assert "step 1:" in done.stdout  # the tiny random model answered (badly): the run ran
