"""Input checking for the selectors, and turning a processor's `pixel_values` back into pixels.

Every selector works on an (H, W, 3) array whose sides are multiples of the cell: uint8 pixels,
or floats already on [0, 1]. Anything else is refused here with a message that says what is
wrong, so no selector ever guesses (a 16-bit or RGBA image silently treated as 8-bit RGB would
give a wrong mask that still looks plausible).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from pixelprune.errors import PruneInputError
from pixelprune.families import Family, get_family

__all__ = ["as_rgb_array", "images_from_pixel_values"]

# How far (in 8-bit steps) an un-normalised value may sit from a whole number before we refuse
# to call it an 8-bit pixel: float32 normalisation errors are ~1e-4 steps, a wrong mean/std or
# a resize done in float is far larger.
MAX_QUANTISATION_ERROR = 0.05


def as_rgb_array(image: Image.Image | np.ndarray, cell: int) -> np.ndarray:
    """A C-contiguous (H, W, 3) uint8 or float array with H and W multiples of `cell`.

    Floats must be finite and on [0, 1]; float16 is widened to float32 (exactly).
    """
    if not isinstance(cell, (int, np.integer)) or isinstance(cell, bool) or cell <= 0:
        raise PruneInputError(f"cell must be a positive integer, got {cell!r}")
    arr = _pil_to_array(image) if isinstance(image, Image.Image) else np.asarray(image)
    if arr.size == 0:
        raise PruneInputError(f"image is empty (shape {arr.shape})")
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 1):
        raise PruneInputError(
            f"image has 1 channel (shape {arr.shape}); PixelPrune needs RGB, "
            "e.g. np.repeat(img[..., None], 3, axis=2)"
        )
    if arr.ndim != 3:
        raise PruneInputError(f"image must be (H, W, 3), got shape {arr.shape}")
    if arr.shape[2] == 4:
        raise PruneInputError(
            f"image is RGBA (shape {arr.shape}); drop or composite the alpha channel first"
        )
    if arr.shape[2] != 3:
        raise PruneInputError(f"image must have 3 channels (RGB), got shape {arr.shape}")
    arr = _check_dtype(arr)
    height, width = arr.shape[:2]
    if height % cell or width % cell:
        raise PruneInputError(
            f"image size {width}x{height} is not a multiple of the {cell}px cell; resize it "
            "first with pixelprune.resize_for_model (the model's smart-resize)"
        )
    return np.ascontiguousarray(arr)


def images_from_pixel_values(
    pixel_values: Any,
    image_grid_thw: Any,
    family: str | Family = "qwen2.5",
) -> list[np.ndarray]:
    """Undo a Qwen-VL processor: flattened, normalised patches → one uint8 (H, W, 3) per image.

    `pixel_values` is (sum of t*h*w patches, C * temporal * patch * patch) as the processor
    returns it (torch tensor or array), `image_grid_thw` is (num_images, 3). Patches are laid out
    merge-block by merge-block (t, h/m, w/m, m, m, C, T, p, p); normalisation is undone with the
    family's mean/std and the result must land on the 8-bit grid, else the caller named the wrong
    family and we say so.
    """
    fam = get_family(family)
    values = _to_numpy(pixel_values, "pixel_values").astype(np.float64, copy=False)
    grids = _to_numpy(image_grid_thw, "image_grid_thw").astype(np.int64, copy=False)
    p, m, tp = fam.patch_size, fam.merge_size, fam.temporal_patch_size
    if grids.ndim != 2 or grids.shape[1] != 3:
        raise PruneInputError(f"image_grid_thw must be (num_images, 3), got {grids.shape}")
    if values.ndim != 2 or values.shape[1] != 3 * tp * p * p:
        raise PruneInputError(
            f"pixel_values must be (patches, {3 * tp * p * p}) for {fam.name} "
            f"(3 x {tp} x {p} x {p}), got {values.shape}; is the family right?"
        )
    if not np.isfinite(values).all():
        raise PruneInputError("pixel_values contain NaN or infinity")
    if int(np.prod(grids, axis=1).sum()) != values.shape[0]:
        raise PruneInputError(
            f"image_grid_thw accounts for {int(np.prod(grids, axis=1).sum())} patches but "
            f"pixel_values has {values.shape[0]}"
        )
    mean = np.asarray(fam.image_mean).reshape(3, 1, 1, 1)
    std = np.asarray(fam.image_std).reshape(3, 1, 1, 1)
    images, start = [], 0
    for t, gh, gw in grids.tolist():
        if t != 1:
            raise PruneInputError(f"grid t={t}: videos are not supported, only still images")
        if gh % m or gw % m:
            raise PruneInputError(f"grid {gh}x{gw} is not a multiple of merge size {m}")
        block = values[start : start + gh * gw]
        start += gh * gw
        # (h/m, w/m, m, m, C, T, p, p) → frame 0 → (C, h/m, m, p, w/m, m, p)
        patches = block.reshape(gh // m, gw // m, m, m, 3, tp, p, p)[:, :, :, :, :, 0]
        planar = patches.transpose(4, 0, 2, 5, 1, 3, 6).reshape(3, gh * p, gw * p)
        unit = planar * std[:, :, :, 0] + mean[:, :, :, 0]
        steps = unit * 255.0
        rounded = np.rint(steps)
        error = float(np.abs(steps - rounded).max())
        if error > MAX_QUANTISATION_ERROR or rounded.min() < 0 or rounded.max() > 255:
            raise PruneInputError(
                f"pixel_values do not map back to 8-bit pixels with the {fam.name} mean/std "
                f"(off by up to {error:.3f} steps, range {rounded.min():.0f}..{rounded.max():.0f});"
                " pass the family whose processor made them"
            )
        images.append(np.ascontiguousarray(rounded.astype(np.uint8).transpose(1, 2, 0)))
    return images


def _pil_to_array(image: Image.Image) -> np.ndarray:
    if image.mode == "RGB":
        return np.asarray(image)
    if image.mode in ("RGBA", "LA", "RGBa", "La"):
        raise PruneInputError(
            f"image is {image.mode} (has alpha); use image.convert('RGB') or composite it first"
        )
    if image.mode.startswith("I;16") or image.mode == "I":
        raise PruneInputError(
            f"image is 16/32-bit (PIL mode {image.mode!r}); PixelPrune works on 8-bit RGB"
        )
    if image.mode in ("L", "1", "P"):
        raise PruneInputError(
            f"image has 1 channel (PIL mode {image.mode!r}); use image.convert('RGB')"
        )
    raise PruneInputError(f"unsupported PIL mode {image.mode!r}; use image.convert('RGB')")


def _check_dtype(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype in (np.uint16, np.int16):
        raise PruneInputError(
            f"image is 16-bit ({arr.dtype}); PixelPrune works on 8-bit RGB or floats on [0, 1]"
        )
    if arr.dtype.kind == "f":
        if arr.dtype == np.float16:
            arr = arr.astype(np.float32)
        if not np.isfinite(arr).all():
            raise PruneInputError("float image contains NaN or infinity")
        if arr.min() < 0.0 or arr.max() > 1.0:
            raise PruneInputError(
                f"float image must be on [0, 1], got {arr.min():g}..{arr.max():g} "
                "(un-normalise processor output with images_from_pixel_values)"
            )
        return arr
    raise PruneInputError(
        f"image dtype {arr.dtype} is not supported; use uint8 or floats on [0, 1]"
    )


def _to_numpy(value: Any, name: str) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, without importing torch here
        value = value.detach().to("cpu").float().numpy()
    arr = np.asarray(value)
    if arr.dtype == object:
        raise PruneInputError(f"{name} must be numeric, got {type(value).__name__}")
    return arr
