"""PixelPrune: drop pixel-duplicate cells of a screenshot before a Qwen-VL vision encoder.

Arrays in, `Selection` out; no GUI, agent or model imports. The public surface:

    from pixelprune import resize_for_model, select
    image = resize_for_model(screenshot, "qwen2.5")     # the model's own smart-resize
    selection = select(image, cell=28)                   # pred_2d, τ=0, lossless
    selection.keep, selection.kept_indices, selection.kept_share
"""

from pixelprune.config import PruneConfig, format_prune_spec, parse_prune_spec
from pixelprune.errors import PixelPruneError, PruneInputError
from pixelprune.families import FAMILIES, Family, get_family, resize_for_model, smart_resize
from pixelprune.image import as_rgb_array, images_from_pixel_values
from pixelprune.reconstruct import gather_cells, reconstruct
from pixelprune.selection import Selection
from pixelprune.selectors import METHODS, METRICS, check_options, select, select_pixel_values

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
