"""Run a stock Qwen2-VL / Qwen2.5-VL / Qwen3-VL vision tower on the kept cells only.

Nothing in transformers is patched: their vision towers accept precomputed index tensors as
keywords (`position_ids`, `cu_seqlens`, `window_index`, `cu_window_seqlens`, `interp_indices`,
`interp_weights`) and use them instead of deriving them from `grid_thw`. We compute each of them
for the full, unpruned grid with transformers' own helpers and keep the rows of the kept cells,
so every kept patch keeps its true 2-D rotary position (and, on Qwen3-VL, its absolute position
embedding); attention segments are rebuilt from the kept counts per image and, on Qwen2.5-VL,
per 112 px window (windows may come out empty). A dropped cell drops all of its merge x merge
patches, so the patches the merger joins stay together and it emits one row per kept cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel
from transformers.vision_utils import (
    get_vision_interpolation_indices_and_weights,
    get_vision_position_ids,
    get_vision_window_index,
)

from agent.errors import AgentError
from pixelprune import Selection

__all__ = ["PruneMismatchError", "VisionFeatures", "encode_images", "vision_kwargs"]


class PruneMismatchError(AgentError):
    """The selections do not fit the images (count, grid); pruning is refused, not skipped."""


@dataclass(frozen=True)
class VisionFeatures:
    """Vision tower output split per image.

    embeds: one (tokens, hidden) tensor per image, a row per kept cell in raster order (all cells
        when unpruned).
    deepstack: Qwen3-VL's per-layer features, [layer][image] like `embeds`; None otherwise.
    kept_cells: per image, the raster indices of the cells the rows stand for.
    """

    embeds: tuple[torch.Tensor, ...]
    deepstack: tuple[tuple[torch.Tensor, ...], ...] | None
    kept_cells: tuple[torch.Tensor, ...]


def encode_images(
    model: PreTrainedModel,
    pixel_values: torch.Tensor,
    image_grid_thw: torch.Tensor,
    selections: Sequence[Selection] | None = None,
) -> VisionFeatures:
    """Vision features of the images in `pixel_values`, pruned to `selections` when given.

    `selections=None` runs the stock, unpruned path. Otherwise there must be one Selection per
    image, made on the image the processor produced (same cell grid), else PruneMismatchError.
    """
    if len(image_grid_thw) == 0:  # a text-only prompt: nothing for the vision tower
        return VisionFeatures(embeds=(), deepstack=None, kept_cells=())
    visual = model.model.visual
    merge_unit = visual.spatial_merge_size**2
    cells_per_image = (image_grid_thw.prod(-1) // merge_unit).tolist()
    if selections is None:
        kept_cells = [torch.arange(n, device=pixel_values.device) for n in cells_per_image]
        out = visual(pixel_values.type(visual.dtype), grid_thw=image_grid_thw, return_dict=True)
    else:
        keep = _keep_masks(visual, image_grid_thw, selections, pixel_values.device)
        kept_cells = [mask.nonzero().flatten() for mask in keep]
        patches = _kept_patches(torch.cat(keep), merge_unit)
        kwargs = vision_kwargs(visual, image_grid_thw, keep)
        out = visual(
            pixel_values[patches].type(visual.dtype),
            grid_thw=image_grid_thw,
            return_dict=True,
            **kwargs,
        )
    sizes = [len(cells) for cells in kept_cells]
    deepstack = getattr(out, "deepstack_features", None)
    return VisionFeatures(
        embeds=tuple(torch.split(out.pooler_output, sizes)),
        deepstack=None
        if deepstack is None
        else tuple(tuple(torch.split(f, sizes)) for f in deepstack),
        kept_cells=tuple(kept_cells),
    )


def vision_kwargs(
    visual: Any, image_grid_thw: torch.Tensor, keep: Sequence[torch.Tensor]
) -> dict[str, Any]:
    """The index tensors a stock vision tower takes instead of deriving them from the full grid.

    `keep`: per image, a bool mask over its cells in raster order.
    """
    merge = visual.spatial_merge_size
    merge_unit = merge * merge
    keep_all = torch.cat(list(keep))
    patches = _kept_patches(keep_all, merge_unit)
    kept_per_image = torch.stack([mask.sum() for mask in keep])
    kwargs: dict[str, Any] = {
        "position_ids": get_vision_position_ids(image_grid_thw, merge)[patches],
        "cu_seqlens": F.pad((kept_per_image * merge_unit).cumsum(0), (1, 0)).to(torch.int32),
    }
    config = visual.config
    if hasattr(visual, "fullatt_block_indexes"):  # Qwen2.5-VL: windowed attention
        full_index, full_cu = get_vision_window_index(
            image_grid_thw, merge, config.window_size, config.patch_size
        )
        kwargs["window_index"], kwargs["cu_window_seqlens"] = _kept_windows(
            full_index, full_cu, keep_all, merge_unit
        )
    if hasattr(visual, "pos_embed"):  # Qwen3-VL: interpolated absolute position embedding
        indices, weights = get_vision_interpolation_indices_and_weights(
            image_grid_thw,
            num_grid_per_side=visual.num_grid_per_side,
            mode=visual.interpolation_mode,
            align_corners=visual.interpolation_align_corners,
            spatial_merge_size=merge,
        )
        kwargs["interp_indices"], kwargs["interp_weights"] = indices[patches], weights[patches]
    return kwargs


def _keep_masks(
    visual: torch.nn.Module,
    image_grid_thw: torch.Tensor,
    selections: Sequence[Selection],
    device: torch.device,
) -> list[torch.Tensor]:
    if len(selections) != len(image_grid_thw):
        raise PruneMismatchError(
            f"{len(selections)} selections for {len(image_grid_thw)} images; give one per image"
        )
    merge = visual.spatial_merge_size
    masks = []
    for number, ((t, h, w), selection) in enumerate(
        zip(image_grid_thw.tolist(), selections, strict=True)
    ):
        if t != 1:
            raise PruneMismatchError(f"image {number} has {t} frames; only still images prune")
        grid = (h // merge, w // merge)
        if selection.grid != grid:
            raise PruneMismatchError(
                f"image {number}: selection grid {selection.grid} != model cell grid {grid}; "
                "select on the image the processor produced (pixelprune.resize_for_model)"
            )
        if selection.n_kept == 0:
            raise PruneMismatchError(f"image {number}: the selection keeps no cell")
        masks.append(torch.tensor(selection.keep.reshape(-1), device=device))
    return masks


def _kept_patches(keep_cells: torch.Tensor, merge_unit: int) -> torch.Tensor:
    """Patch rows of the kept cells: pixel_values lists each cell's merge_unit patches together."""
    cells = keep_cells.nonzero().flatten()
    offsets = torch.arange(merge_unit, device=cells.device)
    return (cells[:, None] * merge_unit + offsets).flatten()


def _kept_windows(
    full_index: torch.Tensor, full_cu: torch.Tensor, keep_cells: torch.Tensor, merge_unit: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Qwen2.5-VL window order and boundaries restricted to the kept cells.

    `full_index` lists every cell window by window; `full_cu` bounds the windows in patches.
    Kept cells keep their window and their order in it; they are renumbered by kept rank, and
    windows left empty vanish from the boundaries (as padding windows do in transformers).
    """
    full_index = full_index.to(keep_cells.device)
    bounds = (full_cu.to(keep_cells.device) // merge_unit).long()
    window_of = (
        torch.searchsorted(bounds, torch.arange(len(full_index), device=bounds.device), right=True)
        - 1
    )
    kept = keep_cells[full_index]
    rank = keep_cells.long().cumsum(0) - 1
    counts = torch.bincount(window_of[kept], minlength=len(bounds) - 1)
    cu = F.pad((counts * merge_unit).cumsum(0), (1, 0)).to(torch.int32)
    return rank[full_index[kept]], torch.unique_consecutive(cu)
