"""`Selection`: what a selector decided for one image, in the shape every consumer needs.

The model integration gathers kept cells by `kept_indices`, the heatmap reads `keep`, the stats
read the counts, and `reconstruct` reads `source` — so one frozen record carries all of them,
with read-only arrays so that no consumer can edit a decision another one relies on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Selection"]


@dataclass(frozen=True)
class Selection:
    """Keep/drop decision per cell of one image.

    keep: (rows, cols) bool, True where the cell's tokens go to the model.
    source: (rows, cols) int64 raster index of the kept cell whose pixels stand for each cell
        when rebuilding the image (itself when kept), or None for selectors without one
        (`random`).
    seconds: wall time the selector took, validation included.
    """

    method: str
    cell: int
    tau: float
    metric: str
    anchored: bool
    keep: np.ndarray
    source: np.ndarray | None
    seconds: float
    kept_indices: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        keep = np.array(self.keep, dtype=bool, copy=True)
        if keep.ndim != 2:
            raise ValueError(f"keep mask must be 2-D (rows, cols), got shape {keep.shape}")
        keep.flags.writeable = False
        object.__setattr__(self, "keep", keep)
        if self.source is not None:
            source = np.array(self.source, dtype=np.int64, copy=True).reshape(keep.shape)
            source.flags.writeable = False
            object.__setattr__(self, "source", source)
        kept = np.flatnonzero(keep)
        kept.flags.writeable = False
        object.__setattr__(self, "kept_indices", kept)

    @property
    def grid(self) -> tuple[int, int]:
        """(rows, cols) of the cell grid."""
        return self.keep.shape

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) in pixels of the image the selector saw."""
        rows, cols = self.grid
        return rows * self.cell, cols * self.cell

    @property
    def n_cells(self) -> int:
        return self.keep.size

    @property
    def n_kept(self) -> int:
        return int(self.kept_indices.size)

    @property
    def n_dropped(self) -> int:
        return self.n_cells - self.n_kept

    @property
    def kept_share(self) -> float:
        """Fraction of cells (and so of visual tokens) kept, in [0, 1]."""
        return self.n_kept / self.n_cells
