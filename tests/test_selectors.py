"""Every selector against its slow per-cell oracle, and the invariants that tie them together."""

from __future__ import annotations

import numpy as np
import prune_oracle as oracle
import pytest
from conftest import planted_images
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from pixelprune import gather_cells, reconstruct, select
from pixelprune.selectors import global_from_hashes, prepare

TAUS = st.sampled_from([0.0, 0.004, 0.01, 0.02, 0.05, 0.1, 0.3])
METRICS = st.sampled_from(["max", "mae", "rmse"])


@given(planted_images(), st.sampled_from(["max", "mae", "rmse", "exact"]))
def test_pred_2d_lossless_matches_oracle(sample, metric):
    image, cell = sample
    got = select(image, cell=cell, metric=metric)
    want, _ = oracle.scan(image, cell)
    np.testing.assert_array_equal(got.keep, want)
    assert got.keep.flat[0]


@given(planted_images(), TAUS, METRICS, st.booleans())
def test_pred_2d_tau_matches_oracle(sample, tau, metric, anchored):
    image, cell = sample
    got = select(image, cell=cell, tau=tau, metric=metric, anchored=anchored)
    want, _ = oracle.scan(image, cell, tau=tau, metric=metric, anchored=anchored)
    np.testing.assert_array_equal(got.keep, want)


@given(planted_images(), st.sampled_from(["raster", "serpentine"]), TAUS, METRICS, st.booleans())
def test_scan_orders_match_oracle(sample, method, tau, metric, anchored):
    image, cell = sample
    got = select(image, cell=cell, method=method, tau=tau, metric=metric, anchored=anchored)
    want, _ = oracle.scan(image, cell, method, tau=tau, metric=metric, anchored=anchored)
    np.testing.assert_array_equal(got.keep, want)


@given(planted_images(), TAUS, METRICS)
def test_conncomp_matches_oracle(sample, tau, metric):
    image, cell = sample
    got = select(image, cell=cell, method="conncomp", tau=tau, metric=metric)
    np.testing.assert_array_equal(got.keep, oracle.conncomp(image, cell, tau, metric))


@given(planted_images())
def test_global_matches_oracle_and_drops_at_least_what_others_drop(sample):
    image, cell = sample
    glob = select(image, cell=cell, method="global")
    np.testing.assert_array_equal(glob.keep, oracle.global_unique(image, cell))
    for method in ("pred_2d", "raster", "conncomp"):  # they drop only repeats of earlier cells
        other = select(image, cell=cell, method=method)
        assert not (glob.keep & ~other.keep).any(), method  # global's kept ⊆ theirs
    # serpentine meets some repeats before their raster-first copy: only the count is bounded
    assert glob.n_kept <= select(image, cell=cell, method="serpentine").n_kept


@given(planted_images(), st.sampled_from(["constant", "first_bit"]))
def test_global_survives_hash_collisions(sample, kind):
    # Weak hashes (still functions of the content) make different cells collide all the time.
    image, cell = sample
    prep = prepare(image, cell)
    n = prep.rows * prep.cols
    cells = oracle.cells_of(image, cell)
    hashes = np.array([0 if kind == "constant" else x.flat[0] % 2 for x in cells], np.uint64)
    keep, source = global_from_hashes(prep, hashes)
    np.testing.assert_array_equal(
        keep.reshape(prep.rows, prep.cols), oracle.global_unique(image, cell)
    )
    for i in range(n):
        assert np.array_equal(cells[i], cells[source[i]]) and source[i] <= i


@given(planted_images(), st.sampled_from(["pred_2d", "raster", "serpentine", "global", "conncomp"]))
def test_reconstruct_is_bit_exact_at_tau_zero(sample, method):
    image, cell = sample
    selection = select(image, cell=cell, method=method)
    rebuilt = reconstruct(selection, gather_cells(image, selection))
    assert rebuilt.dtype == image.dtype
    np.testing.assert_array_equal(rebuilt, image)


@given(planted_images(), TAUS.filter(bool), METRICS, st.sampled_from(["pred_2d", "raster"]))
def test_anchored_reconstruction_stays_within_tau_without_drift(sample, tau, metric, method):
    image, cell = sample
    selection = select(image, cell=cell, method=method, tau=tau, metric=metric)
    rebuilt = reconstruct(selection, gather_cells(image, selection))
    _, want = oracle.scan(image, cell, method, tau=tau, metric=metric)
    for got_cell, want_cell, original in zip(
        oracle.cells_of(rebuilt, cell), want, oracle.cells_of(image, cell), strict=True
    ):
        np.testing.assert_array_equal(got_cell, want_cell)
        assert oracle.distance(original, got_cell, metric, 255.0) <= tau


def test_non_anchored_drifts_where_anchored_does_not():
    # A slow ramp: each cell one step from its left neighbour; raw comparisons drop them all.
    cell, cols = 2, 12
    image = np.zeros((cell, cell * cols, 3), np.uint8)
    for c in range(cols):
        image[:, c * cell : (c + 1) * cell] = 10 * c
    tau = 10 / 255
    drifting = select(image, cell=cell, tau=tau, anchored=False)
    anchored = select(image, cell=cell, tau=tau, anchored=True)
    assert drifting.n_kept == 1
    assert anchored.n_kept == cols // 2
    rebuilt = reconstruct(anchored, gather_cells(image, anchored))
    assert np.abs(rebuilt.astype(int) - image.astype(int)).max() <= 10
    with pytest.raises(ValueError, match="anchored"):
        reconstruct(drifting, gather_cells(image, drifting))


@given(planted_images(), st.integers(0, 2**31 - 1))
def test_random_keeps_pred_2d_count_and_follows_seed(sample, seed):
    image, cell = sample
    pred = select(image, cell=cell)
    first = select(image, cell=cell, method="random", seed=seed)
    again = select(image, cell=cell, method="random", seed=seed)
    assert first.n_kept == pred.n_kept
    np.testing.assert_array_equal(first.keep, again.keep)
    with pytest.raises(ValueError, match="recipe"):
        reconstruct(first, gather_cells(image, first))


def test_random_seeds_differ():
    image = np.zeros((40, 40, 3), np.uint8)
    image[::3] = 255
    masks = {select(image, cell=4, method="random", seed=s).keep.tobytes() for s in range(5)}
    assert len(masks) > 1


@given(planted_images(cells=(4,)), TAUS, METRICS)
def test_float_input_agrees_with_uint8(sample, tau, metric):
    image, cell = sample
    as_float = image.astype(np.float32) / np.float32(255)
    lossless = select(as_float, cell=cell, metric=metric)
    np.testing.assert_array_equal(lossless.keep, select(image, cell=cell).keep)
    np.testing.assert_array_equal(reconstruct(lossless, gather_cells(as_float, lossless)), as_float)
    lossy = select(as_float, cell=cell, tau=tau, metric=metric)
    want, _ = oracle.scan(as_float, cell, tau=tau, metric=metric)
    np.testing.assert_array_equal(lossy.keep, want)


def test_real_screenshot_matches_oracle(screenshot_paths):
    image = np.asarray(Image.open(screenshot_paths[0]).convert("RGB"))
    image = image[: 28 * 12, : 28 * 20]
    for tau, metric in ((0.0, "max"), (0.02, "max"), (0.01, "mae")):
        got = select(image, tau=tau, metric=metric)
        want, _ = oracle.scan(image, 28, tau=tau, metric=metric)
        np.testing.assert_array_equal(got.keep, want)


def test_selection_record_is_consistent_and_read_only():
    image = np.zeros((56, 84, 3), np.uint8)
    image[28:, 56:] = 200
    selection = select(image)
    assert selection.grid == (2, 3) and selection.image_size == (56, 84)
    assert selection.n_cells == 6 and selection.n_kept == 2 and selection.n_dropped == 4
    assert selection.kept_share == pytest.approx(2 / 6)
    np.testing.assert_array_equal(selection.kept_indices, [0, 5])
    assert selection.seconds > 0
    for array in (selection.keep, selection.kept_indices, selection.source):
        with pytest.raises(ValueError):
            array.flat[0] = 1


def test_pil_and_array_inputs_agree(screenshot_paths):
    pil = Image.open(screenshot_paths[0]).convert("RGB").crop((0, 0, 28 * 10, 28 * 8))
    np.testing.assert_array_equal(select(pil).keep, select(np.asarray(pil)).keep)


def test_odd_cell_sizes_use_byte_compares():
    image = np.zeros((21, 35, 3), np.uint8)  # cell 7: 21 bytes per cell row, not whole words
    image[7:14, 14:21] = 9
    got = select(image, cell=7)
    np.testing.assert_array_equal(got.keep, oracle.scan(image, 7)[0])


@pytest.mark.parametrize("metric", ["max", "mae", "rmse"])
@pytest.mark.parametrize("step", [1, 3, 17])
def test_tau_exactly_at_the_distance_is_similar(metric, step):
    # A uniform shift makes every bound tight (triangle and Cauchy-Schwarz hold with equality):
    # dist == tau must match, dist just above must not, however the kernels get there.
    image = np.full((4, 8, 3), 100, np.uint8)
    image[:, 4:] += step
    tau = step / 255
    assert select(image, cell=4, tau=tau, metric=metric).n_kept == 1
    assert select(image, cell=4, tau=np.nextafter(tau, 0), metric=metric).n_kept == 2


def test_compile_kernels_leaves_nothing_to_compile_for_the_layouts_in_use():
    """After compile_kernels, selecting and rebuilding 8-bit (even and odd cells) and float
    images compiles nothing new: a cold test run or a user's first screenshot does not wait."""
    from numba.core.registry import CPUDispatcher

    from pixelprune import kernels
    from pixelprune.selectors import compile_kernels

    def signatures():
        return {
            name: set(map(str, value.signatures))
            for name, value in vars(kernels).items()
            if isinstance(value, CPUDispatcher)
        }

    compile_kernels()
    before = signatures()
    rng = np.random.default_rng(1)
    for dtype, cell in ((np.uint8, 28), (np.uint8, 9), (np.float32, 32), (np.float64, 14)):
        image = rng.integers(0, 2, (3 * cell, 4 * cell, 3)).astype(dtype)
        for method in ("pred_2d", "raster", "serpentine", "conncomp", "global", "random"):
            selection = select(image, cell=cell, method=method, seed=0)
            if method in ("pred_2d", "raster", "serpentine"):
                rebuilt = reconstruct(selection, gather_cells(image, selection))
                assert np.array_equal(rebuilt, image)
    assert signatures() == before
