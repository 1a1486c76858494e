"""`timed_runs`: the one timing loop of the model benchmarks (warm-up, then timed runs).

times_ms, last = timed_runs(3, sync=True, fn=model_step, *args)
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

__all__ = ["timed_runs"]


def timed_runs(
    repeat: int, sync: bool, fn: Callable[..., object], *args: object, **kwargs: object
) -> tuple[list[float], object]:
    """(ms of each of `repeat` calls of fn after one warm-up call, the last call's result).

    With `sync`, CUDA is synchronised around each call, so a call's time includes its kernels.
    """
    result = fn(*args, **kwargs)
    times = []
    for _ in range(repeat):
        if sync:
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        if sync:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return times, result
