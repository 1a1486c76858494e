"""Rebuild an image from its kept cells: the proof that τ=0 pruning loses nothing.

For the scan methods (`pred_2d`, `raster`, `serpentine`) the decoder needs nothing but the keep
mask: it walks the same order and re-derives each prediction from what it has rebuilt so far,
exactly as a receiver would. At τ=0 that gives the original bit for bit; in anchored τ>0 mode it
gives the encoder's reconstruction, each cell within τ of the original. `global` and `conncomp`
cannot be decoded from the mask alone, so they use the selection's `source` map.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from pixelprune import kernels
from pixelprune.errors import PruneInputError
from pixelprune.image import as_rgb_array
from pixelprune.selection import Selection
from pixelprune.selectors import prepare, scan_order

__all__ = ["gather_cells", "reconstruct", "split_cells"]

SCAN_METHODS = ("pred_2d", "raster", "serpentine")
SOURCE_METHODS = ("global", "conncomp")


def split_cells(image: np.ndarray, cell: int) -> np.ndarray:
    """(H, W, 3) → (rows * cols, cell, cell, 3) cells in raster order (a copy)."""
    height, width, channels = image.shape
    rows, cols = height // cell, width // cell
    grid = image.reshape(rows, cell, cols, cell, channels).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(grid).reshape(rows * cols, cell, cell, channels)


def gather_cells(image: Image.Image | np.ndarray, selection: Selection) -> np.ndarray:
    """The kept cells of `image`, (n_kept, cell, cell, 3) in raster order: what the model sees."""
    arr = as_rgb_array(image, selection.cell)
    if arr.shape[:2] != selection.image_size:
        raise PruneInputError(
            f"image is {arr.shape[1]}x{arr.shape[0]} but the selection was made on "
            f"{selection.image_size[1]}x{selection.image_size[0]}"
        )
    kept: np.ndarray = split_cells(arr, selection.cell)[selection.kept_indices]
    return kept


def reconstruct(selection: Selection, kept_cells: np.ndarray) -> np.ndarray:
    """Rebuild the (H, W, 3) image from `kept_cells` as `gather_cells` returns them."""
    cells = np.asarray(kept_cells)
    cs = selection.cell
    if cells.shape != (selection.n_kept, cs, cs, 3):
        raise PruneInputError(
            f"kept_cells must be ({selection.n_kept}, {cs}, {cs}, 3) for this selection, "
            f"got {cells.shape}"
        )
    rows, cols = selection.grid
    canvas_cells = np.zeros((rows * cols, cs, cs, 3), dtype=cells.dtype)
    canvas_cells[selection.kept_indices] = cells
    if selection.method in SOURCE_METHODS:
        if selection.tau != 0 or selection.source is None:
            raise PruneInputError(f"{selection.method} at tau>0 is lossy and cannot be rebuilt")
        canvas_cells = canvas_cells[selection.source.reshape(-1)]
        return _join_cells(canvas_cells, rows, cols)
    if selection.method not in SCAN_METHODS:
        raise PruneInputError(
            f"method {selection.method!r} keeps no recipe for the dropped cells; "
            f"reconstruct works for {', '.join(SCAN_METHODS + SOURCE_METHODS)}"
        )
    if selection.tau != 0 and not selection.anchored:
        raise PruneInputError(
            "non-anchored tau>0 selections drift and cannot be rebuilt; use anchored=True"
        )
    canvas = _join_cells(canvas_cells, rows, cols)
    prep = prepare(canvas, cs, writable=True)
    kernels.scan_fill(
        prep.words,
        prep.vals,
        cols,
        cs,
        scan_order(rows, cols, selection.method),
        selection.method == "pred_2d",
        kernels.METRIC_CODES[selection.metric],
        selection.tau,
        prep.denom,
        selection.keep.reshape(-1),
    )
    return prep.vals.reshape(rows * cs, cols * cs, 3)


def _join_cells(cells: np.ndarray, rows: int, cols: int) -> np.ndarray:
    cs = cells.shape[1]
    grid = cells.reshape(rows, cols, cs, cs, 3).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(grid).reshape(rows * cs, cols * cs, 3)
