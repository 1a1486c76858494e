"""Model families: how each Qwen-VL generation cuts an image into cells, and its smart-resize.

PixelPrune decides keep/drop per merged-token cell (`patch_size * merge_size` pixels square) of
the image *after* the model's processor resized it, so the selector must see the very pixels the
processor produces. `resize_for_model` reproduces the processor's resize (same target size from
`smart_resize`, same PIL bicubic filter) so that a mask computed here lines up with the model's
tokens one to one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from pixelprune.errors import PruneInputError

__all__ = ["FAMILIES", "Family", "get_family", "resize_for_model", "smart_resize"]

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
MAX_ASPECT_RATIO = 200


@dataclass(frozen=True)
class Family:
    """Geometry and normalisation of one Qwen-VL generation's image processor.

    The pixel bounds are those of the released checkpoints' `preprocessor_config.json`
    (UI-TARS-1.5, OS-Atlas and ShowUI inherit them from their Qwen base).
    """

    name: str
    patch_size: int
    merge_size: int
    temporal_patch_size: int
    min_pixels: int
    max_pixels: int
    image_mean: tuple[float, float, float]
    image_std: tuple[float, float, float]

    @property
    def cell(self) -> int:
        """Side in pixels of one merged LLM token, the unit PixelPrune keeps or drops."""
        return self.patch_size * self.merge_size


QWEN2_VL = Family("qwen2", 14, 2, 2, 56 * 56, 16384 * 28 * 28, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD)
QWEN2_5_VL = Family(
    "qwen2.5", 14, 2, 2, 56 * 56, 16384 * 28 * 28, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
)
QWEN3_VL = Family("qwen3", 16, 2, 2, 65536, 16777216, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))

FAMILIES: dict[str, Family] = {
    "qwen2": QWEN2_VL,
    "qwen2-vl": QWEN2_VL,
    "qwen2.5": QWEN2_5_VL,
    "qwen2.5-vl": QWEN2_5_VL,
    "qwen3": QWEN3_VL,
    "qwen3-vl": QWEN3_VL,
}


def get_family(family: str | Family) -> Family:
    """Look a family up by name (`qwen2`, `qwen2.5`, `qwen3`, with or without `-vl`)."""
    if isinstance(family, Family):
        return family
    try:
        return FAMILIES[family.lower()]
    except (KeyError, AttributeError):
        known = ", ".join(sorted({f.name for f in FAMILIES.values()}))
        raise PruneInputError(f"unknown model family {family!r}; known: {known}") from None


def smart_resize(
    height: int,
    width: int,
    family: str | Family = "qwen2.5",
    *,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
) -> tuple[int, int]:
    """Target (height, width) the family's processor resizes an image to.

    Both sides become multiples of the cell, the area is brought inside
    [min_pixels, max_pixels] and the aspect ratio is kept as far as rounding allows. This is the
    Qwen rule (Python's round-half-even included), so token counts here equal the model's.
    """
    fam = get_family(family)
    factor = fam.cell
    lo = fam.min_pixels if min_pixels is None else min_pixels
    hi = fam.max_pixels if max_pixels is None else max_pixels
    if height <= 0 or width <= 0:
        raise PruneInputError(f"image size must be positive, got {width}x{height}")
    if lo > hi:
        raise PruneInputError(f"min_pixels {lo} is larger than max_pixels {hi}")
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise PruneInputError(
            f"aspect ratio of {width}x{height} exceeds {MAX_ASPECT_RATIO}, "
            "which Qwen-VL processors refuse"
        )
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > hi:
        beta = math.sqrt((height * width) / hi)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < lo:
        beta = math.sqrt(lo / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def resize_for_model(
    image: Image.Image | np.ndarray,
    family: str | Family = "qwen2.5",
    *,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
) -> np.ndarray:
    """Resize an RGB image as the family's processor does; returns an (H, W, 3) uint8 array.

    Uses PIL's bicubic filter like the processors, and returns the input unchanged (as an array)
    when it already has the target size, as they do.
    """
    pil = _to_pil_rgb(image)
    height, width = smart_resize(
        pil.height, pil.width, family, min_pixels=min_pixels, max_pixels=max_pixels
    )
    if (height, width) != (pil.height, pil.width):
        pil = pil.resize((width, height), resample=Image.Resampling.BICUBIC)
    return np.asarray(pil, dtype=np.uint8)


def _to_pil_rgb(image: Image.Image | np.ndarray) -> Image.Image:
    """An RGB PIL image from a PIL image or an (H, W, 3) uint8 array, else a clear error."""
    if isinstance(image, Image.Image):
        if image.mode != "RGB":
            raise PruneInputError(
                f"expected an RGB image, got PIL mode {image.mode!r}; "
                "convert it first with image.convert('RGB')"
            )
        return image
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise PruneInputError(
            f"expected an (H, W, 3) uint8 RGB array, got shape {arr.shape} dtype {arr.dtype}"
        )
    if arr.size == 0:
        raise PruneInputError("image is empty")
    return Image.fromarray(arr, mode="RGB")
