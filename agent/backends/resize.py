"""Pillow's BICUBIC resize, pixel for pixel, in torch integer arithmetic.

Pillow's own resample (src/libImaging/Resample.c, 8 bits per channel) redone on the tensor's
device, so the model sees exactly the processor's pixels (Pillow takes 40-60 ms per 1080p image
on one core): float64 taps and weights as the C code computes them, 22-bit fixed point, int32
sums, `clip8`, and the pass order of the installed Pillow. It assumes C doubles without fused
multiply-add, as Pillow's x86-64 wheels are built; the tests compare every pixel with Pillow's.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from PIL import Image

__all__ = ["PRECISION_BITS", "resize_exact", "use_exact_resize"]

PRECISION_BITS = 32 - 8 - 2  # Pillow's fixed point: 8 bits of result, 2 of headroom, a sign
_SUPPORT = 2.0  # the bicubic filter's radius at scale 1
_MAX_SIDE = 1 << 24  # Pillow passes the box as C floats: exact up to here
_PROBE_SHAPE, _PROBE_SIZE = (24, 8, 3), (11, 7)  # (H, W, 3) noise, resized to (width, height)


def resize_exact(pixels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """`pixels` (H, W, 3) uint8 resized to `size` (width, height) as Pillow's BICUBIC does it.

    Runs on the tensor's device; returns a new tensor (a copy when the size stays, as Pillow).
    """
    width, height = _check(pixels, size)
    in_height, in_width = pixels.shape[:2]
    vertical_first = _pillow_shrinks_height_first() and in_height - height > max(
        0, (in_width - width) * 2
    )
    return _resize(pixels, width, height, vertical_first=vertical_first)


def use_exact_resize(device: torch.device) -> bool:
    """Whether images for a model on `device` are resized there by `resize_exact`, not by PIL.

    Only on CUDA: there it takes about a millisecond for a 1080p screenshot, PIL 40-60 ms of the
    CPU; on the CPU the same integer arithmetic in torch is about 5 times slower than PIL.
    """
    return device.type == "cuda"


def _resize(pixels: torch.Tensor, width: int, height: int, *, vertical_first: bool) -> torch.Tensor:
    """Both passes (each only when its side changes) in the given order; never `pixels` itself."""
    passes = [(1, width), (0, height)]
    resized = pixels
    for dim, out_size in reversed(passes) if vertical_first else passes:
        if out_size != resized.shape[dim]:
            index, weights = _taps(resized.shape[dim], out_size, pixels.device)
            resized = _resample(resized, dim, index, weights)
    return resized.clone() if resized is pixels else resized


@lru_cache(maxsize=1)
def _pillow_shrinks_height_first() -> bool:
    """Whether the installed Pillow runs the vertical pass first when the height shrinks most.

    Pillow 13 does when the height loses more than twice the columns the width loses (fewer
    pixels for the horizontal pass); older versions always start with the horizontal pass. The
    order changes the rounding of the uint8 intermediate, so it is read from Pillow itself, once,
    on a small noise image whose two orders give different pixels.
    """
    probe = np.random.default_rng(0).integers(0, 256, _PROBE_SHAPE, dtype=np.uint8)
    expected = np.asarray(Image.fromarray(probe).resize(_PROBE_SIZE, Image.Resampling.BICUBIC))
    ours = _resize(torch.from_numpy(probe), *_PROBE_SIZE, vertical_first=True)
    return bool(np.array_equal(ours.numpy(), expected))


def _check(pixels: torch.Tensor, size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of `size` after checking both arguments, else a ValueError that says why."""
    if not isinstance(pixels, torch.Tensor) or pixels.dtype != torch.uint8:
        kind = pixels.dtype if isinstance(pixels, torch.Tensor) else type(pixels).__name__
        raise ValueError(f"expected a uint8 torch tensor of RGB pixels, got {kind}")
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) RGB pixels, got shape {tuple(pixels.shape)}")
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise ValueError(f"size must be (width, height), got {size!r}")
    sides = [*pixels.shape[:2], *size]
    integers = all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in sides)
    if not integers or not all(0 < s < _MAX_SIDE for s in sides):
        raise ValueError(
            f"sizes must be positive integers below {_MAX_SIDE}: resizing "
            f"{pixels.shape[1]}x{pixels.shape[0]} to {size!r}"
        )
    return int(size[0]), int(size[1])


def _resample(
    pixels: torch.Tensor, dim: int, index: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """One pass of Pillow's 8-bit resample along `dim` (1: columns, 0: rows) of (H, W, 3) uint8.

    Output `i` is clip8(2^21 + sum over taps k of pixel[index[i, k]] * weights[i, k]); taps past a
    window's end have weight 0. The sums stay in int32: the weights' magnitudes add up to under
    1.3 * 2^22, far below 2^31 / 255.
    """
    source = pixels.to(torch.int32)
    taps = index.shape[1]
    if dim == 0:
        factors = weights.T.reshape(taps, -1, 1, 1)
    else:  # per channel too: torch's CPU integer kernels are slow on a broadcast last axis
        factors = weights.T.reshape(taps, 1, -1, 1).expand(-1, -1, -1, 3).contiguous()
    total = source.index_select(dim, index[:, 0]).mul_(factors[0])
    for tap in range(1, taps):
        total.add_(source.index_select(dim, index[:, tap]).mul_(factors[tap]))
    total.add_(1 << (PRECISION_BITS - 1))
    return total.bitwise_right_shift_(PRECISION_BITS).clamp_(0, 255).to(torch.uint8)


@lru_cache(maxsize=32)
def _taps(in_size: int, out_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Source indices (int64) and fixed-point weights (int32), (out_size, taps), on `device`."""
    index, weights = _coefficients(in_size, out_size)
    return torch.from_numpy(index).to(device), torch.from_numpy(weights).to(device)


def _coefficients(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pillow's `precompute_coeffs` then `normalize_coeffs_8bpc` for BICUBIC, for a whole side.

    Each float64 operation is the C one, in the C order, so every weight is the same double.
    """
    scale = in_size / out_size  # (double)(in1 - in0) / outSize, the box being (0, in_size)
    filterscale = max(scale, 1.0)
    support = _SUPPORT * filterscale
    center = (np.arange(out_size, dtype=np.float64) + 0.5) * scale  # in0 + ..., in0 = 0
    first = np.maximum(np.trunc(center - support + 0.5), 0).astype(np.int64)  # C (int) casts
    last = np.minimum(np.trunc(center + support + 0.5), in_size).astype(np.int64)
    count = last - first
    taps = np.arange(int(count.max()), dtype=np.int64)
    position = first[:, None] + taps
    used = taps < count[:, None]
    raw = _bicubic((position - center[:, None] + 0.5) * (1.0 / filterscale))
    raw = np.where(used, raw, 0.0)
    total = np.zeros(out_size)
    for tap in taps:  # C sums tap by tap: keep that order
        total = total + raw[:, tap]
    normal = np.divide(raw, total[:, None], out=raw.copy(), where=total[:, None] != 0.0)
    fixed = normal * (1 << PRECISION_BITS)
    fixed = np.trunc(np.where(normal < 0, fixed - 0.5, fixed + 0.5))  # (int)(±0.5 + k * 2^22)
    index = np.where(used, position, first[:, None])  # unused taps read a valid pixel, weight 0
    return index, fixed.astype(np.int32)


def _bicubic(x: np.ndarray) -> np.ndarray:
    """Pillow's `bicubic_filter` (a = -0.5), each branch with the C expression's operation order."""
    x = np.abs(x)
    near = ((1.5 * x - 2.5) * x) * x + 1.0
    far = (((x - 5.0) * x + 8.0) * x - 4.0) * -0.5
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))
