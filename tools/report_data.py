"""The records of one compression report, the statistics derived from them, and CSV/JSON output.

Measuring (`tools.report`), plotting (`tools.report_plots`) and page writing
(`tools.report_pages`) all read the same `Report`, so a number in a plot, a table and
`summary.json` comes from one place and cannot disagree.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "PAPER_REFERENCE",
    "ImageInfo",
    "Report",
    "Result",
    "Skipped",
    "Summary",
    "counted",
    "summary",
    "write_csv",
]

# Numbers from the PixelPrune paper, shown for context only; nothing here measured them.
PAPER_REFERENCE: dict[str, Any] = {
    "source": "PixelPrune paper; for context, not measured by this report",
    "qwen3_vl_2b_tau0_kept_share": {"OCRBench": 0.661, "DocVQA": 0.701, "ChartQA": 0.731},
    "pixel_unique_share": [0.22, 0.71],
    "pixel_unique_note": "screenshots and documents are 22–71 % pixel-unique: share of cells "
    "with no exact duplicate anywhere in the image",
}

CSV_COLUMNS = [
    "file",
    "width",
    "height",
    "resized_width",
    "resized_height",
    "method",
    "tau",
    "metric",
    "cells",
    "kept",
    "kept_share",
    "select_ms",
    "resize_ms",
    "note",
]


@dataclass(frozen=True)
class ImageInfo:
    """One readable image: its sizes before and after the model's resize, and where its heatmap is.

    `file` is the path relative to the images folder (POSIX separators), `heatmap` relative to
    the output folder.
    """

    file: str
    width: int
    height: int
    resized_width: int
    resized_height: int
    cells: int
    resize_ms: float
    heatmap: str | None


@dataclass(frozen=True)
class Result:
    """One image × method × τ. Without a selection (the method refuses this τ) the counts are
    None and `note` says why, so the table keeps one row per combination."""

    file: str
    method: str
    tau: float
    cells: int
    kept: int | None
    kept_share: float | None
    select_ms: float | None
    note: str = ""


@dataclass(frozen=True)
class Skipped:
    """A file with an image extension that could not be reported, and why."""

    file: str
    reason: str


@dataclass(frozen=True)
class Summary:
    """One method × τ over all images; the statistics are None when the method refuses the τ."""

    method: str
    tau: float
    images: int
    median: float | None
    mean: float | None
    minimum: float | None
    maximum: float | None
    q25: float | None
    q75: float | None
    median_ms: float | None
    note: str = ""


@dataclass
class Report:
    """Everything one `main.py report` run measured, in the order it was measured."""

    folder: str
    family: str
    cell: int
    metric: str
    seed: int
    repeat: int
    methods: tuple[str, ...]
    taus: tuple[float, ...]
    heatmap_method: str
    heatmap_tau: float
    refused: dict[tuple[str, float], str] = field(default_factory=dict)
    images: list[ImageInfo] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def base_tau(self) -> float:
        """The τ of the per-image table and the distribution plot: 0 when requested, else the
        smallest requested."""
        return 0.0 if 0.0 in self.taus else min(self.taus)

    def shares(self, method: str, tau: float) -> list[float]:
        """Kept share of every image (in report order) for one method and τ; empty if refused."""
        return [
            r.kept_share
            for r in self.results
            if r.method == method and r.tau == tau and r.kept_share is not None
        ]

    def select_ms(self, method: str, tau: float) -> list[float]:
        return [
            r.select_ms
            for r in self.results
            if r.method == method and r.tau == tau and r.select_ms is not None
        ]

    def share_of(self, file: str, method: str, tau: float) -> float | None:
        for r in self.results:
            if r.file == file and r.method == method and r.tau == tau:
                return r.kept_share
        return None

    def summaries(self) -> list[Summary]:
        """One row per method × τ, methods in the requested order, τ ascending within each."""
        rows = []
        for method in self.methods:
            for tau in self.taus:
                note = self.refused.get((method, tau), "")
                shares = np.asarray(self.shares(method, tau), dtype=float)
                if note or shares.size == 0:
                    rows.append(
                        Summary(method, tau, 0, None, None, None, None, None, None, None, note=note)
                    )
                    continue
                q25, median, q75 = np.percentile(shares, [25, 50, 75])
                rows.append(
                    Summary(
                        method=method,
                        tau=tau,
                        images=int(shares.size),
                        median=float(median),
                        mean=float(shares.mean()),
                        minimum=float(shares.min()),
                        maximum=float(shares.max()),
                        q25=float(q25),
                        q75=float(q75),
                        median_ms=float(np.median(self.select_ms(method, tau))),
                    )
                )
        return rows


def write_csv(report: Report, path: Path) -> None:
    """One row per image × method × τ (refused combinations included, with their note)."""
    info = {image.file: image for image in report.images}
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for result in report.results:
            image = info[result.file]
            writer.writerow(
                {
                    "file": result.file,
                    "width": image.width,
                    "height": image.height,
                    "resized_width": image.resized_width,
                    "resized_height": image.resized_height,
                    "method": result.method,
                    "tau": result.tau,
                    "metric": report.metric,
                    "cells": result.cells,
                    "kept": _blank(result.kept),
                    "kept_share": _blank(result.kept_share),
                    "select_ms": _blank(result.select_ms),
                    "resize_ms": image.resize_ms,
                    "note": result.note,
                }
            )


def summary(report: Report, outputs: dict[str, str]) -> dict[str, Any]:
    """Settings, the method × τ summary, per-image facts, skipped files and the paper's numbers:
    summary.json, and what `--json` prints."""
    return {
        "folder": report.folder,
        "family": report.family,
        "cell": report.cell,
        "metric": report.metric,
        "seed": report.seed,
        "repeat": report.repeat,
        "methods": list(report.methods),
        "taus": list(report.taus),
        "heatmap": {"method": report.heatmap_method, "tau": report.heatmap_tau},
        "images": len(report.images),
        "skipped": [asdict(s) for s in report.skipped],
        "summary": [asdict(s) for s in report.summaries()],
        "per_image": [asdict(i) for i in report.images],
        "timing": {
            "seconds": round(report.seconds, 3),
            "resize_ms_total": round(sum(i.resize_ms for i in report.images), 3),
            "select_ms_sum": round(  # per-combination medians, summed
                sum(r.select_ms for r in report.results if r.select_ms is not None), 3
            ),
        },
        "outputs": outputs,
        "paper_reference": PAPER_REFERENCE,
    }


def counted(count: int, noun: str) -> str:
    """ "1 image", "2 images": for titles and sentences."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _blank(value: float | int | None) -> float | int | str:
    return "" if value is None else value
