"""One attention call per vision layer: equal to the stock towers, and really one call.

Tolerance: outputs equal the stock tower's within rtol = atol = 1e-5 (float32; the same SDPA
kernels, over padded batches instead of one call per window, so sums may round differently).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import TINY_FAMILIES
from torch.profiler import ProfilerActivity, profile
from vlm_helpers import process, screenshots, selections_for, with_mask

from agent.backends.loading import ModelConfig, load_model
from agent.backends.pruned_vision import encode_images
from agent.backends.vision_attention import (
    ONE_CALL_ATTENTION,
    enable_one_call_attention,
    one_call_attention,
)

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


@pytest.fixture(scope="module")
def stock_models(tiny_model_dirs):
    """The tiny models loaded without the one-call attention: stock transformers throughout."""
    return {
        family: load_model(ModelConfig(str(folder), None, "cpu", one_call_attention=False))
        for family, folder in tiny_model_dirs.items()
    }


def sdpa_calls(fn) -> int:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return sum(
        event.count
        for event in prof.key_averages()
        if event.key == "aten::scaled_dot_product_attention"
    )


def assert_same_features(ours, theirs):
    for mine, stock in zip(ours.embeds, theirs.embeds, strict=True):
        torch.testing.assert_close(mine, stock, **TOLERANCE)
    assert (ours.deepstack is None) == (theirs.deepstack is None)
    for mine_layer, stock_layer in zip(ours.deepstack or (), theirs.deepstack or (), strict=True):
        for mine, stock in zip(mine_layer, stock_layer, strict=True):
            torch.testing.assert_close(mine, stock, **TOLERANCE)


def test_loading_selects_it_for_the_vision_tower_only(tiny_models, stock_models):
    for family in TINY_FAMILIES:
        model = tiny_models[family].model
        assert model.model.visual.config._attn_implementation == ONE_CALL_ATTENTION
        assert model.config.text_config._attn_implementation == "sdpa"
        assert stock_models[family].model.model.visual.config._attn_implementation == "sdpa"


@pytest.mark.parametrize("family", TINY_FAMILIES)
@pytest.mark.parametrize("pruned", [False, True], ids=["full", "pruned"])
def test_equal_to_the_stock_tower(tiny_models, stock_models, screenshot_paths, family, pruned):
    """Two screenshots of different sizes: ragged segments in every layer."""
    loaded, stock = tiny_models[family], stock_models[family]
    pixel_values, grid = process(loaded, screenshots(screenshot_paths))
    selections = selections_for(loaded, pixel_values, grid) if pruned else None
    if pruned:
        assert all(0 < s.n_kept < s.n_cells for s in selections)
    with torch.no_grad():
        ours = encode_images(loaded.model, pixel_values, grid, selections)
        theirs = encode_images(stock.model, pixel_values, grid, selections)
    assert_same_features(ours, theirs)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_same_size_images_share_one_call(tiny_models, stock_models, screenshot_paths, family):
    """Equal segments (history screenshots of one size) take the no-copy path."""
    loaded, stock = tiny_models[family], stock_models[family]
    shots = screenshots(screenshot_paths, sizes=((448, 336), (448, 336)))
    pixel_values, grid = process(loaded, shots)
    with torch.no_grad():
        ours = encode_images(loaded.model, pixel_values, grid)
        theirs = encode_images(stock.model, pixel_values, grid)
    assert_same_features(ours, theirs)


def test_ragged_and_empty_windows_after_pruning(tiny_models, stock_models, screenshot_paths):
    """Qwen2.5-VL: most 4 x 4-cell windows emptied, the rest ragged; windowed and full blocks."""
    loaded, stock = tiny_models["qwen2.5"], stock_models["qwen2.5"]
    visual = loaded.model.model.visual
    assert visual.fullatt_block_indexes and len(visual.blocks) > len(visual.fullatt_block_indexes)
    pixel_values, grid = process(loaded, screenshots(screenshot_paths)[:1])
    (selection,) = selections_for(loaded, pixel_values, grid)
    keep = np.zeros(selection.grid, bool)
    keep[0, 0] = keep[5, 9] = keep[6, 9] = keep[6, 10] = keep[11, 15] = keep[2, 13] = True
    keep[4:8, 0:4] = True  # one full window
    selections = [with_mask(selection, keep)]
    with torch.no_grad():
        ours = encode_images(loaded.model, pixel_values, grid, selections)
        theirs = encode_images(stock.model, pixel_values, grid, selections)
    assert ours.embeds[0].shape[0] == int(keep.sum())
    assert_same_features(ours, theirs)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_at_most_one_attention_call_per_block(tiny_models, stock_models, screenshot_paths, family):
    loaded, stock = tiny_models[family], stock_models[family]
    blocks = len(loaded.model.model.visual.blocks)
    pixel_values, grid = process(loaded, screenshots(screenshot_paths))
    selections = selections_for(loaded, pixel_values, grid)
    with torch.no_grad():
        for chosen in (None, selections):
            calls = sdpa_calls(lambda s=chosen: encode_images(loaded.model, pixel_values, grid, s))
            assert 0 < calls <= blocks
        # the count is real: the stock tower calls once per image (and per window) and layer
        stock_calls = sdpa_calls(lambda: encode_images(stock.model, pixel_values, grid))
    assert stock_calls >= 2 * blocks


def test_a_flash_model_is_left_alone(tiny_model_dirs):
    loaded = load_model(ModelConfig(str(tiny_model_dirs["qwen2"]), None, "cpu", "eager"))
    assert loaded.model.model.visual.config._attn_implementation == ONE_CALL_ATTENTION
    loaded.model.model.visual.config._attn_implementation = "flash_attention_2"
    assert not enable_one_call_attention(loaded.model)
    assert loaded.model.model.visual.config._attn_implementation == "flash_attention_2"


def per_segment(q, k, v, bounds, scale):
    """The reference: one SDPA per non-empty segment, as stock transformers runs it."""
    outs = []
    for start, end in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        if end > start:
            segment = [t[:, :, start:end] for t in (q, k, v)]
            outs.append(F.scaled_dot_product_attention(*segment, scale=scale).transpose(1, 2))
    return torch.cat(outs, dim=1)


@pytest.mark.parametrize(
    "lengths",
    [[64], [64, 64, 64], [64, 3, 0, 17, 64, 0, 1], [0, 5, 5, 0]],
    ids=["one", "equal", "ragged-and-empty", "empty-ends"],
)
def test_the_function_against_one_call_per_segment(lengths):
    torch.manual_seed(0)
    tokens, heads, dim = sum(lengths), 3, 8
    q, k, v = (torch.randn(1, heads, tokens, dim) for _ in range(3))
    bounds = F.pad(torch.tensor(lengths).cumsum(0), (1, 0)).to(torch.int32)
    out, weights = one_call_attention(
        None, q, k, v, None, scaling=0.3, cu_seq_lens_q=bounds, cu_seq_lens_k=bounds
    )
    assert weights is None and out.shape == (1, tokens, heads, dim)
    torch.testing.assert_close(out, per_segment(q, k, v, bounds, 0.3), **TOLERANCE)


def test_the_function_refuses_what_it_cannot_do():
    q = torch.randn(1, 2, 4, 8)
    bounds = torch.tensor([0, 4], dtype=torch.int32)
    with pytest.raises(ValueError, match="mask"):
        one_call_attention(None, q, q, q, torch.ones(1, 1, 4, 4), cu_seq_lens_q=bounds)
    with pytest.raises(ValueError, match="same segments"):
        one_call_attention(
            None, q, q, q, None, cu_seq_lens_q=bounds, cu_seq_lens_k=torch.tensor([0, 2, 4])
        )


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_bf16_runs_the_varlen_kernel_and_matches_one_call_per_segment():
    """On CUDA in bf16 the packed sequence goes to torch's varlen kernel, unpadded.

    Tolerance 2e-2: bf16, and the kernels' sums differ in order.
    """
    from agent.backends import vision_attention

    assert vision_attention._varlen_attn is not None, "this torch has no varlen attention"
    torch.manual_seed(0)
    lengths = [64, 3, 0, 17, 64, 0, 1, 4096]
    tokens, heads, dim = sum(lengths), 16, 80
    shape = (1, heads, tokens, dim)
    q, k, v = (torch.randn(shape, device="cuda", dtype=torch.bfloat16) for _ in "qkv")
    bounds = F.pad(torch.tensor(lengths, device="cuda").cumsum(0), (1, 0)).to(torch.int32)
    assert vision_attention._can_use_varlen(q[0].transpose(0, 1), dim**-0.5)
    out, _ = one_call_attention(
        None, q, k, v, None, scaling=dim**-0.5, cu_seq_lens_q=bounds, cu_seq_lens_k=bounds
    )
    reference = per_segment(q.float(), k.float(), v.float(), bounds, dim**-0.5)
    torch.testing.assert_close(out.float(), reference, rtol=2e-2, atol=2e-2)


def test_the_varlen_path_hands_the_kernel_the_packed_sequence(monkeypatch):
    """What a CUDA run calls, with a stand-in kernel: packed rows, int32 bounds (empty segments
    included), the longest segment, the scale; its output is taken as it comes."""
    from agent.backends import vision_attention

    seen = {}

    def kernel(q, k, v, cu_q, cu_k, max_q, max_k, **options):
        seen.update(cu=cu_q, longest=(max_q, max_k), options=options, shape=tuple(q.shape))
        packed = [t.transpose(0, 1)[None] for t in (q, k, v)]
        return per_segment(*packed, cu_q, options.get("scale"))[0]

    monkeypatch.setattr(vision_attention, "_varlen_attn", kernel)
    monkeypatch.setattr(vision_attention, "_VARLEN_SCALE", True)
    monkeypatch.setattr(vision_attention, "_can_use_varlen", lambda q, scaling: True)
    torch.manual_seed(0)
    lengths = [5, 0, 7]
    q, k, v = (torch.randn(1, 2, 12, 4) for _ in range(3))
    bounds = torch.tensor([0, 5, 5, 12])
    out, _ = one_call_attention(
        None, q, k, v, None, scaling=0.5, cu_seq_lens_q=bounds, max_length_q=7
    )
    assert seen["cu"].dtype == torch.int32 and seen["cu"].tolist() == [0, 5, 5, 12]
    assert seen["longest"] == (7, 7) and seen["options"] == {"scale": 0.5}
    assert seen["shape"] == (sum(lengths), 2, 4)
    torch.testing.assert_close(out, per_segment(q, k, v, bounds, 0.5), **TOLERANCE)
