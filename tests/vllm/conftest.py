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


def tiny_vllm_config(family: str):
    from tools.offline_models import _config, build_tokenizer

    tokenizer = build_tokenizer()
    text = dict(
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        rope_scaling={"type": "mrope", "mrope_section": [4, 6, 6]},
        initializer_range=0.3,
    )
    if family == "qwen3":
        text.update(
            head_dim=32,
            rope_scaling={
                "rope_type": "default",
                "mrope_section": [4, 6, 6],
                "mrope_interleaved": True,
            },
        )
        vision = dict(
            depth=3,
            hidden_size=64,
            intermediate_size=128,
            num_heads=2,
            out_hidden_size=128,
            patch_size=16,
            spatial_merge_size=2,
            temporal_patch_size=2,
            num_position_embeddings=64,
            deepstack_visual_indexes=[0, 1],
            initializer_range=0.3,
        )
    elif family == "qwen2.5":
        vision = dict(
            depth=4,
            hidden_size=64,
            intermediate_size=128,
            num_heads=2,
            out_hidden_size=128,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            window_size=112,
            fullatt_block_indexes=[1, 3],
            initializer_range=0.3,
        )
    else:
        vision = dict(
            depth=2,
            embed_dim=64,
            hidden_size=128,
            mlp_ratio=2,
            num_heads=2,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            initializer_range=0.3,
        )
    config = _config(family, tokenizer, text, vision)
    config.initializer_range = 0.3
    return config, tokenizer


@pytest.fixture(scope="session", params=["qwen2", "qwen2.5", "qwen3"])
def tiny_model(request, tmp_path_factory) -> Path:
    """A tiny random-weight model of each family the plugin prunes."""
    from tools.offline_models import save_random_model

    config, tokenizer = tiny_vllm_config(request.param)
    folder = tmp_path_factory.mktemp(request.param.replace(".", "_"))
    return save_random_model(folder, config, tokenizer)


@pytest.fixture(scope="session")
def screenshots() -> list[Path]:
    paths = sorted((ROOT / "tests" / "data").glob("*.png"))
    if len(paths) < 2:
        pytest.fail("no screenshots in tests/data; run tools/dev/make_screenshots.py")
    return paths
