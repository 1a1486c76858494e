"""PixelPrune: drop pixel-duplicate cells of a screenshot before a Qwen-VL vision encoder.

Arrays in, `Selection` out; no GUI, agent or model imports. The public surface:

    from pixelprune import resize_for_model, select
    image = resize_for_model(screenshot, "qwen2.5")     # the model's own smart-resize
    selection = select(image, cell=28)                   # pred_2d, τ=0, lossless
    selection.keep, selection.kept_indices, selection.kept_share
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name → the module that defines it. Imported on first use (PEP 562): `import pixelprune` stays
# light (numba is loaded with the selectors, not before), which the vLLM plugin needs: vLLM's
# CPU workers scan the loaded modules when they start and trip over numba's.
_EXPORTS = {
    "FAMILIES": "pixelprune.families",
    "METHODS": "pixelprune.selectors",
    "METRICS": "pixelprune.selectors",
    "Family": "pixelprune.families",
    "PixelPruneError": "pixelprune.errors",
    "PruneConfig": "pixelprune.config",
    "PruneInputError": "pixelprune.errors",
    "Selection": "pixelprune.selection",
    "as_rgb_array": "pixelprune.image",
    "check_options": "pixelprune.selectors",
    "format_prune_spec": "pixelprune.config",
    "gather_cells": "pixelprune.reconstruction",
    "get_family": "pixelprune.families",
    "images_from_pixel_values": "pixelprune.image",
    "parse_prune_spec": "pixelprune.config",
    "reconstruct": "pixelprune.reconstruction",
    "resize_for_model": "pixelprune.families",
    "select": "pixelprune.selectors",
    "select_pixel_values": "pixelprune.selectors",
    "smart_resize": "pixelprune.families",
}

__all__ = [
    "FAMILIES",
    "METHODS",
    "METRICS",
    "Family",
    "PixelPruneError",
    "PruneConfig",
    "PruneInputError",
    "Selection",
    "as_rgb_array",
    "check_options",
    "format_prune_spec",
    "gather_cells",
    "get_family",
    "images_from_pixel_values",
    "parse_prune_spec",
    "reconstruct",
    "resize_for_model",
    "select",
    "select_pixel_values",
    "smart_resize",
]

if TYPE_CHECKING:
    from pixelprune.config import PruneConfig, format_prune_spec, parse_prune_spec
    from pixelprune.errors import PixelPruneError, PruneInputError
    from pixelprune.families import FAMILIES, Family, get_family, resize_for_model, smart_resize
    from pixelprune.image import as_rgb_array, images_from_pixel_values
    from pixelprune.reconstruction import gather_cells, reconstruct
    from pixelprune.selection import Selection
    from pixelprune.selectors import METHODS, METRICS, check_options, select, select_pixel_values


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pixelprune' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
