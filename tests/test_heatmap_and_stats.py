"""Heatmap geometry (at the selector's size and mapped to a screen size) and the stats helpers."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pixelprune import select
from pixelprune.heatmap import KEPT_COLOR, overlay_heatmap, render_heatmap
from pixelprune.stats import compare_methods, pooled_kept_share, time_select


def checker_selection():
    """3x4 grid of 28 px cells: a 200 cell at (1,2) and a 90 cell at (2,3) on black.

    pred_2d keeps (0,0), the two bright cells, and the black cells right of (1,2) and below
    it, which it predicts from the bright cell (LOCO-I follows the edge)."""
    image = np.zeros((84, 112, 3), np.uint8)
    image[28:56, 56:84] = 200
    image[56:84, 84:112] = 90
    selection = select(image)
    np.testing.assert_array_equal(
        np.argwhere(selection.keep), [[0, 0], [1, 2], [1, 3], [2, 2], [2, 3]]
    )
    return selection


def test_heatmap_tints_kept_cells_and_leaves_dropped_clear():
    selection = checker_selection()
    heat = np.asarray(render_heatmap(selection))
    assert heat.shape == (84, 112, 4)
    for r in range(3):
        for c in range(4):
            block = heat[r * 28 : (r + 1) * 28, c * 28 : (c + 1) * 28].reshape(-1, 4)
            want = KEPT_COLOR if selection.keep[r, c] else (0, 0, 0, 0)
            assert (block == want).all(), (r, c)


def test_heatmap_maps_cells_to_a_screen_of_another_size():
    selection = checker_selection()
    heat = np.asarray(render_heatmap(selection, (200, 150)))  # width, height
    assert heat.shape == (150, 200, 4)
    # cell (1, 2) covers rows 50..99 and columns 100..149 of the 200x150 target
    assert (heat[50:100, 100:150, 3] == KEPT_COLOR[3]).all()
    assert (heat[50:100, 50:100, 3] == 0).all()
    assert heat[49, 120, 3] == 0 and heat[100, 60, 3] == 0


def test_heatmap_grid_marks_cell_borders():
    selection = checker_selection()
    heat = np.asarray(render_heatmap(selection, grid=True, grid_color=(1, 2, 3, 4)))
    assert (heat[::28, :, :] == (1, 2, 3, 4)).all() and (heat[:, ::28] == (1, 2, 3, 4)).all()
    assert (heat[1:28, 1:28] == KEPT_COLOR).all()
    with pytest.raises(ValueError, match="positive"):
        render_heatmap(selection, (0, 10))


def test_overlay_blends_only_kept_cells():
    selection = checker_selection()
    image = Image.new("RGB", (112, 84), (10, 20, 30))
    out = np.asarray(overlay_heatmap(image, render_heatmap(selection)))
    assert tuple(out[40, 10]) == (10, 20, 30)  # dropped cell unchanged
    assert tuple(out[5, 5]) != (10, 20, 30)  # kept cell tinted
    with pytest.raises(ValueError, match="size"):
        overlay_heatmap(Image.new("RGB", (10, 10)), render_heatmap(selection))


def test_time_select_and_compare_methods(screenshot_paths):
    image = np.asarray(Image.open(screenshot_paths[0]).convert("RGB"))[: 28 * 10, : 28 * 16]
    selection, stats = time_select(image, repeat=3)
    assert stats.runs == 3 and stats.min_ms <= stats.median_ms
    assert stats.n_kept == selection.n_kept and stats.kept_share == selection.kept_share
    rows = compare_methods(image, taus=(0.0, 0.05), repeat=1)
    assert [(r.method, r.tau) for r in rows][:6] == [
        (m, 0.0) for m in ("pred_2d", "raster", "serpentine", "random", "conncomp", "global")
    ]
    assert ("global", 0.05) not in [(r.method, r.tau) for r in rows]
    assert pooled_kept_share([selection, selection]) == selection.kept_share
    with pytest.raises(ValueError):
        pooled_kept_share([])
