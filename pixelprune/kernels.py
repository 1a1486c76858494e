"""Compiled (numba) inner loops of the selectors: cell comparison, scans, union-find, hashing.

Layout: `vals` is the C-contiguous (H, W*3) image (uint8, or float on [0, 1]), `words` the same
buffer as unsigned words for bit-exact compares; cell `i` of `cols` columns sits at rows
`(i // cols) * cs ...` and covers `cs * 3` values (`wpc` words) of each of its `cs` rows. Scans
keep `ref[i]`, the cell whose original pixels stand for cell i in the reconstruction, so anchored
τ>0 costs no more than plain and flat areas compare free. Pixels are read only where
`neighbour_identity`, the union-find (`classes`) and row-sum bounds settle nothing.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, types, uint64
from numba.extending import overload

EXACT, MAX, MAE, RMSE = 0, 1, 2, 3
METRIC_CODES = {"exact": EXACT, "max": MAX, "mae": MAE, "rmse": RMSE}


@njit(cache=True, inline="always")
def _offset(i, cols, cs, stride, per_row):
    """Unsigned flat offset of cell i's first element (unsigned: no wraparound checks, so the
    compare loops vectorise)."""
    return uint64((i // cols) * cs * stride + (i % cols) * per_row)


@njit(cache=True, inline="always")
def _first_difference(words, a, b, cols, cs):
    """Index of the first pixel row where cells a and b differ bit-wise; `cs` when identical."""
    stride = words.shape[1]
    wpc = stride // cols
    flat = words.reshape(-1)
    pa = _offset(a, cols, cs, stride, wpc)
    pb = _offset(b, cols, cs, stride, wpc)
    step = uint64(stride)
    for y in range(cs):
        acc = uint64(0)
        for k in range(uint64(wpc)):
            acc |= uint64(flat[pa + k] ^ flat[pb + k])
        if acc != 0:
            return y
        pa += step
        pb += step
    return cs


@njit(cache=True, inline="always")
def _equal(words, a, b, cols, cs):
    """Bit-exact equality of cells a and b, stopping at the first differing pixel row."""
    return _first_difference(words, a, b, cols, cs) == cs


def _row_distance(flat, pa, pb, n, metric):
    """Placeholder typed by the overload below: one pixel row's max |d|, sum |d| or sum d²."""
    raise NotImplementedError


@overload(_row_distance, jit_options={"cache": True})
def _row_distance_impl(flat, pa, pb, n, metric):
    """8-bit pixels are reduced in narrow unsigned integers (|d| as max - min in uint8, sums in
    uint16/uint32 over chunks of 256 values, which cannot overflow), which LLVM vectorises
    16-32 lanes wide and which is exact; anything else in float64."""
    if flat.dtype == types.uint8:

        def uint8_row(flat, pa, pb, n, metric):
            if metric == MAX:
                worst = np.uint8(0)
                for k in range(n):
                    x, y = flat[pa + k], flat[pb + k]
                    worst = max(worst, np.uint8(max(x, y) - min(x, y)))
                return np.float64(worst)
            total = 0.0
            for start in range(uint64(0), n, uint64(256)):
                stop = min(start + uint64(256), n)
                if metric == MAE:
                    chunk16 = np.uint16(0)
                    for k in range(start, stop):
                        x, y = flat[pa + k], flat[pb + k]
                        chunk16 = np.uint16(chunk16 + np.uint8(max(x, y) - min(x, y)))
                    total += np.float64(chunk16)
                else:
                    chunk32 = np.uint32(0)
                    for k in range(start, stop):
                        x, y = flat[pa + k], flat[pb + k]
                        d = np.uint32(np.uint8(max(x, y) - min(x, y)))
                        chunk32 = np.uint32(chunk32 + d * d)
                    total += np.float64(chunk32)
            return total

        return uint8_row

    def float_row(flat, pa, pb, n, metric):
        total = 0.0
        for k in range(n):
            d = abs(np.float64(flat[pa + k]) - np.float64(flat[pb + k]))
            if metric == MAX:
                total = max(total, d)
            elif metric == MAE:
                total += d
            else:
                total += d * d
        return total

    return float_row


def _row_total(flat, p, n):
    """Placeholder typed by the overload below: the sum of n values of one pixel row."""
    raise NotImplementedError


@overload(_row_total, jit_options={"cache": True})
def _row_total_impl(flat, p, n):
    """8-bit pixels sum in uint16 over chunks of 256 (no overflow, vectorises); else float64."""
    if flat.dtype == types.uint8:

        def uint8_total(flat, p, n):
            total = 0.0
            for start in range(uint64(0), n, uint64(256)):
                chunk = np.uint16(0)
                for k in range(start, min(start + uint64(256), n)):
                    chunk = np.uint16(chunk + flat[p + k])
                total += np.float64(chunk)
            return total

        return uint8_total

    def float_total(flat, p, n):
        total = 0.0
        for k in range(n):
            total += np.float64(flat[p + k])
        return total

    return float_total


@njit(cache=True)
def cell_row_sums(vals, rows, cols, cs):
    """(rows*cols, cs): the sum of each pixel row of each cell, for the distance lower bounds."""
    stride = vals.shape[1]
    vpc = cs * 3
    flat = vals.reshape(-1)
    sums = np.empty((rows * cols, cs), dtype=np.float64)
    for y in range(rows * cs):
        for c in range(cols):
            p = uint64(y * stride + c * vpc)
            sums[(y // cs) * cols + c, y % cs] = _row_total(flat, p, uint64(vpc))
    return sums


@njit(cache=True)
def _sums_for(vals, rows, cols, cs, metric, tau):
    """Row sums when the metric can use their bound (mae, rmse at tau > 0), else empty."""
    if tau > 0.0 and metric in (MAE, RMSE):
        return cell_row_sums(vals, rows, cols, cs)
    return np.zeros((0, cs), dtype=np.float64)


@njit(cache=True, inline="always")
def _surely_apart(sums, a, b, cs, metric, tau, denom):
    """True when row sums alone prove dist(a, b) > tau for mae or rmse (no pixel read).

    Per pixel row, |sum a - sum b| <= sum |d| and (sum a - sum b)² / m <= sum d² (m values per
    row, Cauchy-Schwarz), so row-sum differences bound both metrics from below. The bound must
    beat tau by a relative 1e-9 so that float rounding can never reject a pair the exact
    measure would accept.
    """
    if sums.shape[0] == 0 or metric == MAX:
        return False
    m = cs * 3
    n = m * cs
    bound = 0.0
    for y in range(cs):
        d = sums[a, y] - sums[b, y]
        bound += abs(d) if metric == MAE else d * d / m
    value = bound / (denom * n) if metric == MAE else np.sqrt(bound / n) / denom
    return value > tau * (1.0 + 1e-9) + 1e-12


@njit(cache=True, inline="always")
def _within(vals, sums, a, b, cols, cs, metric, tau, denom, first_row):
    """dist(cell a, cell b) <= tau for metric max/mae/rmse on [0, 1] values.

    dist is max|d|/denom, sum|d|/(denom*n) or sqrt(sum d²/n)/denom with d the raw differences
    (denom 255 for uint8, 1 for floats). Rows before `first_row` are known to be identical and
    add nothing. Each row can only raise the running value, so we stop as soon as it is over
    tau; the final test uses the same formula as the reference oracle. `sums` (row sums, or an
    empty array) lets most clearly different pairs be rejected without reading them.
    """
    if _surely_apart(sums, a, b, cs, metric, tau, denom):
        return False
    stride = vals.shape[1]
    vpc = cs * 3
    n = vpc * cs
    flat = vals.reshape(-1)
    step = uint64(stride)
    pa = _offset(a, cols, cs, stride, vpc) + uint64(first_row) * step
    pb = _offset(b, cols, cs, stride, vpc) + uint64(first_row) * step
    total = 0.0
    for _ in range(first_row, cs):
        row = _row_distance(flat, pa, pb, uint64(vpc), metric)
        if metric == MAX:
            total = max(total, row)
            if total / denom > tau:
                return False
        elif metric == MAE:
            total += row
            if total / (denom * n) > tau:
                return False
        else:
            total += row
            if np.sqrt(total / n) / denom > tau:
                return False
        pa += step
        pb += step
    return True


@njit(cache=True)
def _find(parent, i):
    """Root of i's set, halving the path on the way (union-find)."""
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@njit(cache=True)
def neighbour_identity(words, rows, cols, cs):
    """(2, n) bool: [0, i] cell i is bit-identical to its left neighbour, [1, i] to the one above.

    Computed a band of cells at a time with loops that run along whole pixel rows (XOR against
    the row shifted by one cell, and against the row one cell higher), so they vectorise, then
    reduced per cell. This is the one full pass over the image; the scans then answer most
    identity questions from it in O(1).
    """
    stride = words.shape[1]
    wpc = stride // cols
    flat = words.reshape(-1)
    same = np.zeros((2, rows * cols), dtype=np.bool_)
    diff_left = np.zeros(stride, dtype=words.dtype)
    diff_up = np.zeros(stride, dtype=words.dtype)
    shift, width, band = uint64(wpc), uint64(stride), uint64(cs * stride)
    for r in range(rows):
        diff_left[:] = 0
        diff_up[:] = 0
        for y in range(cs):
            row = uint64((r * cs + y) * stride)
            for k in range(shift, width):
                diff_left[k] |= flat[row + k] ^ flat[row + k - shift]
            if r > 0:
                for k in range(width):
                    diff_up[k] |= flat[row + k] ^ flat[row - band + k]
        for c in range(cols):
            left = uint64(0)
            up = uint64(0)
            for k in range(c * wpc, (c + 1) * wpc):
                left |= uint64(diff_left[k])
                up |= uint64(diff_up[k])
            same[0, r * cols + c] = c > 0 and left == 0
            same[1, r * cols + c] = r > 0 and up == 0
    return same


@njit(cache=True, inline="always")
def _adjacent(same, a, b, cols):
    """1 or 0 when cells a and b are side by side (bit-identical or not); -1 when they are not."""
    if b == a - 1 and a % cols != 0:
        return 1 if same[0, a] else 0
    if b == a + 1 and b % cols != 0:
        return 1 if same[0, b] else 0
    if b == a - cols:
        return 1 if same[1, a] else 0
    if b == a + cols:
        return 1 if same[1, b] else 0
    return -1


class Cells(NamedTuple):
    """What every comparison needs, passed as one value through the scan helpers."""

    words: np.ndarray  # (H, W*3 / word) bit view, for identity
    vals: np.ndarray  # (H, W*3) values, for distances
    sums: np.ndarray  # (n, cs) row sums for distance bounds, or (0, cs)
    same: np.ndarray  # (2, n) left/up identity map, or (2, 0) where pixels change (decoder)
    classes: np.ndarray  # (n,) union-find of proven identities
    cols: int
    cs: int
    metric: int
    tau: float
    denom: float


@njit(cache=True, inline="always")
def _match(cells, x, y, x_ref, y_ref):
    """Does cell x's reconstruction (held by cell x_ref) match cell y's (held by y_ref)?

    Match means bit-identical, or (tau > 0) within tau. Identity is settled without reading
    pixels wherever possible: `classes` (union-find) remembers every identity proven so far,
    and when x and y are neighbours each identical to its ref, the `same` map answers for the
    refs. Pixels are compared only when neither knows; the metric is measured only for cells
    that differ, from their first differing row. Similarity itself is not transitive and is never
    remembered here.
    """
    if x_ref == y_ref:
        return True
    classes, cols, cs = cells.classes, cells.cols, cells.cs
    rx, ry = _find(classes, x_ref), _find(classes, y_ref)
    if rx == ry:
        return True
    first_row = -1
    if cells.same.shape[1] > 0 and _find(classes, x) == rx and _find(classes, y) == ry:
        adjacent = _adjacent(cells.same, x, y, cols)
        if adjacent == 0:
            first_row = 0
        elif adjacent == 1:
            first_row = cs
    if first_row < 0:
        first_row = _first_difference(cells.words, rx, ry, cols, cs)
    if first_row == cs:
        classes[max(rx, ry)] = min(rx, ry)
        return True
    if cells.metric == EXACT or cells.tau == 0.0:
        return False
    return _within(
        cells.vals, cells.sums, rx, ry, cols, cs, cells.metric, cells.tau, cells.denom, first_row
    )


@njit(cache=True, inline="always")
def _match_known(cells, x, y, ref, keep, pred_of):
    """`_match` for y's prediction-time pair: if x is the cell y was predicted from, y's own
    keep decision already answered whether they match (dist is symmetric), so reuse it."""
    if pred_of[y] == x:
        return not keep[y]
    return _match(cells, x, y, ref[x], ref[y])


@njit(cache=True, inline="always")
def _predict(cells, order, k, pred_2d, ref, keep, pred_of):
    """The cell that predicts cell order[k]: the previous one in `order`, or with `pred_2d` the
    LOCO-I / JPEG-LS choice between left (A) and up (B) from the up-left cell (C)."""
    i = order[k]
    if not pred_2d:
        return order[k - 1]
    cols = cells.cols
    r, c = i // cols, i % cols
    if r == 0:
        return i - 1
    if c == 0:
        return i - cols
    a, b, ul = i - 1, i - cols, i - cols - 1
    if _match_known(cells, ul, a, ref, keep, pred_of) and not _match_known(
        cells, ul, b, ref, keep, pred_of
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
    cells = Cells(
        words,
        vals,
        _sums_for(vals, n // cols, cols, cs, metric, tau),
        neighbour_identity(words, n // cols, cols, cs),
        np.arange(n),
        cols,
        cs,
        metric,
        tau,
        denom,
    )
    ref = np.arange(n)
    pred_of = np.full(n, -1)
    first = order[0]
    keep[first] = True
    source[first] = first
    for k in range(1, n):
        i = order[k]
        p = _predict(cells, order, k, pred_2d, ref, keep, pred_of)
        pred_of[i] = p
        if _match(cells, i, p, i, ref[p]):
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
    copies the predicted cell's pixels. Needs no side information beyond the keep mask. (No
    identity map or row sums here: the canvas changes as it is filled.)
    """
    n = order.shape[0]
    cells = Cells(
        words,
        vals,
        np.zeros((0, cs)),
        np.zeros((2, 0), dtype=np.bool_),
        np.arange(n),
        cols,
        cs,
        metric,
        tau,
        denom,
    )
    ref = np.arange(n)
    pred_of = np.full(n, -1)
    vpc = cs * 3
    for k in range(1, n):
        i = order[k]
        if keep[i]:
            continue
        p = _predict(cells, order, k, pred_2d, ref, keep, pred_of)
        pred_of[i] = p
        yi, xi = (i // cols) * cs, (i % cols) * vpc
        yp, xp = (p // cols) * cs, (p % cols) * vpc
        for y in range(cs):
            vals[yi + y, xi : xi + vpc] = vals[yp + y, xp : xp + vpc]
        cells.classes[i] = _find(cells.classes, p)  # the copy equals p bit for bit


@njit(cache=True)
def connected_components(words, vals, rows, cols, cs, metric, tau, denom, keep, source):
    """Union-find over right/down neighbours that match; one kept cell (the first) per component.

    Identical neighbours come from the identity map; at tau > 0 the others are measured unless
    already in one component (the union would change nothing).
    """
    n = rows * cols
    same = neighbour_identity(words, rows, cols, cs)
    sums = _sums_for(vals, rows, cols, cs, metric, tau)
    parent = np.arange(n)
    for i in range(n):
        for j, axis in ((i - 1, 0), (i - cols, 1)):
            if (axis == 0 and i % cols == 0) or j < 0:
                continue
            ra, rb = _find(parent, i), _find(parent, j)
            if ra == rb:
                continue
            if same[axis, i] or (
                metric != EXACT
                and tau != 0.0
                and _within(vals, sums, j, i, cols, cs, metric, tau, denom, 0)
            ):
                parent[max(ra, rb)] = min(ra, rb)
    for i in range(n):
        root = _find(parent, i)
        source[i] = root
        keep[i] = root == i


@njit(cache=True)
def global_duplicates(words, rows, cols, cs, keep, source):
    """Drop every cell identical to an earlier one anywhere; hash hits are verified pixel by pixel.

    A cell identical to its left or upper neighbour repeats an earlier cell and is settled by the
    identity map. The rest (every first occurrence among them) are hashed and grouped by hash;
    within a group each cell is compared with the group's distinct representatives so far, so a
    collision can never merge two different cells.
    """
    n = rows * cols
    same = neighbour_identity(words, rows, cols, cs)
    candidates = np.empty(n, dtype=np.int64)
    n_candidates = 0
    for i in range(n):
        if not (same[0, i] or same[1, i]):
            candidates[n_candidates] = i
            n_candidates += 1
    candidates = candidates[:n_candidates]
    hashes = cell_hashes(words, cols, cs, candidates)
    _dedupe_by_hash(words, cols, cs, candidates, hashes, keep, source)
    for i in range(n):  # raster order: the neighbour's source is final by now
        if same[0, i] or same[1, i]:
            keep[i] = False
            source[i] = source[i - 1] if same[0, i] else source[i - cols]


@njit(cache=True)
def cell_hashes(words, cols, cs, cells):
    """64-bit hash of each given cell's bytes (four interleaved multiply-xor lanes, then mixed)."""
    wpc = words.shape[1] // cols
    out = np.empty(cells.shape[0], dtype=np.uint64)
    m1 = np.uint64(0x9E3779B97F4A7C15)
    m2 = np.uint64(0xBF58476D1CE4E5B9)
    for idx in range(cells.shape[0]):
        i = cells[idx]
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
        out[idx] = h * m2
    return out


@njit(cache=True)
def _dedupe_by_hash(words, cols, cs, cells, hashes, keep, source):
    """Among `cells` (raster order), keep the first of each distinct content, by hash + verify."""
    order = np.argsort(hashes, kind="mergesort")  # stable: raster order inside a hash group
    reps = np.empty(cells.shape[0], dtype=np.int64)
    start = 0
    while start < order.shape[0]:
        end = start + 1
        while end < order.shape[0] and hashes[order[end]] == hashes[order[start]]:
            end += 1
        n_reps = 0
        for k in range(start, end):
            i = cells[order[k]]
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


@njit(cache=True)
def global_from_hashes(words, cols, cs, hashes, keep, source):
    """`global` with caller-given hashes for every cell (tests force collisions with it)."""
    _dedupe_by_hash(words, cols, cs, np.arange(hashes.shape[0]), hashes, keep, source)
