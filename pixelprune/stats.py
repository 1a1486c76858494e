"""Kept share and selector timing, measured the same way for the CLI, benchmarks and reports.

Timings are the median of repeated runs (first call excluded when `warmup`), because one run on
a busy machine says little; the spread is kept so a reader can see how noisy it was.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from pixelprune.selection import Selection
from pixelprune.selectors import METHODS, select

__all__ = ["MethodStats", "compare_methods", "pooled_kept_share", "time_select"]


@dataclass(frozen=True)
class MethodStats:
    """One method on one image: what it kept and how long it took."""

    method: str
    tau: float
    metric: str
    n_cells: int
    n_kept: int
    median_ms: float
    min_ms: float
    runs: int

    @property
    def kept_share(self) -> float:
        return self.n_kept / self.n_cells


def time_select(
    image: Image.Image | np.ndarray, *, repeat: int = 5, warmup: bool = True, **options: Any
) -> tuple[Selection, MethodStats]:
    """Run `select` `repeat` times; the last Selection and its timing summary."""
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    if warmup:
        select(image, **options)
    runs = [select(image, **options) for _ in range(repeat)]
    ms = [run.seconds * 1e3 for run in runs]
    last = runs[-1]
    stats = MethodStats(
        method=last.method,
        tau=last.tau,
        metric=last.metric,
        n_cells=last.n_cells,
        n_kept=last.n_kept,
        median_ms=statistics.median(ms),
        min_ms=min(ms),
        runs=repeat,
    )
    return last, stats


def compare_methods(
    image: Image.Image | np.ndarray,
    *,
    methods: Sequence[str] = tuple(METHODS),
    taus: Sequence[float] = (0.0,),
    repeat: int = 5,
    **options: Any,
) -> list[MethodStats]:
    """Every method at every τ on one image (τ>0 skipped for exact-only methods)."""
    rows = []
    for tau in taus:
        for method in methods:
            if tau > 0 and method == "global":
                continue
            rows.append(time_select(image, method=method, tau=tau, repeat=repeat, **options)[1])
    return rows


def pooled_kept_share(selections: Iterable[Selection]) -> float:
    """Kept cells over all cells of several images (each token weighs the same)."""
    kept = cells = 0
    for selection in selections:
        kept += selection.n_kept
        cells += selection.n_cells
    if cells == 0:
        raise ValueError("no selections to pool")
    return kept / cells
