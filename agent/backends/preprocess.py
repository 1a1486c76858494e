"""`ImagePreprocessor`: a Qwen-VL image processor's `pixel_values`, bit for bit, at agent speed.

The stock PIL processor resizes, rescales, normalises and patchifies every image of every call in
float64/float32 NumPy on the CPU: about 200 ms per 1080p screenshot, and the agent resends its
last screenshots every step. The output only depends on the resized uint8 pixels, so here:
- each image object is resized once (bicubic, as the processor) and normalised once, and both
  are kept while it is resent (a few images: the current screenshot and the history);
- rescale + normalise is a lookup of 256 values per channel, the table computed by the
  processor's own `rescale` and `normalize` (so every value is the one the processor would give);
- patchify is the processor's reshape/transpose, done in torch on the model's device, so a GPU
  receives 6 MB of uint8 per 1080p screenshot instead of 200 MB of float32 patches;
- for a model on CUDA the resize itself runs there too (`resize_exact`: PIL's bicubic, pixel for
  pixel, in about a millisecond instead of 40-60 ms of CPU), and the resized pixels come back to
  the host once, for the selector. On the CPU, PIL stays: it is faster there.
The stock processor is untouched; tests compare both outputs with `torch.equal`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from agent.backends.base import ImageCache
from agent.backends.resize import resize_exact, use_exact_resize
from pixelprune import Family, PruneInputError, resize_for_model, smart_resize

__all__ = ["ImagePreprocessor", "Preprocessed"]


@dataclass(frozen=True)
class Preprocessed:
    """What the vision tower and the selector need for a list of images."""

    pixel_values: torch.Tensor  # (sum of patches, channels * temporal * patch * patch) float32
    grid: torch.Tensor  # (images, 3) int64: temporal, height, width in patches (on the CPU)
    resized: list[np.ndarray]  # per image, the (H, W, 3) uint8 pixels the model sees


class ImagePreprocessor:
    """Screenshots to the model's `pixel_values` and `image_grid_thw`, like its processor."""

    def __init__(
        self,
        processor: Any,
        family: Family,
        cache_size: int = 4,
        *,
        bounds: tuple[int, int] | None = None,
    ) -> None:
        """`bounds`: (min, max) pixels to resize within instead of the processor's own."""
        self.family = family
        low, high = bounds or (processor.size["shortest_edge"], processor.size["longest_edge"])
        self.min_pixels: int = low
        self.max_pixels: int = high
        self.patch = processor.patch_size
        self.merge = processor.merge_size
        self.temporal = processor.temporal_patch_size
        self._table = _value_table(processor)  # (3, 256) float32
        self._resized: ImageCache[np.ndarray] = ImageCache(cache_size)
        self._normalised: ImageCache[torch.Tensor] = ImageCache(cache_size)

    def resize(self, image: Image.Image, device: torch.device | None = None) -> np.ndarray:
        """The uint8 pixels the model sees for `image` (resized once per image object).

        The resize runs on `device` when `use_exact_resize` says so, else with PIL on the CPU;
        both give the same pixels.
        """
        return self._resize(image, device)[0]

    def __call__(self, images: Sequence[Image.Image], device: torch.device) -> Preprocessed:
        """pixel_values on `device` for `images` (RGB), in order."""
        cells = [self._cells(image, device) for image in images]
        resized = [self.resize(image, device) for image in images]
        grids = [(1, c.shape[0] * self.merge, c.shape[1] * self.merge) for c in cells]
        dim = 3 * self.temporal * self.patch * self.patch
        pixel_values = torch.empty(sum(r * c for _, r, c in grids), dim, device=device)
        first = 0
        for image_cells, (_, rows, cols) in zip(cells, grids, strict=True):
            # a still image repeats along the temporal axis: (..., C, T, p, p)
            shape = (*image_cells.shape[:5], self.temporal, self.patch, self.patch)
            patches = pixel_values[first : first + rows * cols].view(shape)
            patches.copy_(image_cells.unsqueeze(5).expand(shape))
            first += rows * cols
        grid = torch.tensor(grids, dtype=torch.int64).reshape(len(grids), 3)  # (0, 3) for none
        return Preprocessed(pixel_values, grid, resized)

    def _resize(
        self, image: Image.Image, device: torch.device | None
    ) -> tuple[np.ndarray, torch.Tensor | None]:
        """The resized pixels on the host (kept, read-only), and on `device` when just resized
        there (so they need not be sent back)."""
        key = (self.min_pixels, self.max_pixels)
        resized = self._resized.get(image, key)
        if resized is not None:
            return resized, None
        on_device = None
        if device is not None and use_exact_resize(device):
            on_device = self._resize_on(image, device)
            resized = on_device.cpu().numpy()
            resized.flags.writeable = False  # as PIL's arrays: shared with the caches
        else:
            resized = resize_for_model(
                image, self.family, min_pixels=self.min_pixels, max_pixels=self.max_pixels
            )
        self._resized.put(image, key, resized)
        return resized, on_device

    def _resize_on(self, image: Image.Image, device: torch.device) -> torch.Tensor:
        """`image` resized to the processor's size by `resize_exact` on `device` (H, W, 3 uint8)."""
        if image.mode != "RGB":  # as `resize_for_model` on the CPU
            raise PruneInputError(
                f"expected an RGB image, got PIL mode {image.mode!r}; "
                "convert it first with image.convert('RGB')"
            )
        height, width = smart_resize(
            image.height,
            image.width,
            self.family,
            min_pixels=self.min_pixels,
            max_pixels=self.max_pixels,
        )
        pixels = torch.from_numpy(np.array(image, dtype=np.uint8)).to(device)
        return resize_exact(pixels, (width, height))

    def _cells(self, image: Image.Image, device: torch.device) -> torch.Tensor:
        """Normalised values of one image as (gh/m, gw/m, m, m, C, p, p), kept while resent.

        The uint8 pixels are rearranged first (a quarter of the bytes of float32), then looked up
        in the value table.
        """
        cached = self._normalised.get(image, device)
        if cached is not None:
            return cached
        pixels, on_device = self._resize(image, device)
        if on_device is None:
            on_device = torch.from_numpy(pixels.copy()).to(device)
        height, width, channels = pixels.shape
        rows, cols = height // self.patch // self.merge, width // self.patch // self.merge
        # (H, W, C) → (C, gh/m, m, p, gw/m, m, p) → (gh/m, gw/m, m, m, C, p, p)
        cells = on_device.permute(2, 0, 1)
        cells = cells.reshape(channels, rows, self.merge, self.patch, cols, self.merge, self.patch)
        index = cells.permute(1, 4, 2, 5, 0, 3, 6).long()
        index += torch.arange(channels, device=device)[:, None, None] * 256
        values = self._table.to(device).reshape(-1)[index]
        self._normalised.put(image, device, values)
        return values


def _value_table(processor: Any) -> torch.Tensor:
    """Each channel's 256 uint8 values through the processor's own rescale and normalise."""
    levels = np.tile(np.arange(256, dtype=np.uint8), (3, 1, 1))  # (C, 1, 256), channel-first
    values = levels
    if processor.do_rescale:
        values = processor.rescale(values, processor.rescale_factor)
    if processor.do_normalize:
        values = processor.normalize(values, processor.image_mean, processor.image_std)
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32).reshape(3, 256))
