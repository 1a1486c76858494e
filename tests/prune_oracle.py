"""Slow, obviously-correct per-cell implementations of every selector, for the tests only.

Written straight from ../shared/pixelprune-notes.md with Python loops and whole-cell numpy
arithmetic, sharing no code with `pixelprune.kernels`, so a disagreement means one of the two
is wrong.
"""

from __future__ import annotations

import numpy as np


def cells_of(image: np.ndarray, cell: int) -> list[np.ndarray]:
    rows, cols = image.shape[0] // cell, image.shape[1] // cell
    return [
        image[r * cell : (r + 1) * cell, c * cell : (c + 1) * cell].copy()
        for r in range(rows)
        for c in range(cols)
    ]


def distance(x: np.ndarray, y: np.ndarray, metric: str, denom: float) -> float:
    d = x.astype(np.float64) - y.astype(np.float64)
    if metric == "max":
        return float(np.abs(d).max()) / denom
    if metric == "mae":
        return float(np.abs(d).sum()) / (denom * d.size)
    if metric == "rmse":
        return float(np.sqrt(float((d * d).sum()) / d.size)) / denom
    return 0.0 if np.array_equal(x, y) else float("inf")


def similar(x: np.ndarray, y: np.ndarray, tau: float, metric: str, denom: float) -> bool:
    if tau == 0 or metric == "exact":
        return x.tobytes() == y.tobytes()
    return distance(x, y, metric, denom) <= tau


def scan(image, cell, method="pred_2d", tau=0.0, metric="max", anchored=True):
    """Keep mask (rows, cols) and the reconstruction, visiting cells one by one."""
    denom = 255.0 if image.dtype == np.uint8 else 1.0
    rows, cols = image.shape[0] // cell, image.shape[1] // cell
    cells = cells_of(image, cell)
    recon: list[np.ndarray | None] = [None] * len(cells)
    order = [
        r * cols + (c if method != "serpentine" or r % 2 == 0 else cols - 1 - c)
        for r in range(rows)
        for c in range(cols)
    ]
    keep = np.zeros(len(cells), dtype=bool)

    def seen(i: int) -> np.ndarray:
        return recon[i] if anchored else cells[i]

    for k, i in enumerate(order):
        if k == 0:
            keep[i] = True
            recon[i] = cells[i]
            continue
        r, c = divmod(i, cols)
        if method != "pred_2d":
            p = order[k - 1]
        elif r == 0:
            p = i - 1
        elif c == 0:
            p = i - cols
        else:
            a, b, ul = i - 1, i - cols, i - cols - 1
            ca = similar(seen(ul), seen(a), tau, metric, denom)
            cb = similar(seen(ul), seen(b), tau, metric, denom)
            p = b if (ca and not cb) else a
        if similar(cells[i], seen(p), tau, metric, denom):
            recon[i] = seen(p).copy()
        else:
            keep[i] = True
            recon[i] = cells[i]
    return keep.reshape(rows, cols), recon


def conncomp(image, cell, tau=0.0, metric="max"):
    denom = 255.0 if image.dtype == np.uint8 else 1.0
    rows, cols = image.shape[0] // cell, image.shape[1] // cell
    cells = cells_of(image, cell)
    label = [-1] * len(cells)
    for start in range(len(cells)):
        if label[start] >= 0:
            continue
        label[start] = start
        stack = [start]
        while stack:
            i = stack.pop()
            r, c = divmod(i, cols)
            for j, ok in (
                (i + 1, c + 1 < cols),
                (i - 1, c > 0),
                (i + cols, r + 1 < rows),
                (i - cols, r > 0),
            ):
                if ok and label[j] < 0:
                    lo, hi = (i, j) if (j == i + 1 or j == i + cols) else (j, i)
                    if similar(cells[lo], cells[hi], tau, metric, denom):
                        label[j] = start
                        stack.append(j)
    keep = np.array([label[i] == i for i in range(len(cells))])
    return keep.reshape(rows, cols)


def global_unique(image, cell):
    seen: set[bytes] = set()
    keep = []
    for x in cells_of(image, cell):
        key = x.tobytes()
        keep.append(key not in seen)
        seen.add(key)
    rows, cols = image.shape[0] // cell, image.shape[1] // cell
    return np.array(keep).reshape(rows, cols)
