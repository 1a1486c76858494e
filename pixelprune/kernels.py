"""Compiled (numba) inner loops of the selectors: cell comparison, scans, union-find, hashing.

Layout shared by every kernel: the image is a C-contiguous (H, W*3) array `vals` (uint8, or
float on [0, 1]) and `words`, the same buffer viewed as unsigned words for bit-exact compares.
Cell `i` of a grid with `cols` columns sits at rows `(i // cols) * cs ...` and covers
`cs * 3` values (`wpc` words) of each of its `cs` rows.

The scan kernels keep, for every cell already visited, `ref[i]`: the cell whose original pixels
stand for cell i in the reconstruction. A kept cell stands for itself; a dropped cell stands for
whatever its prediction stands for. Comparing `ref`s instead of copying pixels is what makes the
anchored τ>0 mode (compare against the reconstruction, no drift) cost no more than the plain one,
and it short-cuts flat areas, where all refs point to one cell and compares are free.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

EXACT, MAX, MAE, RMSE = 0, 1, 2, 3
METRIC_CODES = {"exact": EXACT, "max": MAX, "mae": MAE, "rmse": RMSE}


@njit(cache=True, inline="always")
def _offset(i, cols, cs, stride, per_row):
    """Unsigned flat offset of cell i's first element (unsigned: no wraparound checks, so the
    compare loops vectorise)."""
    return uint64((i // cols) * cs * stride + (i % cols) * per_row)


@njit(cache=True, inline="always")
def _equal(words, a, b, cols, cs):
    """Bit-exact equality of cells a and b, stopping at the first differing pixel row."""
    stride = words.shape[1]
    wpc = stride // cols
    flat = words.reshape(-1)
    pa = _offset(a, cols, cs, stride, wpc)
    pb = _offset(b, cols, cs, stride, wpc)
    step = uint64(stride)
    for _ in range(cs):
        acc = uint64(0)
        for k in range(uint64(wpc)):
            acc |= uint64(flat[pa + k] ^ flat[pb + k])
        if acc != 0:
            return False
        pa += step
        pb += step
    return True


@njit(cache=True, inline="always")
def _within(vals, a, b, cols, cs, metric, tau, denom):
    """dist(cell a, cell b) <= tau for metric max/mae/rmse on [0, 1] values.

    dist is max|d|/denom, sum|d|/(denom*n) or sqrt(sum d²/n)/denom with d the raw differences
    (denom 255 for uint8, 1 for floats). Each row can only raise the running value, so we stop
    as soon as it is over tau; the final test uses the same formula as the reference oracle.
    """
    stride = vals.shape[1]
    vpc = cs * 3
    n = vpc * cs
    flat = vals.reshape(-1)
    pa = _offset(a, cols, cs, stride, vpc)
    pb = _offset(b, cols, cs, stride, vpc)
    step = uint64(stride)
    total = 0.0
    for _ in range(cs):
        if metric == MAX:
            worst = 0.0
            for k in range(uint64(vpc)):
                worst = max(worst, abs(np.float64(flat[pa + k]) - np.float64(flat[pb + k])))
            total = max(total, worst)
            if total / denom > tau:
                return False
        elif metric == MAE:
            for k in range(uint64(vpc)):
                total += abs(np.float64(flat[pa + k]) - np.float64(flat[pb + k]))
            if total / (denom * n) > tau:
                return False
        else:
            for k in range(uint64(vpc)):
                d = np.float64(flat[pa + k]) - np.float64(flat[pb + k])
                total += d * d
            if np.sqrt(total / n) / denom > tau:
                return False
        pa += step
        pb += step
    return True


@njit(cache=True, inline="always")
def _similar(words, vals, a, b, cols, cs, metric, tau, denom):
    """Cells a and b count as the same under the metric (bit-exact when tau is 0)."""
    if a == b:
        return True
    if metric == EXACT or tau == 0.0:
        return _equal(words, a, b, cols, cs)
    return _within(vals, a, b, cols, cs, metric, tau, denom)


@njit(cache=True, inline="always")
def _predict_2d(words, vals, i, cols, cs, ref, metric, tau, denom):
    """LOCO-I / JPEG-LS prediction of cell i from its left (A), up (B), up-left (C) cells."""
    r, c = i // cols, i % cols
    if r == 0:
        return i - 1
    if c == 0:
        return i - cols
    a, b, ul = i - 1, i - cols, i - cols - 1
    if _similar(words, vals, ref[ul], ref[a], cols, cs, metric, tau, denom) and not _similar(
        words, vals, ref[ul], ref[b], cols, cs, metric, tau, denom
    ):
        return b
    return a


@njit(cache=True)
def scan_select(words, vals, cols, cs, order, pred_2d, metric, tau, denom, anchored, keep, source):
    """Visit cells in `order`; drop a cell when it matches its prediction.

    The prediction is the LOCO-I one when `pred_2d` (order must then be raster), else the
    previous cell in `order` (raster, serpentine). With `anchored`, comparisons read the
    reconstruction (refs), else the raw neighbours. Fills `keep` and `source` (the cell whose
    pixels rebuild each cell).
    """
    n = order.shape[0]
    ref = np.arange(n)
    first = order[0]
    keep[first] = True
    source[first] = first
    for k in range(1, n):
        i = order[k]
        if pred_2d:
            p = _predict_2d(words, vals, i, cols, cs, ref, metric, tau, denom)
        else:
            p = order[k - 1]
        if _similar(words, vals, i, ref[p], cols, cs, metric, tau, denom):
            keep[i] = False
            source[i] = ref[p]
        else:
            keep[i] = True
            source[i] = i
        if anchored:
            ref[i] = source[i]


@njit(cache=True)
def scan_fill(words, vals, cols, cs, order, pred_2d, metric, tau, denom, keep):
    """Decoder of `scan_select`: kept cells are already in the canvas; fill the dropped ones.

    Walks the same order, re-derives each prediction from the canvas (the reconstruction) and
    copies the predicted cell's pixels. Needs no side information beyond the keep mask.
    """
    n = order.shape[0]
    ref = np.arange(n)
    vpc = cs * 3
    for k in range(1, n):
        i = order[k]
        if keep[i]:
            continue
        if pred_2d:
            p = _predict_2d(words, vals, i, cols, cs, ref, metric, tau, denom)
        else:
            p = order[k - 1]
        yi, xi = (i // cols) * cs, (i % cols) * vpc
        yp, xp = (p // cols) * cs, (p % cols) * vpc
        for y in range(cs):
            vals[yi + y, xi : xi + vpc] = vals[yp + y, xp : xp + vpc]


@njit(cache=True)
def _find(parent, i):
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:
        nxt = parent[i]
        parent[i] = root
        i = nxt
    return root


@njit(cache=True)
def connected_components(words, vals, rows, cols, cs, metric, tau, denom, keep, source):
    """Union-find over right/down neighbours that match; one kept cell (the first) per component."""
    n = rows * cols
    parent = np.arange(n)
    for i in range(n):
        r, c = i // cols, i % cols
        if c + 1 < cols and _similar(words, vals, i, i + 1, cols, cs, metric, tau, denom):
            ra, rb = _find(parent, i), _find(parent, i + 1)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
        if r + 1 < rows and _similar(words, vals, i, i + cols, cols, cs, metric, tau, denom):
            ra, rb = _find(parent, i), _find(parent, i + cols)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    for i in range(n):
        root = _find(parent, i)
        source[i] = root
        keep[i] = root == i


@njit(cache=True)
def cell_hashes(words, rows, cols, cs):
    """64-bit hash of each cell's bytes (four interleaved multiply-xor lanes, then mixed)."""
    n = rows * cols
    wpc = words.shape[1] // cols
    out = np.empty(n, dtype=np.uint64)
    m1 = np.uint64(0x9E3779B97F4A7C15)
    m2 = np.uint64(0xBF58476D1CE4E5B9)
    for i in range(n):
        y0, x0 = (i // cols) * cs, (i % cols) * wpc
        h0 = np.uint64(0x243F6A8885A308D3)
        h1 = np.uint64(0x13198A2E03707344)
        h2 = np.uint64(0xA4093822299F31D0)
        h3 = np.uint64(0x082EFA98EC4E6C89)
        for y in range(cs):
            row = words[y0 + y]
            k = 0
            while k + 4 <= wpc:
                h0 = (h0 ^ np.uint64(row[x0 + k])) * m1
                h1 = (h1 ^ np.uint64(row[x0 + k + 1])) * m1
                h2 = (h2 ^ np.uint64(row[x0 + k + 2])) * m1
                h3 = (h3 ^ np.uint64(row[x0 + k + 3])) * m1
                k += 4
            while k < wpc:
                h0 = (h0 ^ np.uint64(row[x0 + k])) * m2
                k += 1
        h = h0 ^ (h1 * m2) ^ ((h2 * m1) >> np.uint64(7)) ^ (h3 * m1 * m2)
        h ^= h >> np.uint64(31)
        out[i] = h * m2
    return out


@njit(cache=True)
def global_duplicates(words, cols, cs, hashes, keep, source):
    """Drop every cell identical to an earlier one anywhere; hash hits are verified byte by byte.

    Cells are grouped by hash (a stable sort keeps raster order inside a group); within a group
    each cell is compared with the group's distinct representatives so far, so a collision can
    never merge two different cells.
    """
    n = hashes.shape[0]
    order = np.argsort(hashes, kind="mergesort")
    reps = np.empty(n, dtype=np.int64)
    start = 0
    while start < n:
        end = start + 1
        while end < n and hashes[order[end]] == hashes[order[start]]:
            end += 1
        n_reps = 0
        for k in range(start, end):
            i = order[k]
            match = -1
            for j in range(n_reps):
                if _equal(words, i, reps[j], cols, cs):
                    match = reps[j]
                    break
            if match >= 0:
                keep[i] = False
                source[i] = match
            else:
                keep[i] = True
                source[i] = i
                reps[n_reps] = i
                n_reps += 1
        start = end
