"""The keep masks of a processed request, and the placeholders and positions that follow them.

`pixelprune` (and with it numba) is imported only where masks are made, in the processor: vLLM's
CPU workers scan the loaded modules for kernels to rebind and trip over numba's.
The processor's pixel_values lists each image's patches merge unit by merge unit, in raster
order of the cells; a mask is one bool per cell (merge unit), made with `pixelprune` on the
image the processor produced, as the project's own transformers path makes it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "MASK_KEY",
    "OFF",
    "SPEC_KEY",
    "keep_masks",
    "kept_patches",
    "pruned_positions",
    "spec_of",
]

SPEC_KEY = "pixelprune"  # the mm_processor_kwargs key
MASK_KEY = "pixelprune_keep"  # the processed field: one bool per cell of every image
OFF = "off"


def spec_of(kwargs: Mapping[str, object]) -> str:
    """The request's pruning spec ("off" when not asked for); a bad one raises PruneInputError
    (a ValueError: vLLM answers it 400)."""
    from pixelprune import PruneInputError, parse_prune_spec

    spec = kwargs.get(SPEC_KEY, OFF)
    if not isinstance(spec, str):
        raise PruneInputError(f"{SPEC_KEY} must be a --prune spec or 'off', got {spec!r}")
    if spec.strip().lower() != OFF:
        parse_prune_spec(spec)  # checked now, before any work
    return spec.strip()


def keep_masks(
    pixel_values: torch.Tensor,
    image_grid_thw: torch.Tensor,
    spec: str,
    *,
    family: str,
    scaling: tuple[tuple[float, float, float], tuple[float, float, float]],
    merge_unit: int,
) -> torch.Tensor:
    """One bool per cell of every image, concatenated in image order (all True when off).

    `scaling`: the (mean, std) that map the processor's values back to [0, 1] pixels as
    `value * std + mean` (`processor_scaling`)."""
    cells = int((image_grid_thw.prod(-1) // merge_unit).sum())
    if spec.lower() == OFF:
        return torch.ones(cells, dtype=torch.bool)
    from pixelprune import get_family, parse_prune_spec, select_pixel_values

    config = parse_prune_spec(spec)
    mean, std = scaling
    geometry = dataclasses.replace(get_family(family), image_mean=mean, image_std=std)
    selections = select_pixel_values(
        pixel_values.float().numpy(), image_grid_thw.numpy(), family=geometry,
        method=config.method, tau=config.tau, metric=config.metric,
    )  # fmt: skip
    return torch.from_numpy(np.concatenate([s.keep.reshape(-1) for s in selections]))


def processor_scaling(
    image_processor: Any, kwargs: Mapping[str, object]
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """How this request's pixel values map back to [0, 1] pixels: vLLM normalises on the
    device by default (`mm_device_do_normalize`), so its processor hands raw 0-255 values, and
    a configured processor may rescale or normalise on its own."""
    scoped = kwargs.get("images_kwargs")  # Qwen3-VL's processor takes its kwargs scoped
    flags = {**kwargs, **(scoped if isinstance(scoped, Mapping) else {})}
    rescale = bool(flags.get("do_rescale", getattr(image_processor, "do_rescale", True)))
    normalize = bool(flags.get("do_normalize", getattr(image_processor, "do_normalize", True)))
    if normalize:
        factor = float(getattr(image_processor, "rescale_factor", 1 / 255)) if rescale else 1.0
        if abs(factor * 255 - 1) > 1e-9:
            raise ValueError("PixelPrune needs pixels rescaled by 1/255 before normalising")
        mean, std = image_processor.image_mean, image_processor.image_std
        return (mean[0], mean[1], mean[2]), (std[0], std[1], std[2])
    unit = 1.0 if rescale else 1 / 255
    return (0.0, 0.0, 0.0), (unit, unit, unit)


def kept_patches(keep: torch.Tensor, merge_unit: int) -> torch.Tensor:
    """The patch rows of the kept cells (each cell's merge_unit patches are consecutive)."""
    cells = keep.nonzero().flatten()
    return (cells[:, None] * merge_unit + torch.arange(merge_unit)).flatten()


def pruned_positions(
    length: int, images: Sequence[tuple[int, tuple[int, int, int], Any]]
) -> tuple[torch.Tensor, int]:
    """M-RoPE positions of a pruned prompt of `length` tokens, and the delta of generated ones.

    `images`: (offset in the prompt, (t, h, w) in cells, keep mask or None) per image, by offset.
    The convention of the project's own path: the positions of the unpruned prompt with the
    dropped image tokens' columns removed, so text after an image continues from the full
    image's max + 1, and generated tokens from the full prompt's max + 1.
    """
    pieces = []
    start = 0  # where the next text run starts in the (pruned) prompt
    position = 0  # the position of the next text token
    for offset, (t, h, w), keep in images:
        text = offset - start
        pieces.append(np.broadcast_to(np.arange(text), (3, text)) + position)
        grid = np.indices((t, h, w)).reshape(3, -1) + text + position
        position = int(grid.max()) + 1
        kept = grid if keep is None else grid[:, np.asarray(keep, dtype=bool)]
        pieces.append(kept)
        start = offset + kept.shape[1]
    if start < length:
        text = length - start
        pieces.append(np.broadcast_to(np.arange(text), (3, text)) + position)
        position += text
    positions = np.concatenate(pieces, axis=1) if pieces else np.zeros((3, 0), np.int64)
    return torch.from_numpy(np.ascontiguousarray(positions)), position - length
