"""The pruned vision forward against the stock one, on tiny random models of the three classes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY_FAMILIES
from transformers.vision_utils import get_vision_window_index
from vlm_helpers import keep_all, process, screenshots, selections_for, with_mask

from agent.backends.pruned_vision import PruneMismatchError, encode_images, vision_kwargs


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_keep_all_equals_the_stock_tower(tiny_models, screenshot_paths, family):
    loaded = tiny_models[family]
    pixel_values, grid = process(loaded, screenshots(screenshot_paths))
    stock = encode_images(loaded.model, pixel_values, grid)
    every = [keep_all(s) for s in selections_for(loaded, pixel_values, grid)]
    with torch.no_grad():
        pruned = encode_images(loaded.model, pixel_values, grid, every)
        reference = loaded.model.model.get_image_features(pixel_values, grid)
    for ours, theirs, ref in zip(pruned.embeds, stock.embeds, reference.pooler_output, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(theirs, ref)
    assert (pruned.deepstack is None) == (family != "qwen3")
    if pruned.deepstack is not None:
        for ours_layer, stock_layer in zip(pruned.deepstack, stock.deepstack, strict=True):
            for ours, theirs in zip(ours_layer, stock_layer, strict=True):
                torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def capture_first_block(visual):
    """Records the first block's input hidden states and rotary (cos, sin) of the next call."""
    seen = {}

    def hook(module, args, kwargs):
        seen["hidden"] = (args[0] if args else kwargs["hidden_states"]).detach().clone()
        seen["rotary"] = tuple(t.detach().clone() for t in kwargs["position_embeddings"])

    return seen, visual.blocks[0].register_forward_pre_hook(hook, with_kwargs=True)


def in_cell_order(rows, visual, grid, keep=None):
    """Undo Qwen2.5-VL's window permutation (cell-granular) so rows follow raster cell order."""
    if not hasattr(visual, "fullatt_block_indexes"):
        return rows
    unit = visual.spatial_merge_size**2
    if keep is None:
        config = visual.config
        order, _ = get_vision_window_index(
            grid, visual.spatial_merge_size, config.window_size, config.patch_size
        )
    else:
        order = vision_kwargs(visual, grid, keep)["window_index"]
    per_cell = rows.reshape(len(order), unit, -1)
    return per_cell[torch.argsort(order)].reshape(rows.shape)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_kept_patches_keep_their_embedding_and_rotary_rows(tiny_models, screenshot_paths, family):
    loaded = tiny_models[family]
    visual = loaded.model.model.visual
    unit = visual.spatial_merge_size**2
    pixel_values, grid = process(loaded, screenshots(screenshot_paths))
    selections = selections_for(loaded, pixel_values, grid)
    assert all(0 < s.n_kept < s.n_cells for s in selections)
    seen, handle = capture_first_block(visual)
    try:
        with torch.no_grad():
            encode_images(loaded.model, pixel_values, grid)
            stock = dict(seen)
            pruned_out = encode_images(loaded.model, pixel_values, grid, selections)
            pruned = dict(seen)
    finally:
        handle.remove()
    keep = [torch.tensor(s.keep.reshape(-1)) for s in selections]
    kept_cells = torch.cat(keep).nonzero().flatten()
    rows = (kept_cells[:, None] * unit + torch.arange(unit)).flatten()
    for stock_t, pruned_t in [
        (stock["hidden"], pruned["hidden"]),
        *zip(stock["rotary"], pruned["rotary"], strict=True),
    ]:
        want = in_cell_order(stock_t, visual, grid)[rows]
        torch.testing.assert_close(in_cell_order(pruned_t, visual, grid, keep), want)
    assert [len(e) for e in pruned_out.embeds] == [s.n_kept for s in selections]
    for cells, selection in zip(pruned_out.kept_cells, selections, strict=True):
        np.testing.assert_array_equal(cells.numpy(), selection.kept_indices)


def test_windows_are_rebuilt_and_may_be_empty(tiny_models, screenshot_paths):
    loaded = tiny_models["qwen2.5"]
    visual = loaded.model.model.visual
    pixel_values, grid = process(loaded, screenshots(screenshot_paths)[:1])
    (selection,) = selections_for(loaded, pixel_values, grid)
    rows, cols = selection.grid  # 12 x 16 cells; 112 px windows are 4 x 4 cells
    keep = np.zeros((rows, cols), bool)
    keep[0, 0] = keep[5, 9] = keep[6, 9] = keep[11, 15] = keep[2, 13] = True  # most windows empty
    kwargs = vision_kwargs(visual, grid, [torch.tensor(keep.reshape(-1))])
    per_window = [
        int(keep[r : r + 4, c : c + 4].sum()) for r in range(0, rows, 4) for c in range(0, cols, 4)
    ]
    want = np.cumsum([0] + [n * 4 for n in per_window if n])
    np.testing.assert_array_equal(kwargs["cu_window_seqlens"].numpy(), want)
    ranks = {cell: rank for rank, cell in enumerate(np.flatnonzero(keep))}
    order = [
        ranks[r * cols + c]
        for r0 in range(0, rows, 4)
        for c0 in range(0, cols, 4)
        for r in range(r0, r0 + 4)
        for c in range(c0, c0 + 4)
        if keep[r, c]
    ]
    np.testing.assert_array_equal(kwargs["window_index"].numpy(), order)
    with torch.no_grad():
        out = encode_images(loaded.model, pixel_values, grid, [with_mask(selection, keep)])
    assert out.embeds[0].shape[0] == 5 and torch.isfinite(out.embeds[0]).all()


def test_mismatched_selections_are_refused(tiny_models, screenshot_paths):
    loaded = tiny_models["qwen2"]
    pixel_values, grid = process(loaded, screenshots(screenshot_paths))
    selections = selections_for(loaded, pixel_values, grid)
    with pytest.raises(PruneMismatchError, match="2 images"):
        encode_images(loaded.model, pixel_values, grid, selections[:1])
    with pytest.raises(PruneMismatchError, match="selection grid"):
        encode_images(loaded.model, pixel_values, grid, selections[::-1])
    empty = with_mask(selections[0], np.zeros_like(selections[0].keep))
    with pytest.raises(PruneMismatchError, match="keeps no cell"):
        encode_images(loaded.model, pixel_values, grid, [empty, selections[1]])
