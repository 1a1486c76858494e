"""Selector benchmark on real screenshots: every method's time, and pred_2d against torch baselines.

    python tools/bench_prune.py [--family qwen2.5] [--repeat 30]

For 1920x1080, 2560x1440 and 3840x2160 screenshots from tests/data (resized as the model would),
it prints each method's median time and kept share, then pred_2d against two torch
implementations measured in the same run on the same image:
- `torch loop`: a straightforward per-cell loop with one `.item()` per comparison, the shape of
  the PixelPrune reference code (τ=0 and anchored τ>0);
- `torch vectorised` (τ=0 only): whole-grid equality maps combined with the LOCO-I rule.
Masks must be identical; ratios are baseline time / our time. Targets from the issue: τ=0 ≤ 2 ms
at 1080p and ≥ 10x the loop; anchored τ>0 ≤ 20 ms at 1080p and ≥ 100x the loop.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pixelprune import METHODS, get_family, resize_for_model, select

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
SCREENS = [
    ("1080p", "desktop-xterm-1920x1080.png"),
    ("1080p", "chromium-xterm-faq-1920x1080.png"),
    ("1080p", "window-chromium-1920x1080.png"),
    ("1440p", "chromium-python-policy-2560x1440.png"),
    ("2160p", "chromium-users-and-groups-3840x2160.png"),
]
LOSSY = [(0.02, "max"), (0.05, "mae")]


def torch_loop_pred_2d(image: np.ndarray, cell: int, tau: float, metric: str) -> np.ndarray:
    """Per-cell Python loop over torch tensors, anchored (compares the reconstruction)."""
    rows, cols = image.shape[0] // cell, image.shape[1] // cell
    x = torch.from_numpy(image).double()  # raw 0..255 values; distances divide by 255 below
    cells = x.reshape(rows, cell, cols, cell, 3).permute(0, 2, 1, 3, 4).contiguous()
    recon = cells.clone()
    keep = torch.zeros(rows, cols, dtype=torch.bool)

    def similar(a: torch.Tensor, b: torch.Tensor) -> bool:
        if tau == 0:
            return bool(torch.equal(a, b))
        d = (a - b).abs()
        if metric == "max":
            return d.max().item() / 255.0 <= tau
        if metric == "mae":
            return d.sum().item() / (255.0 * d.numel()) <= tau
        return (d.pow(2).sum().item() / d.numel()) ** 0.5 / 255.0 <= tau

    for r in range(rows):
        for c in range(cols):
            if r == 0 and c == 0:
                keep[r, c] = True
                continue
            if r == 0:
                pred = recon[r, c - 1]
            elif c == 0:
                pred = recon[r - 1, c]
            else:
                a, b, ul = recon[r, c - 1], recon[r - 1, c], recon[r - 1, c - 1]
                pred = b if similar(ul, a) and not similar(ul, b) else a
            if similar(cells[r, c], pred):
                recon[r, c] = pred
            else:
                keep[r, c] = True
    return keep.numpy()


def torch_vectorised_pred_2d(image: np.ndarray, cell: int) -> np.ndarray:
    """τ=0 pred_2d from whole-grid left/up equality maps (exact, so no reconstruction needed)."""
    rows, cols = image.shape[0] // cell, image.shape[1] // cell
    cells = torch.from_numpy(image).reshape(rows, cell, cols, cell * 3).permute(0, 2, 1, 3)
    eq_left = (cells[:, 1:] == cells[:, :-1]).flatten(2).all(-1)  # (rows, cols-1)
    eq_up = (cells[1:] == cells[:-1]).flatten(2).all(-1)  # (rows-1, cols)
    keep = torch.ones(rows, cols, dtype=torch.bool)
    keep[0, 1:] = ~eq_left[0]
    keep[1:, 0] = ~eq_up[:, 0]
    pred_up = eq_up[:, :-1] & ~eq_left[:-1, :]  # C≈A and C≉B
    keep[1:, 1:] = torch.where(pred_up, ~eq_up[:, 1:], ~eq_left[1:, :])
    return keep.numpy()


@dataclass(frozen=True)
class Timing:
    """Median and minimum of repeated runs, in ms (the machine is shared and noisy)."""

    median: float
    best: float

    def __str__(self) -> str:
        return f"{self.median:.2f} ({self.best:.2f})"


def timed(repeat: int, fn: Callable[..., object], *args: object, **kwargs: object) -> Timing:
    fn(*args, **kwargs)  # warm-up: JIT cache load, page faults
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args, **kwargs)
        times.append((time.perf_counter() - start) * 1e3)
    return Timing(statistics.median(times), min(times))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="qwen2.5", choices=["qwen2", "qwen2.5", "qwen3"])
    parser.add_argument("--repeat", type=int, default=30, help="runs per timing of ours")
    parser.add_argument("--baseline-repeat", type=int, default=2, help="runs of the torch loop")
    args = parser.parse_args()
    cell = get_family(args.family).cell
    console = Console(width=160)
    console.print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch "
        f"threads, numpy {np.__version__}, torch {torch.__version__}; family {args.family} "
        f"({cell} px cells). Times in ms: median (best) of {args.repeat} runs, torch loop "
        f"{args.baseline_repeat}; ratios use medians."
    )
    images = []
    for label, name in SCREENS:
        with Image.open(DATA / name) as shot:
            resized = resize_for_model(shot.convert("RGB"), args.family).copy()  # torch: writable
            images.append((label, name, resized))

    methods = Table(title="every selector at τ=0: ms, kept share", show_edge=False)
    for col in ("screen", "image", "tokens", *METHODS):
        methods.add_column(col, justify="left" if col in ("screen", "image") else "right")
    for label, name, image in images:
        line = []
        for method in METHODS:
            timing = timed(args.repeat, select, image, cell=cell, method=method, seed=0)
            share = select(image, cell=cell, method=method, seed=0).kept_share
            line.append(f"{timing} {share:.1%}")
        tokens = (image.shape[0] // cell) * (image.shape[1] // cell)
        methods.add_row(label, name, str(tokens), *line)
    console.print(methods)

    versus = Table(title="pred_2d (anchored) against torch, same image, same run", show_edge=False)
    for col in ("screen", "image", "τ / metric", "ours ms", "torch loop ms", "× loop",
                "torch vec ms", "× vec", "kept", "identical"):  # fmt: skip
        versus.add_column(col, justify="left" if col in ("screen", "image") else "right")
    for label, name, image in images:
        for tau, metric in [(0.0, "max"), *LOSSY]:
            ours = select(image, cell=cell, tau=tau, metric=metric)
            ours_ms = timed(args.repeat, select, image, cell=cell, tau=tau, metric=metric)
            loop_keep = torch_loop_pred_2d(image, cell, tau, metric)
            loop_ms = timed(args.baseline_repeat, torch_loop_pred_2d, image, cell, tau, metric)
            same = np.array_equal(loop_keep, ours.keep)
            vec_ms = vec_ratio = "—"
            if tau == 0:
                same &= np.array_equal(torch_vectorised_pred_2d(image, cell), ours.keep)
                vec = timed(args.repeat, torch_vectorised_pred_2d, image, cell)
                vec_ms, vec_ratio = str(vec), f"{vec.median / ours_ms.median:.1f}×"
            versus.add_row(
                label, name, f"{tau:g} / {metric}", str(ours_ms), f"{loop_ms.median:.0f}",
                f"{loop_ms.median / ours_ms.median:.0f}×", vec_ms, vec_ratio,
                f"{ours.kept_share:.1%}", "yes" if same else "NO",
            )  # fmt: skip
    console.print(versus)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
