"""`main.py report`: how much PixelPrune keeps, per method and τ, over a folder of images.

Every image is read once and resized once as the model family's processor would (so cells equal
visual tokens), then every requested method × τ selects on that same array; selection time
excludes the resize, which is timed on its own. The results go to `--out` as tables
(`results.csv`, `summary.json`), pages (`report.md`, `report.html`), plots and one kept-cell
heatmap per image. Unreadable files are listed as skipped and the rest is still reported; a
method that refuses a τ (`global` is exact-only) gets an "n/a" row instead of a number.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from pixelprune import (
    METHODS,
    METRICS,
    PixelPruneError,
    PruneConfig,
    format_prune_spec,
    get_family,
    resize_for_model,
)
from pixelprune.cli import (
    add_family_option,
    add_json_option,
    add_out_option,
    add_prune_list,
    write_json,
)
from pixelprune.heatmap import overlay_heatmap, render_heatmap
from pixelprune.selection import Selection
from pixelprune.stats import time_select
from tools.image_files import ImageFileError, open_rgb
from tools.progress import progress_bar
from tools.report_data import ImageInfo, Report, Result, Skipped, counted, summary, write_csv
from tools.report_pages import write_html, write_markdown
from tools.report_plots import write_plots

__all__ = ["IMAGE_SUFFIXES", "add_arguments", "find_images", "run"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
DEFAULT_TAUS = ("0", "0.02", "0.05", "0.1")
HEATMAP_MAX_WIDTH = 1280  # px; heatmaps are for looking at, not for measuring
OUTPUT_SUBFOLDERS = ("heatmaps", "plots")


class OptionError(Exception):
    """A command-line option that makes the whole report impossible; exit status 2."""


@dataclass(frozen=True)
class ReportConfig:
    """Checked options of one run, with the image files found and the refused method × τ."""

    folder: Path
    files: tuple[Path, ...]
    family: str
    cell: int
    methods: tuple[str, ...]
    taus: tuple[float, ...]
    metric: str
    seed: int
    repeat: int
    out: Path
    refused: dict[tuple[str, float], str]
    heatmap_method: str
    heatmap_tau: float
    heatmaps: bool


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "images", type=Path, metavar="IMAGES_DIR", help="folder searched recursively"
    )
    add_family_option(parser)
    add_prune_list(
        parser,
        default=" ".join([*(f"pred_2d:{t}" for t in DEFAULT_TAUS), *list(METHODS)[1:]]),
        what="settings to measure; every method named is measured at every τ named, under "
        "one metric (a method that refuses a τ gets an n/a row)",
    )
    parser.add_argument("--methods", help=argparse.SUPPRESS)  # deprecated: --prune
    parser.add_argument("--taus", help=argparse.SUPPRESS)
    parser.add_argument("--metric", choices=list(METRICS), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help="seed for the random selector")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="selections per image, method and tau; the median time is reported (default 3)",
    )
    add_out_option(
        parser, what="folder for the tables, pages, plots and heatmaps", default="report"
    )
    add_json_option(parser, what="the summary (also written to DIR/summary.json)")
    parser.add_argument(
        "--no-heatmaps",
        dest="heatmaps",
        action="store_false",
        help="write no heatmap images (a report small enough to commit)",
    )


def run(args: argparse.Namespace) -> int:
    """0 when at least one image was reported, 1 when none could be read, 2 for bad options."""
    try:
        config = _config(args)
    except OptionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        report = measure(config)
        if not report.images:
            print(
                f"error: none of the {len(config.files)} image files in {config.folder} "
                "could be read",
                file=sys.stderr,
            )
            return 1
        outputs = write_outputs(report, config.out)
        if args.json is not None:
            write_json(args.json, summary(report, outputs))
    except OSError as exc:
        print(f"error: cannot write the report into {config.out}: {exc}", file=sys.stderr)
        return 1
    print(
        f"report: {config.out / 'report.md'} and report.html — "
        f"{counted(len(report.images), 'image')}, "
        f"{len(report.skipped)} skipped, {report.seconds:.1f} s"
    )
    return 0


def find_images(folder: Path, exclude: tuple[Path, ...] = ()) -> list[Path]:
    """Files with an image suffix under `folder` (any depth), sorted by relative path.

    Paths inside `exclude` are left out, so a report written into the folder it reads does not
    report its own heatmaps on the next run.
    """
    excluded = [path.resolve() for path in exclude]
    found = [
        path
        for path in folder.rglob("*")
        if path.suffix.lower() in IMAGE_SUFFIXES
        and not path.is_dir()
        and not any(path.resolve().is_relative_to(ex) for ex in excluded)
    ]
    return sorted(found, key=lambda path: path.relative_to(folder).as_posix())


def measure(config: ReportConfig) -> Report:
    """Read, resize and select every file, writing each heatmap as it goes; skips are recorded."""
    report = Report(
        folder=str(config.folder),
        family=config.family,
        cell=config.cell,
        metric=config.metric,
        seed=config.seed,
        repeat=config.repeat,
        methods=config.methods,
        taus=config.taus,
        heatmap_method=config.heatmap_method,
        heatmap_tau=config.heatmap_tau,
        refused=dict(config.refused),
    )
    start = time.perf_counter()
    with progress_bar() as progress:
        task = progress.add_task("", total=len(config.files))
        for number, path in enumerate(config.files, start=1):
            name = path.relative_to(config.folder).as_posix()
            progress.update(task, description=name[-48:])
            try:
                info, results = _measure_one(path, name, number, config)
            except (ImageFileError, PixelPruneError) as exc:
                report.skipped.append(Skipped(name, str(exc)))
                progress.console.print(
                    f"skipped: {name}: {exc}", markup=False, highlight=False, soft_wrap=True
                )
            else:
                report.images.append(info)
                report.results.extend(results)
            progress.advance(task)
        progress.update(task, description="done")
    report.seconds = time.perf_counter() - start
    return report


def write_outputs(report: Report, out: Path) -> dict[str, str]:
    """Plots, CSV, JSON and both pages into `out`; returns the written paths relative to it."""
    outputs = {
        "markdown": "report.md",
        "html": "report.html",
        "csv": "results.csv",
        "json": "summary.json",
    }
    plots = write_plots(report, out)
    write_csv(report, out / outputs["csv"])
    write_json(str(out / outputs["json"]), summary(report, {**outputs, **plots}))
    write_markdown(report, plots, out / outputs["markdown"])
    write_html(report, plots, out / outputs["html"])
    return {**outputs, **plots}


def _measure_one(
    path: Path, name: str, number: int, config: ReportConfig
) -> tuple[ImageInfo, list[Result]]:
    original = open_rgb(path)
    start = time.perf_counter()
    resized = resize_for_model(original, config.family)
    resize_ms = (time.perf_counter() - start) * 1e3
    height, width = resized.shape[:2]
    cells = (height // config.cell) * (width // config.cell)
    results, selections = [], {}
    for method in config.methods:
        for tau in config.taus:
            refused = config.refused.get((method, tau))
            if refused:
                results.append(
                    Result(name, method, tau, cells, None, None, None, f"n/a: {refused}")
                )
                continue
            selection, stats = time_select(
                resized,
                repeat=config.repeat,
                warmup=False,  # _config already ran every method × τ once
                cell=config.cell,
                method=method,
                tau=tau,
                metric=config.metric,
                seed=config.seed,
            )
            results.append(
                Result(
                    name,
                    method,
                    tau,
                    selection.n_cells,
                    selection.n_kept,
                    selection.kept_share,
                    round(stats.median_ms, 4),
                )
            )
            selections[(method, tau)] = selection
    heatmap = None
    if config.heatmaps:
        safe_name = re.sub(r"[^A-Za-z0-9._-]+", "_", name.rsplit(".", 1)[0])
        heatmap = Path("heatmaps") / f"{number:03d}-{safe_name}.png"  # numbered: names may clash
        shown = selections[(config.heatmap_method, config.heatmap_tau)]  # never refused: _config
        _write_heatmap(original, shown, config.out / heatmap)
    info = ImageInfo(
        file=name,
        width=original.width,
        height=original.height,
        resized_width=width,
        resized_height=height,
        cells=cells,
        resize_ms=round(resize_ms, 3),
        heatmap=None if heatmap is None else heatmap.as_posix(),
    )
    return info, results


def _write_heatmap(original: Image.Image, selection: Selection, target: Path) -> None:
    """Kept cells tinted over the original, at most HEATMAP_MAX_WIDTH wide to keep files small."""
    scale = min(1.0, HEATMAP_MAX_WIDTH / original.width)
    size = (max(1, round(original.width * scale)), max(1, round(original.height * scale)))
    base = original if scale == 1.0 else original.resize(size, Image.Resampling.LANCZOS)
    target.parent.mkdir(parents=True, exist_ok=True)
    overlay_heatmap(base, render_heatmap(selection, base.size)).save(target)


def _config(args: argparse.Namespace) -> ReportConfig:
    folder: Path = args.images
    if not folder.exists():
        raise OptionError(f"no such folder: {folder}")
    if not folder.is_dir():
        raise OptionError(f"not a folder: {folder} (give the folder that holds the images)")
    methods, taus, metric = _grid(args)
    if args.repeat < 1:
        raise OptionError(f"--repeat must be at least 1, got {args.repeat}")
    cell = get_family(args.family).cell
    refused = _refused(methods, taus, metric)
    heatmap_method, heatmap_tau = _heatmap_choice(methods, taus, refused)
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise OptionError(f"--out {out} exists and is not a folder")
    files = find_images(folder, tuple(out / sub for sub in OUTPUT_SUBFOLDERS))
    if not files:
        raise OptionError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OptionError(f"--out {out}: cannot create the folder ({exc})") from None
    return ReportConfig(
        folder=folder,
        files=tuple(files),
        family=args.family,
        cell=cell,
        methods=methods,
        taus=taus,
        metric=metric,
        seed=args.seed,
        repeat=args.repeat,
        out=out,
        refused=refused,
        heatmap_method=heatmap_method,
        heatmap_tau=heatmap_tau,
        heatmaps=args.heatmaps,
    )


def _grid(args: argparse.Namespace) -> tuple[tuple[str, ...], tuple[float, ...], str]:
    """(methods, τ ascending, metric) from the specs, or from the deprecated grid options."""
    if args.methods is not None or args.taus is not None or args.metric is not None:
        methods = _parse_methods(args.methods or ",".join(METHODS))
        taus = _parse_taus(args.taus or ",".join(DEFAULT_TAUS))
        metric = args.metric or "max"
        refused = _refused(methods, taus, metric)
        same = " ".join(
            format_prune_spec(PruneConfig(m, t, metric))
            for m in methods
            for t in taus
            if (m, t) not in refused
        )
        print(
            f"note: --methods, --taus and --metric are deprecated; use --prune {same}",
            file=sys.stderr,
        )
        return methods, taus, metric
    specs: list[PruneConfig] = args.prune
    metrics = {spec.metric for spec in specs}
    if len(metrics) > 1:
        raise OptionError(f"--prune: a report uses one metric, got {', '.join(sorted(metrics))}")
    methods = tuple(dict.fromkeys(spec.method for spec in specs))
    return methods, tuple(sorted({spec.tau for spec in specs})), metrics.pop()


def _parse_methods(text: str) -> tuple[str, ...]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise OptionError("--methods: give at least one method")
    for name in names:
        if name not in METHODS:
            raise OptionError(
                f"--methods: unknown method {name!r}; choose from {', '.join(METHODS)}"
            )
    return tuple(dict.fromkeys(names))


def _parse_taus(text: str) -> tuple[float, ...]:
    """Distinct τ values, ascending (the τ plot's x axis), each a number on [0, 1]."""
    values = set()
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise OptionError("--taus: give at least one value")
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            raise OptionError(f"--taus: {part!r} is not a number") from None
        if not 0.0 <= value <= 1.0:  # also refuses nan
            raise OptionError(f"--taus: {part} is outside [0, 1]")
        values.add(abs(value))  # -0.0 → 0.0
    return tuple(sorted(values))


def _refused(
    methods: tuple[str, ...], taus: tuple[float, ...], metric: str
) -> dict[tuple[str, float], str]:
    """The method × τ that pixelprune refuses, with its reason, found by asking it on one cell.

    This also compiles (or loads from cache) every kernel the run needs, so that no image's
    timing includes the first-call cost.
    """
    refused = {}
    for method in methods:
        for tau in taus:
            try:  # refused on construction exactly when select would refuse it
                PruneConfig(method=method, tau=tau, metric=metric)
            except PixelPruneError as exc:
                refused[(method, tau)] = str(exc)
    for tau in taus:
        reasons = [refused.get((method, tau)) for method in methods]
        if all(reasons):
            raise OptionError(
                f"no requested method accepts tau={tau:g} with --metric {metric}: {reasons[0]}"
            )
    return refused


def _heatmap_choice(
    methods: tuple[str, ...], taus: tuple[float, ...], refused: dict[tuple[str, float], str]
) -> tuple[str, float]:
    """pred_2d at τ=0 when requested, else the first requested method and τ it accepts."""
    method = "pred_2d" if "pred_2d" in methods else methods[0]
    tau = 0.0 if 0.0 in taus else taus[0]
    if (method, tau) not in refused:
        return method, tau
    return next((m, t) for m in methods for t in taus if (m, t) not in refused)
