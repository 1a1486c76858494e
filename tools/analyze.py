"""`main.py analyze`: how much of each screenshot PixelPrune keeps, and how fast it decides.

Each image is resized as the chosen model family's processor would (so cell counts equal the
model's visual tokens), selected, and reported as a table or JSON; `--heatmap` writes the
kept-cell heatmap over the original image. A missing or corrupt file gets its own error line
and the exit status says something failed, but every other file is still processed.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table

from pixelprune import (
    PixelPruneError,
    get_family,
    resize_for_model,
    select,
)
from pixelprune.cli import (
    add_family_option,
    add_json_option,
    add_prune_options,
    legacy_prune,
    write_json,
)
from pixelprune.heatmap import overlay_heatmap, render_heatmap
from pixelprune.selection import Selection
from tools.image_files import ImageFileError, open_rgb
from tools.report import find_images

__all__ = ["add_arguments", "run"]


@dataclass
class Row:
    """One file's result (or its error) as printed and as emitted in JSON."""

    file: str
    width: int | None = None
    height: int | None = None
    resized_width: int | None = None
    resized_height: int | None = None
    cells: int | None = None
    kept: int | None = None
    kept_share: float | None = None
    ms: float | None = None
    heatmap: str | None = None
    error: str | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "images", nargs="+", type=Path, metavar="IMG", help="image files, or folders of them"
    )
    add_family_option(parser)
    add_prune_options(
        parser,
        what="selector, tolerance on [0, 1] pixel values (0: lossless) and cell distance",
        off=False,
        legacy_method="--method",
    )
    parser.add_argument(
        "--no-anchor",
        action="store_true",
        help="tau>0: compare raw neighbours instead of the reconstruction",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for --prune random")
    parser.add_argument(
        "--heatmap",
        type=Path,
        metavar="OUT",
        help="write heatmaps: a .png file for one image, else a folder",
    )
    parser.add_argument("--grid", action="store_true", help="draw cell borders in heatmaps")
    add_json_option(parser, what="one row per file instead of the table")


def run(args: argparse.Namespace) -> int:
    """Analyze every file; 0 when all succeeded, 1 when any file failed."""
    try:  # refused before any file: a setting select would refuse cannot be made
        prune = legacy_prune(args, args.prune) or args.prune
        args.prune = dataclasses.replace(prune, anchored=not args.no_anchor)
    except PixelPruneError as exc:  # bad options: nothing to do per file
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _warm_up(args)
    rows = [_analyze_one(path, args) for path in _image_files(args.images)]
    if args.json is not None:
        write_json(args.json, [asdict(row) for row in rows])
    if args.json != "-":
        _print_table(rows)
    for row in rows:
        if row.error:
            print(f"error: {row.file}: {row.error}", file=sys.stderr)
    return 1 if any(row.error for row in rows) else 0


def _warm_up(args: argparse.Namespace) -> None:
    """One selection on a blank image first, so loading the compiled kernels from numba's
    cache (a few hundred ms, once per process) is not timed as the first file's selection."""
    cell = get_family(args.family).cell
    prune = args.prune
    select(
        np.zeros((2 * cell, 2 * cell, 3), np.uint8),
        cell=cell,
        method=prune.method,
        tau=prune.tau,
        metric=prune.metric,
        anchored=prune.anchored,
        seed=args.seed,
    )


def _image_files(paths: list[Path]) -> list[Path]:
    """The files given, with each folder replaced by the images under it (as `report` finds
    them); an empty folder stays, to be reported as an error."""
    files = []
    for path in paths:
        found = find_images(path) if path.is_dir() else []
        files += found or [path]
    return files


def _analyze_one(path: Path, args: argparse.Namespace) -> Row:
    row = Row(file=str(path))
    try:
        original = open_rgb(path)
    except ImageFileError as exc:
        row.error = str(exc)
        return row
    try:
        resized = resize_for_model(original, args.family)
        prune = args.prune
        selection = select(
            resized,
            cell=get_family(args.family).cell,
            method=prune.method,
            tau=prune.tau,
            metric=prune.metric,
            anchored=prune.anchored,
            seed=args.seed,
        )
    except PixelPruneError as exc:
        row.error = str(exc)
        return row
    row.width, row.height = original.size
    row.resized_height, row.resized_width = resized.shape[:2]
    row.cells, row.kept = selection.n_cells, selection.n_kept
    row.kept_share = round(selection.kept_share, 4)
    row.ms = round(selection.seconds * 1e3, 3)
    if args.heatmap is not None:
        row.heatmap = str(_write_heatmap(original, selection, path, args))
    return row


def _write_heatmap(
    original: Image.Image, selection: Selection, path: Path, args: argparse.Namespace
) -> Path:
    single_file = len(args.images) == 1 and args.heatmap.suffix.lower() == ".png"
    target = args.heatmap if single_file else args.heatmap / f"{path.stem}.heatmap.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    heat = render_heatmap(selection, original.size, grid=args.grid)
    overlay_heatmap(original, heat).save(target)
    return target


def _print_table(rows: list[Row]) -> None:
    table = Table(show_edge=False)
    for name in ("file", "size", "cells", "kept", "kept share", "ms"):
        table.add_column(name, justify="left" if name == "file" else "right")
    for row in rows:
        if row.error:
            table.add_row(row.file, "error", "", "", "", "")
            continue
        size = f"{row.width}x{row.height} → {row.resized_width}x{row.resized_height}"
        table.add_row(
            row.file, size, str(row.cells), str(row.kept), f"{row.kept_share:.1%}", f"{row.ms:.2f}"
        )
    Console(width=160).print(table)
