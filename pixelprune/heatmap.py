"""Kept-cell heatmap: an RGBA image with kept cells tinted and dropped cells clear.

One renderer for every consumer: the CLI writes it over the screenshot, the Qt overlay draws it
over the real screen, reports embed it. When the target size differs from the image the selector
saw (the screen is 1920x1080, the model saw 1932x1092), each target pixel takes the cell that
covers the same relative position, so cells land where they are on screen.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from pixelprune.selection import Selection

__all__ = ["KEPT_COLOR", "overlay_heatmap", "render_heatmap"]

KEPT_COLOR = (255, 96, 0, 110)
GRID_COLOR = (255, 255, 255, 70)


def render_heatmap(
    selection: Selection,
    size: tuple[int, int] | None = None,
    *,
    color: tuple[int, int, int, int] = KEPT_COLOR,
    grid: bool = False,
    grid_color: tuple[int, int, int, int] = GRID_COLOR,
) -> Image.Image:
    """RGBA heatmap of `selection` at `size` = (width, height), default the selector's image size.

    Kept cells get `color`, dropped cells are fully transparent; with `grid`, the first pixel
    row and column of every cell get `grid_color` (over both kept and dropped cells).
    """
    height, width = selection.image_size
    out_w, out_h = (width, height) if size is None else (int(size[0]), int(size[1]))
    if out_w <= 0 or out_h <= 0:
        raise ValueError(f"heatmap size must be positive, got {out_w}x{out_h}")
    rows, cols = selection.grid
    row_of = (np.arange(out_h) * rows) // out_h  # cell row covering each target pixel row
    col_of = (np.arange(out_w) * cols) // out_w
    tile = np.zeros((rows, cols, 4), dtype=np.uint8)
    tile[selection.keep] = color
    pixels = tile[row_of[:, None], col_of[None, :]]
    if grid:
        row_edge = np.r_[True, row_of[1:] != row_of[:-1]]
        col_edge = np.r_[True, col_of[1:] != col_of[:-1]]
        pixels[row_edge, :] = grid_color
        pixels[:, col_edge] = grid_color
    return Image.fromarray(pixels, mode="RGBA")


def overlay_heatmap(image: Image.Image | np.ndarray, heatmap: Image.Image) -> Image.Image:
    """The heatmap composited over an RGB image of the same size (for files and reports)."""
    base = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    if base.size != heatmap.size:
        raise ValueError(f"image size {base.size} differs from heatmap size {heatmap.size}")
    return Image.alpha_composite(base.convert("RGBA"), heatmap).convert("RGB")
