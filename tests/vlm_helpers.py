"""Shared helpers for the tests that run tiny vision-language models on real screenshots."""

from __future__ import annotations

import numpy as np
from PIL import Image

from pixelprune import Selection, get_family, images_from_pixel_values, select


def screenshots(screenshot_paths, sizes=((448, 336), (336, 224))):
    """Two crops of real screenshots (the processor then smart-resizes them per family)."""
    return [
        Image.open(path).convert("RGB").crop((0, 0, *size))
        for path, size in zip(screenshot_paths, sizes, strict=False)
    ]


def process(loaded, images):
    out = loaded.image_processor(images=images, return_tensors="pt")
    return out["pixel_values"], out["image_grid_thw"]


def selections_for(loaded, pixel_values, grid, **options):
    cell = get_family(loaded.family).cell
    return [
        select(image, cell=cell, **options)
        for image in images_from_pixel_values(pixel_values, grid, loaded.family)
    ]


def keep_all(selection: Selection) -> Selection:
    return Selection(
        "all", selection.cell, 0.0, "max", True, np.ones_like(selection.keep), None, 0.0
    )


def with_mask(selection: Selection, keep: np.ndarray) -> Selection:
    return Selection("handmade", selection.cell, 0.0, "max", True, keep, None, 0.0)
