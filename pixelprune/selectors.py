"""`select`: the one entry point that turns an image into a `Selection`, and the method registry.

Methods (see ../shared/pixelprune-notes.md):
- `pred_2d`    LOCO-I / JPEG-LS predictor on the cell grid (default; lossless at τ=0).
- `raster`     compare with the previous cell in raster order.
- `serpentine` the same in boustrophedon order (row 1 right-to-left, ...).
- `random`     as many kept cells as pred_2d keeps with the same options, chosen at random.
- `conncomp`   union-find of matching right/down neighbours, one kept cell per component.
- `global`     exact global duplicate removal: drop a cell identical to any earlier cell.

τ=0 compares cells bit for bit whatever the metric. At τ>0 the metric decides; with
`anchored=True` (default) comparisons read the reconstructed image so errors cannot drift along
a run, and every dropped cell is within τ of its reconstruction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from pixelprune import kernels
from pixelprune.errors import PruneInputError
from pixelprune.families import Family, get_family
from pixelprune.image import as_rgb_array, images_from_pixel_values
from pixelprune.selection import Selection

__all__ = [
    "METHODS",
    "METRICS",
    "check_options",
    "compile_kernels",
    "prepare",
    "scan_order",
    "select",
    "select_pixel_values",
]

METRICS = tuple(kernels.METRIC_CODES)


@dataclass(frozen=True)
class Prepared:
    """An image checked and laid out for the kernels (see `kernels` for the layout)."""

    vals: np.ndarray  # (H, W*3) uint8 or float
    words: np.ndarray  # same buffer as unsigned words, for bit-exact compares
    rows: int
    cols: int
    cell: int
    denom: float  # 255 for uint8 (values on [0, 1] are v/255), 1 for floats


@dataclass(frozen=True)
class Options:
    """Validated selector options, with the metric as the kernels' integer code."""

    tau: float
    metric: str
    metric_code: int
    anchored: bool
    seed: int | None


Decision = tuple[np.ndarray, np.ndarray | None]  # flat keep mask, flat source (or None)


def select(
    image: Image.Image | np.ndarray,
    *,
    cell: int = 28,
    method: str = "pred_2d",
    tau: float = 0.0,
    metric: str = "max",
    anchored: bool = True,
    seed: int | None = None,
) -> Selection:
    """Decide which cells of an already model-resized RGB image the model needs to see.

    `image`: PIL RGB image or (H, W, 3) array, uint8 or floats on [0, 1], H and W multiples of
    `cell` (28 for Qwen2/2.5-VL, 32 for Qwen3-VL; `resize_for_model` gets it there).
    `seed` only matters for `random`. Bad input raises `PruneInputError` (a `ValueError`).
    """
    start = time.perf_counter()
    selector = _lookup(method)
    options = check_options(method, tau=tau, metric=metric, anchored=anchored, seed=seed)
    prepared = prepare(image, cell)
    keep, source = selector(prepared, options)
    shape = (prepared.rows, prepared.cols)
    return Selection(
        method=method,
        cell=prepared.cell,
        tau=options.tau,
        metric=options.metric,
        anchored=options.anchored,
        keep=keep.reshape(shape),
        source=None if source is None else source.reshape(shape),
        seconds=time.perf_counter() - start,
    )


def select_pixel_values(
    pixel_values: Any,
    image_grid_thw: Any,
    *,
    family: str | Family = "qwen2.5",
    **options: Any,
) -> list[Selection]:
    """`select` on a Qwen-VL processor's output: one Selection per image in `image_grid_thw`.

    Normalisation is undone with the family's mean/std first, so the masks equal those of the
    resized uint8 images.
    """
    fam = get_family(family)
    if "cell" in options:
        raise PruneInputError("cell comes from the family here; do not pass it")
    images = images_from_pixel_values(pixel_values, image_grid_thw, fam)
    return [select(image, cell=fam.cell, **options) for image in images]


def compile_kernels() -> None:
    """Compile every kernel for every layout the selectors meet, or load it from numba's cache.

    Layouts: 8-bit pixels in cells whose rows fill 32-bit words (Qwen's 28 and 32 px) or not
    (odd cells, compared byte by byte), float32 and float64 pixels, and the writable canvas
    `reconstruct` fills. A first compile takes tens of seconds per layout; the install script
    calls this once, so no user's first screenshot (and no cold test run) pays for it.
    """
    from pixelprune.reconstruction import SCAN_METHODS, gather_cells, reconstruct  # (imports us)

    for dtype, cell in ((np.uint8, 28), (np.uint8, 7), (np.float32, 28), (np.float64, 28)):
        image = np.zeros((2 * cell, 2 * cell, 3), dtype)
        image[cell:, cell:] = 1
        for method in METHODS:
            select(image, cell=cell, method=method, seed=0)
            if method not in EXACT_ONLY:
                for metric in ("max", "mae", "rmse"):
                    select(image, cell=cell, method=method, tau=0.01, metric=metric, seed=0)
        prepared = prepare(image, cell)
        global_from_hashes(prepared, np.zeros(prepared.rows * prepared.cols, np.uint64))
        for method in SCAN_METHODS:
            selection = select(image, cell=cell, method=method)
            reconstruct(selection, gather_cells(image, selection))


def prepare(image: Image.Image | np.ndarray, cell: int, *, writable: bool = False) -> Prepared:
    """Check an image and lay it out for the kernels.

    The views are read-only unless `writable` (the decoder fills its canvas): numba compiles a
    separate version for read-only arrays, and images from PIL arrive read-only, so making every
    selector call read-only keeps it to one compiled (and cached) version.
    """
    arr = as_rgb_array(image, cell)
    height, width = arr.shape[:2]
    vals = arr.reshape(height, width * 3).view()
    row_bytes = cell * 3 * arr.itemsize
    word = np.uint32 if row_bytes % 4 == 0 else np.uint8
    words = vals.view(np.uint8).view(word)
    if writable and not vals.flags.writeable:
        raise PruneInputError("a writable image is needed here")
    vals.flags.writeable = writable
    words.flags.writeable = writable
    denom = 255.0 if arr.dtype == np.uint8 else 1.0
    return Prepared(vals, words, height // cell, width // cell, int(cell), denom)


def scan_order(rows: int, cols: int, method: str) -> np.ndarray:
    """Raster indices in the visiting order of a scan method (`pred_2d`/`raster`/`serpentine`)."""
    order = np.arange(rows * cols, dtype=np.int64).reshape(rows, cols)
    if method == "serpentine":
        order[1::2] = order[1::2, ::-1]
    return order.reshape(-1)


def _pred_2d(prep: Prepared, opt: Options) -> Decision:
    return _scan(prep, opt, "pred_2d")


def _raster(prep: Prepared, opt: Options) -> Decision:
    return _scan(prep, opt, "raster")


def _serpentine(prep: Prepared, opt: Options) -> Decision:
    return _scan(prep, opt, "serpentine")


def _scan(prep: Prepared, opt: Options, method: str) -> Decision:
    order = scan_order(prep.rows, prep.cols, method)
    return _decide(
        prep,
        kernels.scan_select,
        prep.words,
        prep.vals,
        prep.cols,
        prep.cell,
        order,
        method == "pred_2d",
        opt.metric_code,
        opt.tau,
        prep.denom,
        opt.anchored,
    )


def _random(prep: Prepared, opt: Options) -> Decision:
    n_kept = int(_pred_2d(prep, opt)[0].sum())
    n = prep.rows * prep.cols
    keep = np.zeros(n, dtype=np.bool_)
    keep[np.random.default_rng(opt.seed).choice(n, size=n_kept, replace=False)] = True
    return keep, None


def _conncomp(prep: Prepared, opt: Options) -> Decision:
    return _decide(
        prep,
        kernels.connected_components,
        prep.words,
        prep.vals,
        prep.rows,
        prep.cols,
        prep.cell,
        opt.metric_code,
        opt.tau,
        prep.denom,
    )


def _global(prep: Prepared, opt: Options) -> Decision:
    return _decide(prep, kernels.global_duplicates, prep.words, prep.rows, prep.cols, prep.cell)


def global_from_hashes(prep: Prepared, hashes: np.ndarray) -> Decision:
    """The `global` decision with given per-cell hashes (so tests can force collisions)."""
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    return _decide(prep, kernels.global_from_hashes, prep.words, prep.cols, prep.cell, hashes)


def _decide(prep: Prepared, kernel: Callable[..., None], *args: Any) -> Decision:
    """Run a kernel that fills a keep mask and a source map (its last two arguments)."""
    n = prep.rows * prep.cols
    keep = np.empty(n, dtype=np.bool_)
    source = np.empty(n, dtype=np.int64)
    kernel(*args, keep, source)
    return keep, source


METHODS: dict[str, Callable[[Prepared, Options], Decision]] = {
    "pred_2d": _pred_2d,
    "raster": _raster,
    "serpentine": _serpentine,
    "random": _random,
    "conncomp": _conncomp,
    "global": _global,
}
EXACT_ONLY = {"global"}


def _lookup(method: str) -> Callable[[Prepared, Options], Decision]:
    try:
        return METHODS[method]
    except (KeyError, TypeError):
        raise PruneInputError(
            f"unknown method {method!r}; choose one of {', '.join(METHODS)}"
        ) from None


def check_options(
    method: str, *, tau: Any = 0.0, metric: str = "max", anchored: Any = True, seed: Any = None
) -> Options:
    """The options `select` would run with; `PruneInputError` says why they would be refused.

    Checked without an image, so a command line or a request is refused before any work.
    """
    _lookup(method)
    if metric not in kernels.METRIC_CODES:
        raise PruneInputError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    try:
        tau_f = float(tau)
    except (TypeError, ValueError):
        raise PruneInputError(f"tau must be a number, got {tau!r}") from None
    if not 0 <= tau_f <= 1:  # also refuses nan and inf
        raise PruneInputError(
            f"tau must be between 0 and 1 (a distance between pixel values on [0, 1]), got {tau!r}"
        )
    if metric == "exact" and tau_f != 0:
        raise PruneInputError("metric 'exact' compares bits and takes no tolerance; use tau=0")
    if method in EXACT_ONLY and tau_f != 0:
        raise PruneInputError(f"method {method!r} removes exact duplicates only; use tau=0")
    if not isinstance(anchored, (bool, np.bool_)):
        raise PruneInputError(f"anchored must be True or False, got {anchored!r}")
    if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
        raise PruneInputError(f"seed must be an integer or None, got {seed!r}")
    return Options(
        tau_f,
        metric,
        kernels.METRIC_CODES[metric],
        bool(anchored),
        None if seed is None else int(seed),
    )
