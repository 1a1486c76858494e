"""`report.md` and `report.html`: the same content, built once as blocks and rendered twice.

Building the headings, tables and figures once keeps the two pages from drifting apart; each
renderer then only has to escape text its own way (file names are user data and may hold `|`,
`<` or `&`) and to write image links relative to the output folder, so the folder can be moved
or zipped as a whole.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from tools.report_data import PAPER_REFERENCE, Report, counted

__all__ = ["build_blocks", "write_html", "write_markdown"]


@dataclass(frozen=True)
class Link:
    text: str
    href: str  # relative to the output folder, unquoted


@dataclass(frozen=True)
class Heading:
    text: str
    level: int


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: list[str]


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str | Link]]
    align: str  # one "l" or "r" per column


@dataclass(frozen=True)
class Picture:
    src: str  # relative to the output folder
    caption: str


Block = Heading | Paragraph | Bullets | Table | Picture

PLOT_TEXT = {
    "kept_share": (
        "Kept share per method",
        "One group of bars per method, one bar per τ: the median over all images of the share "
        "of cells (visual tokens) kept. Lower is more compression; n/a marks a τ the method "
        "does not accept.",
    ),
    "kept_share_vs_tau": (
        "Kept share vs τ",
        "One line per method: the median kept share at each τ; the shaded band spans the "
        "middle half of the images (25th to 75th percentile). A flat line means the images "
        "have few near-duplicate cells beyond the exact ones.",
    ),
    "distribution": (
        "Distribution over images",
        "Box (quartiles, whiskers to 1.5 × IQR) and one dot per image at the smallest τ. The "
        "grey band is the paper's 22–71 % pixel-unique range for screenshots and documents, "
        "drawn for reference only.",
    ),
    "select_ms": (
        "Selection time per method",
        "Median over images of the time one selection takes, input checks included, resize "
        "excluded (the title gives the median resize time, for scale). Each image's time is "
        "itself the median of --repeat runs.",
    ),
}


def write_markdown(report: Report, plots: dict[str, str], path: Path) -> None:
    path.write_text(_markdown(build_blocks(report, plots)), encoding="utf-8")


def write_html(report: Report, plots: dict[str, str], path: Path) -> None:
    path.write_text(_html(build_blocks(report, plots)), encoding="utf-8")


def build_blocks(report: Report, plots: dict[str, str]) -> list[Block]:
    """The report's content in reading order: setup, summary, paper numbers, plots, per image,
    skipped files."""
    blocks: list[Block] = [
        Heading("PixelPrune compression report", 1),
        Paragraph(
            f"{counted(len(report.images), 'image')} from {report.folder} "
            f"({len(report.skipped)} skipped), "
            f"resized as the {report.family} processor does; one {report.cell} px cell is one "
            f"visual token. Methods: {', '.join(report.methods)}. τ: "
            f"{', '.join(f'{t:g}' for t in report.taus)} (metric {report.metric}); random uses "
            f"seed {report.seed}. Selection times are the median of {report.repeat} runs per "
            f"image and exclude the resize. The run took {report.seconds:.1f} s."
        ),
        Heading("Summary: kept share per method and τ", 2),
        _summary_table(report),
        Paragraph(
            "Kept share = kept cells / all cells of the resized image, i.e. the share of visual "
            "tokens the model still sees (lower = more compression). The random method keeps as "
            "many cells as pred_2d, chosen at random: a control for where, not how many."
        ),
        Heading("From the paper, not measured here", 2),
        Bullets(_paper_lines()),
    ]
    for name, src in plots.items():
        title, caption = PLOT_TEXT[name]
        blocks += [Heading(title, 3), Picture(src, caption)]
    blocks += [
        Heading(f"Per image (kept share at τ={report.base_tau:g})", 2),
        _image_table(report),
        Paragraph(
            f"Heatmaps show the cells {report.heatmap_method} keeps at "
            f"τ={report.heatmap_tau:g}, tinted over the original image."
            if any(image.heatmap for image in report.images)
            else "No heatmaps were written (--no-heatmaps)."
        ),
        Heading("Skipped files", 2),
    ]
    if report.skipped:
        rows: list[list[str | Link]] = [[s.file, s.reason] for s in report.skipped]
        blocks.append(Table(["file", "reason"], rows, "ll"))
    else:
        blocks.append(Paragraph("None: every image file was read."))
    return blocks


def _summary_table(report: Report) -> Table:
    rows: list[list[str | Link]] = []
    for s in report.summaries():
        if s.median is None or s.mean is None or s.minimum is None or s.maximum is None:
            rows.append([s.method, f"{s.tau:g}", "0", "n/a", "n/a", "n/a", "n/a", s.note])
            continue
        rows.append(
            [
                s.method,
                f"{s.tau:g}",
                str(s.images),
                _pct(s.median),
                _pct(s.mean),
                f"{_pct(s.minimum)} – {_pct(s.maximum)}",
                f"{s.median_ms:.2f}",
                "",
            ]
        )
    header = ["method", "τ", "images", "median kept", "mean", "min – max", "median ms", "note"]
    return Table(header, rows, "lrrrrrrl")


def _image_table(report: Report) -> Table:
    tau = report.base_tau
    rows: list[list[str | Link]] = []
    for image in report.images:
        shares = [report.share_of(image.file, m, tau) for m in report.methods]
        rows.append(
            [
                image.file,
                f"{image.width}×{image.height}",
                f"{image.resized_width}×{image.resized_height}",
                str(image.cells),
                f"{image.resize_ms:.1f}",
                *["n/a" if share is None else _pct(share) for share in shares],
                Link("heatmap", image.heatmap) if image.heatmap else "",
            ]
        )
    header = ["file", "size", "resized", "cells", "resize ms", *report.methods, "heatmap"]
    return Table(header, rows, "lrrrr" + "r" * len(report.methods) + "l")


def _paper_lines() -> list[str]:
    kept = PAPER_REFERENCE["qwen3_vl_2b_tau0_kept_share"]
    low, high = PAPER_REFERENCE["pixel_unique_share"]
    return [
        "Qwen3-VL-2B, τ=0, kept share of visual tokens: "
        + ", ".join(f"{name} {_pct(share)}" for name, share in kept.items())
        + " (document benchmarks).",
        f"Screenshots and documents are {low:.0%}–{high:.0%} pixel-unique: the share of cells "
        "with no exact duplicate anywhere in the image (compare with the global method).",
    ]


def _pct(share: float) -> str:
    return f"{share:.1%}"


# ---- Markdown

MD_SPECIAL = re.compile(r"([\\`*_\[\]<>&|#])")


def _markdown(blocks: list[Block]) -> str:
    parts = [_md_block(block) for block in blocks]
    return "\n\n".join(parts) + "\n"


def _md_block(block: Block) -> str:
    if isinstance(block, Heading):
        return "#" * block.level + " " + _md(block.text)
    if isinstance(block, Paragraph):
        return _md(block.text)
    if isinstance(block, Bullets):
        return "\n".join(f"- {_md(item)}" for item in block.items)
    if isinstance(block, Picture):
        return f"![{_md(block.caption)}]({quote(block.src)})\n\n{_md(block.caption)}"
    lines = [
        "| " + " | ".join(_md(h) for h in block.header) + " |",
        "|" + "|".join("---:" if a == "r" else "---" for a in block.align) + "|",
    ]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
    return "\n".join(lines)


def _md_cell(cell: str | Link) -> str:
    if isinstance(cell, Link):
        return f"[{_md(cell.text)}]({quote(cell.href)})"
    return _md(cell)


def _md(text: str) -> str:
    """Text that Markdown shows as typed: special characters escaped, no line breaks."""
    return MD_SPECIAL.sub(r"\\\1", " ".join(text.splitlines()))


# ---- HTML

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; }
th { background: #f3f3f3; }
td.r { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 13px; }
"""


def _html(blocks: list[Block]) -> str:
    body = "\n".join(_html_block(block) for block in blocks)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>PixelPrune compression report</title>\n"
        f"<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _html_block(block: Block) -> str:
    esc = html.escape
    if isinstance(block, Heading):
        return f"<h{block.level}>{esc(block.text)}</h{block.level}>"
    if isinstance(block, Paragraph):
        return f"<p>{esc(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{esc(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Picture):
        src = esc(quote(block.src))
        return (
            f'<figure><img src="{src}" alt="{esc(block.caption)}">'
            f"<figcaption>{esc(block.caption)}</figcaption></figure>"
        )
    head = "".join(f"<th>{esc(h)}</th>" for h in block.header)
    rows = [
        "<tr>"
        + "".join(
            f'<td class="{a}">{_html_cell(c)}</td>' for c, a in zip(row, block.align, strict=True)
        )
        + "</tr>"
        for row in block.rows
    ]
    return f"<table>\n<tr>{head}</tr>\n" + "\n".join(rows) + "\n</table>"


def _html_cell(cell: str | Link) -> str:
    if isinstance(cell, Link):
        return f'<a href="{html.escape(quote(cell.href))}">{html.escape(cell.text)}</a>'
    return html.escape(cell)
