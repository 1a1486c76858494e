"""The vLLM tier: run with .venv-vllm's Python, on its own (tools/test.sh runs it):

    .venv-vllm/bin/python -m pytest tests/vllm --confcutdir tests/vllm -p no:cacheprovider

Its models are tiny random-weight ones built offline with vLLM's CPU constraints: head_dim 32
(CPU attention needs at least 32), weights drawn wide enough (initializer_range 0.3) that the
greedy answer depends on the image, so a wrong mask or position changes the tokens.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session", params=["qwen2", "qwen2.5", "qwen3"])
def tiny_model(request, tmp_path_factory) -> Path:
    """A tiny random-weight model of each family the plugin prunes."""
    from tools.offline_models import build_tokenizer, save_random_model, tiny_config

    tokenizer = build_tokenizer()
    config = tiny_config(request.param, tokenizer, width=2, initializer_range=0.3)
    folder = tmp_path_factory.mktemp(request.param.replace(".", "_"))
    return save_random_model(folder, config, tokenizer)


@pytest.fixture(scope="session")
def screenshots() -> list[Path]:
    paths = sorted((ROOT / "tests" / "data").glob("*.png"))
    if len(paths) < 2:
        pytest.fail("no screenshots in tests/data; run tools/dev/make_screenshots.py")
    return paths
