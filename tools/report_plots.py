"""The report's four plots, drawn with matplotlib's object API onto an Agg canvas.

No pyplot: its global figure state and backend choice (Qt, here in a Qt project) have no place
in a command that only writes PNG files, and figures built as objects are freed with them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from tools.report_data import PAPER_REFERENCE, Report, counted

__all__ = ["PLOT_FILES", "write_plots"]

# plot name → file under the output folder, in the order the pages show them
PLOT_FILES = {
    "kept_share": "plots/kept_share.png",
    "kept_share_vs_tau": "plots/kept_share_vs_tau.png",
    "distribution": "plots/distribution.png",
    "select_ms": "plots/select_ms.png",
}
SIZE = (8.0, 4.5)  # inches
DPI = 120


def write_plots(report: Report, out: Path) -> dict[str, str]:
    """Draw every plot into `out`; returns PLOT_FILES (paths relative to `out`)."""
    (out / "plots").mkdir(parents=True, exist_ok=True)
    draw: dict[str, Callable[[Report, Axes], None]] = {
        "kept_share": _kept_share,
        "kept_share_vs_tau": _kept_share_vs_tau,
        "distribution": _distribution,
        "select_ms": _select_ms,
    }
    for name, file in PLOT_FILES.items():
        figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        draw[name](report, figure.add_subplot())
        figure.savefig(out / file)
    return dict(PLOT_FILES)


def _kept_share(report: Report, ax: Axes) -> None:
    medians = _per_method_tau(report, lambda m, t: _median(report.shares(m, t)))
    _grouped_bars(ax, report, medians)
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("median kept share (visual tokens)")
    ax.set_title(f"Kept share per method, median over {_images(report)} ({report.family})")


def _kept_share_vs_tau(report: Report, ax: Axes) -> None:
    for index, method in enumerate(report.methods):
        color = _method_color(index)
        taus = [t for t in report.taus if report.shares(method, t)]
        if not taus:
            continue
        quartiles = [np.percentile(report.shares(method, t), [25, 50, 75]) for t in taus]
        low, median, high = np.array(quartiles).T
        ax.plot(taus, median, marker="o", color=color, label=method)
        if len(taus) > 1:
            ax.fill_between(taus, low, high, color=color, alpha=0.15, linewidth=0)
        else:
            ax.errorbar(taus, median, yerr=[median - low, high - median], color=color, capsize=3)
    ax.set_xticks(report.taus)
    ax.set_xlabel(f"τ (tolerance, metric {report.metric})")
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("kept share: median, band = inter-quartile range")
    ax.set_title(f"Kept share vs τ over {_images(report)} ({report.family})")
    ax.legend(fontsize="small", ncols=2)


def _distribution(report: Report, ax: Axes) -> None:
    tau = report.base_tau
    low, high = PAPER_REFERENCE["pixel_unique_share"]
    band = f"paper: {low:.0%}–{high:.0%} pixel-unique (reference, not measured here)"
    ax.axhspan(low, high, color="0.6", alpha=0.2, label=band)
    methods = [m for m in report.methods if report.shares(m, tau)]
    data = [report.shares(m, tau) for m in methods]
    positions = np.arange(len(methods))
    ax.boxplot(
        data, positions=positions, widths=0.5, showfliers=False, medianprops={"color": "black"}
    )
    jitter = np.random.default_rng(0)  # fixed, so the same data draws the same picture
    for position, method, shares in zip(positions, methods, data, strict=True):
        x = position + jitter.uniform(-0.15, 0.15, len(shares))
        color = _method_color(report.methods.index(method))
        ax.scatter(x, shares, s=14, color=color, alpha=0.7, zorder=3)
    ax.set_xticks(positions, methods)
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel(f"kept share per image at τ={tau:g}")
    ax.set_title(f"Kept share over {_images(report)} at τ={tau:g}, one dot per image")
    ax.legend(fontsize="small", loc="lower right")


def _select_ms(report: Report, ax: Axes) -> None:
    medians = _per_method_tau(report, lambda m, t: _median(report.select_ms(m, t)))
    _grouped_bars(ax, report, medians)
    resize = _median([image.resize_ms for image in report.images])
    ax.set_ylabel("median selection time per image (ms)")
    ax.set_title(
        f"Selection time per method over {_images(report)} ({report.family})\n"
        f"resize excluded (median resize: {resize:.1f} ms per image)"
    )


def _grouped_bars(ax: Axes, report: Report, values: np.ndarray) -> None:
    """One group per method, one bar per τ; NaN (method refuses τ) leaves a gap marked n/a."""
    n_taus = len(report.taus)
    width = 0.8 / n_taus
    positions = np.arange(len(report.methods))
    for j, tau in enumerate(report.taus):
        x = positions - 0.4 + width * (j + 0.5)
        color = colormaps["viridis"](j / max(1, n_taus - 1) * 0.85)
        column = values[:, j]
        ax.bar(x, np.nan_to_num(column), width, color=color, label=f"τ={tau:g}")
        for xi, value in zip(x, column, strict=True):
            if np.isnan(value):
                ax.text(xi, 0, "n/a", ha="center", va="bottom", rotation=90, fontsize="x-small")
    ax.set_xticks(positions, report.methods)
    ax.legend(fontsize="small", ncols=min(n_taus, 4))


def _per_method_tau(report: Report, value: Callable[[str, float], float]) -> np.ndarray:
    return np.array([[value(m, t) for t in report.taus] for m in report.methods], dtype=float)


def _median(values: Sequence[float]) -> float:
    return float(np.median(values)) if len(values) else float("nan")


def _method_color(index: int) -> tuple[float, float, float, float]:
    return colormaps["tab10"](index % 10)


def _images(report: Report) -> str:
    return counted(len(report.images), "image")
