"""Selector benchmark on real screenshots: every method's time, and pred_2d against torch baselines.

    python -m tools.bench_prune [--family qwen2.5] [--repeat 30] [--screens 1080p]

For 1920x1080, 2560x1440 and 3840x2160 screenshots from tests/data (resized as the model would),
it prints each method's median time and kept share, then pred_2d against two torch
implementations measured in the same run on the same image:
- `torch loop`: a straightforward per-cell loop with one `.item()` per comparison, the shape of
  the PixelPrune reference code (τ=0 and anchored τ>0);
- `torch vectorised` (τ=0 only): whole-grid equality maps combined with the LOCO-I rule.
Masks must be identical; ratios are baseline time / our time. Targets from the issue: τ=0 ≤ 2 ms
at 1080p and ≥ 10x the loop; anchored τ>0 ≤ 20 ms at 1080p and ≥ 100x the loop.

`bench_methods` and `bench_versus` return the measurements (tools/bench_all.py composes them).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table

from pixelprune import METHODS, get_family, resize_for_model, select
from pixelprune.cli import add_family_option

__all__ = [
    "LOSSY",
    "SCREENS",
    "MethodResult",
    "Screen",
    "Timing",
    "VersusResult",
    "bench_methods",
    "bench_versus",
    "load_screens",
    "methods_table",
    "timed",
    "versus_table",
]

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
SCREENS = [
    ("1080p", "desktop-xterm-1920x1080.png"),
    ("1080p", "chromium-xterm-faq-1920x1080.png"),
    ("1080p", "window-chromium-1920x1080.png"),
    ("1440p", "chromium-python-policy-2560x1440.png"),
    ("2160p", "chromium-users-and-groups-3840x2160.png"),
]
LOSSY = [(0.02, "max"), (0.05, "mae")]
TARGETS = {"lossless": 10.0, "lossy": 100.0}  # minimum torch loop / ours, from the issue


@dataclass(frozen=True)
class Timing:
    """Median and minimum of repeated runs, in ms (the machine is shared and noisy)."""

    median: float
    best: float
    runs: int

    def __str__(self) -> str:
        return f"{self.median:.2f} ({self.best:.2f})"


@dataclass(frozen=True)
class Screen:
    """A tests/data screenshot, resized as the model family's processor would."""

    label: str  # 1080p, 1440p, 2160p
    name: str
    image: np.ndarray = field(repr=False)  # resized RGB, writable (torch.from_numpy needs it)


@dataclass(frozen=True)
class MethodResult:
    """One selector at τ=0 on one screen."""

    screen: str
    image: str
    tokens: int
    method: str
    time: Timing
    kept_share: float


@dataclass(frozen=True)
class VersusResult:
    """pred_2d (anchored) against the torch baselines on one screen at one τ."""

    screen: str
    image: str
    tau: float
    metric: str
    ours: Timing
    loop: Timing
    vectorised: Timing | None  # τ=0 only
    kept_share: float
    identical: bool  # every baseline's mask equals ours

    @property
    def loop_ratio(self) -> float:
        return self.loop.median / self.ours.median

    @property
    def vectorised_ratio(self) -> float | None:
        return None if self.vectorised is None else self.vectorised.median / self.ours.median

    @property
    def target(self) -> float:
        """The minimum loop ratio the issue asks for at this τ."""
        return TARGETS["lossless" if self.tau == 0 else "lossy"]


def torch_loop_pred_2d(image: np.ndarray, cell: int, tau: float, metric: str) -> np.ndarray:
    """Per-cell Python loop over torch tensors, anchored (compares the reconstruction)."""
    import torch  # only the baselines need it: `bench --help` stays instant

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
    import torch

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


def timed(repeat: int, fn: Callable[..., object], *args: object, **kwargs: object) -> Timing:
    """Median and best of `repeat` runs after one warm-up (JIT cache load, page faults)."""
    fn(*args, **kwargs)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args, **kwargs)
        times.append((time.perf_counter() - start) * 1e3)
    return Timing(statistics.median(times), min(times), repeat)


def load_screens(family: str, only: Sequence[str] | None = None) -> list[Screen]:
    """The benchmark screenshots resized for `family`; `only` keeps those whose label or file
    name is listed."""
    chosen = [
        (label, name) for label, name in SCREENS if only is None or label in only or name in only
    ]
    if not chosen:
        known = ", ".join(sorted({label for label, _ in SCREENS} | {name for _, name in SCREENS}))
        raise ValueError(f"no benchmark screenshot matches {', '.join(only or [])}; known: {known}")
    screens = []
    for label, name in chosen:
        with Image.open(DATA / name) as shot:
            resized = resize_for_model(shot.convert("RGB"), family).copy()  # torch: writable
        screens.append(Screen(label, name, resized))
    return screens


def bench_methods(screens: Sequence[Screen], cell: int, repeat: int) -> list[MethodResult]:
    """Every selector at τ=0 on every screen: time and kept share."""
    results = []
    for screen in screens:
        tokens = (screen.image.shape[0] // cell) * (screen.image.shape[1] // cell)
        for method in METHODS:
            timing = timed(repeat, select, screen.image, cell=cell, method=method, seed=0)
            share = select(screen.image, cell=cell, method=method, seed=0).kept_share
            results.append(MethodResult(screen.label, screen.name, tokens, method, timing, share))
    return results


def bench_versus(
    screens: Sequence[Screen],
    cell: int,
    repeat: int,
    baseline_repeat: int,
    variants: Sequence[tuple[float, str]] = ((0.0, "max"), *LOSSY),
) -> list[VersusResult]:
    """pred_2d against the torch loop (and at τ=0 the vectorised torch) on the same images."""
    results = []
    for screen in screens:
        image = screen.image
        for tau, metric in variants:
            ours = select(image, cell=cell, tau=tau, metric=metric)
            ours_ms = timed(repeat, select, image, cell=cell, tau=tau, metric=metric)
            same = np.array_equal(torch_loop_pred_2d(image, cell, tau, metric), ours.keep)
            loop_ms = timed(baseline_repeat, torch_loop_pred_2d, image, cell, tau, metric)
            vec_ms = None
            if tau == 0:
                same &= np.array_equal(torch_vectorised_pred_2d(image, cell), ours.keep)
                vec_ms = timed(repeat, torch_vectorised_pred_2d, image, cell)
            results.append(
                VersusResult(
                    screen.label, screen.name, tau, metric, ours_ms, loop_ms, vec_ms,
                    ours.kept_share, bool(same),
                )
            )  # fmt: skip
    return results


def methods_table(results: Sequence[MethodResult]) -> Table:
    """One row per screen, one column per method: "median (best) share"."""
    table = Table(title="every selector at τ=0: ms, kept share", show_edge=False)
    for col in ("screen", "image", "tokens", *METHODS):
        table.add_column(col, justify="left" if col in ("screen", "image") else "right")
    rows: dict[tuple[str, str, int], dict[str, MethodResult]] = {}
    for result in results:
        rows.setdefault((result.screen, result.image, result.tokens), {})[result.method] = result
    for (label, name, tokens), by_method in rows.items():
        cells = [
            f"{by_method[m].time} {by_method[m].kept_share:.1%}" if m in by_method else "—"
            for m in METHODS
        ]
        table.add_row(label, name, str(tokens), *cells)
    return table


def versus_table(results: Sequence[VersusResult]) -> Table:
    """pred_2d against the torch baselines, one row per screen and τ."""
    table = Table(title="pred_2d (anchored) against torch, same image, same run", show_edge=False)
    for col in ("screen", "image", "τ / metric", "ours ms", "torch loop ms", "× loop",
                "torch vec ms", "× vec", "kept", "identical"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("screen", "image") else "right")
    for r in results:
        vec_ms = "—" if r.vectorised is None else str(r.vectorised)
        vec_ratio = "—" if r.vectorised_ratio is None else f"{r.vectorised_ratio:.1f}×"
        table.add_row(
            r.screen, r.image, f"{r.tau:g} / {r.metric}", str(r.ours), f"{r.loop.median:.0f}",
            f"{r.loop_ratio:.0f}×", vec_ms, vec_ratio, f"{r.kept_share:.1%}",
            "yes" if r.identical else "NO",
        )  # fmt: skip
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_family_option(parser)
    parser.add_argument("--repeat", type=int, default=30, help="runs per timing of ours")
    parser.add_argument("--baseline-repeat", type=int, default=2, help="runs of the torch loop")
    parser.add_argument(
        "--screens", help="comma-separated labels or file names (default: all); e.g. 1080p"
    )
    args = parser.parse_args(argv)
    cell = get_family(args.family).cell
    only = None if args.screens is None else [s.strip() for s in args.screens.split(",")]
    try:
        screens = load_screens(args.family, only)
    except ValueError as error:
        parser.error(str(error))
    import torch

    console = Console(width=160)
    console.print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch "
        f"threads, numpy {np.__version__}, torch {torch.__version__}; family {args.family} "
        f"({cell} px cells). Times in ms: median (best) of {args.repeat} runs, torch loop "
        f"{args.baseline_repeat}; ratios use medians."
    )
    console.print(methods_table(bench_methods(screens, cell, args.repeat)))
    console.print(versus_table(bench_versus(screens, cell, args.repeat, args.baseline_repeat)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
