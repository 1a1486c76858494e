"""What `main.py eval-grounding` shows and writes: the side-by-side table, summary.md, a plot.

Everything here reads one `Summary` (tools/grounding_results.py; summary.json is its `to_dict()`),
so the terminal, the Markdown and the plot cannot disagree.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from pixelprune.cli import write_json
from tools.grounding_results import Agreement, GroupSummary, Metrics, Summary

__all__ = ["print_summary", "write_outputs"]


def print_summary(summary: Summary, console: Console) -> None:
    """The side-by-side table per group and setting, then the off-vs-on agreement."""
    names = [s.name for s in summary.settings]
    table = Table(title=f"click accuracy — {summary.model} ({summary.parser})")
    table.add_column("group")
    for name in names:
        for column in ("acc", "n", "unparsed", "kept", "s mean", "s med"):
            table.add_column(f"{name}\n{column}", justify="right")
    for group in summary.groups:
        cells = []
        for name in names:
            cells += _cells(group.settings[name])
        table.add_row(_label(group), *cells)
    console.print(table)
    for name, agreement in summary.agreement.items():
        console.print(_agreement_line(names[0], name, agreement))
    for line in _not_pruned_lines(summary):
        console.print(f"warning: {line}")
    skipped = summary.dataset.skipped if summary.dataset else []
    if skipped:
        console.print(f"{len(skipped)} entries skipped (listed in summary.json)")


def _cells(metrics: Metrics) -> list[str]:
    return [
        _percent(metrics.accuracy),
        str(metrics.n),
        str(metrics.unparsed),
        _percent(metrics.kept_share),
        _seconds(metrics.seconds_mean),
        _seconds(metrics.seconds_median),
    ]


def _label(group: GroupSummary) -> str:
    return (
        group.group
        if group.kind in ("overall", "platform×type", "platform×application")
        else f"{group.kind}: {group.group}"
    )


def _agreement_line(off: str, on: str, agreement: Agreement) -> str:
    if not agreement.n:
        return f"{on} vs {off}: no sample asked under both"
    return (
        f"{on} vs {off}: same hit/miss on {agreement.same_outcome}/{agreement.n} "
        f"({agreement.share or 0.0:.1%}); clicks lost {agreement.lost}, gained "
        f"{agreement.gained}; identical answers {agreement.same_output}/{agreement.n}"
    )


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def write_outputs(out: Path, summary: Summary) -> None:
    """summary.json, summary.md and accuracy.png (samples.jsonl is written as results come)."""
    write_json(str(out / "summary.json"), summary.to_dict())
    (out / "summary.md").write_text(_markdown(summary), encoding="utf-8")
    _plot(summary, out / "accuracy.png")


def _markdown(summary: Summary) -> str:
    names = [s.name for s in summary.settings]
    lines = ["# Click grounding, pruning off vs on", ""]
    if (dataset := summary.dataset) is not None:
        lines.append(
            f"Set: `{dataset.folder}` ({dataset.layout}), {dataset.asked} of "
            f"{dataset.samples} samples asked, {len(dataset.skipped)} entries skipped."
        )
    prompt = "the model's own grounding prompt" if summary.prompt == "grounding" else "the agent's"
    lines += [f"Model: `{summary.model}`, parser `{summary.parser}`, {prompt} prompt.", ""]
    if not summary.complete:
        lines += [f"**Stopped early:** {summary.stopped}", ""]
    header = ["group"]
    for name in names:
        header += [f"{name} acc", "n", "unparsed", "kept", "s mean", "s med"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for group in summary.groups:
        cells = [_label(group)]
        for name in names:
            cells += _cells(group.settings[name])
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- {_agreement_line(names[0], n, a)}" for n, a in summary.agreement.items()]
    lines += [f"- **Warning:** {line}" for line in _not_pruned_lines(summary)]
    return "\n".join(lines) + "\n"


def _not_pruned_lines(summary: Summary) -> list[str]:
    return [
        f"{name}: {count} answer(s) came back unpruned (the backend does not report PixelPrune, "
        "e.g. a stock server), so that column measures the unpruned model"
        for name, count in summary.not_pruned.items()
    ]


def _plot(summary: Summary, path: Path) -> None:
    """Grouped bars: accuracy per setting for overall, each platform, element type and group."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = [s.name for s in summary.settings]
    groups = [g for g in summary.groups if g.kind in ("overall", "platform", "type", "group")]
    figure = Figure(figsize=(max(6.0, 1.3 * len(groups) + 2), 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        values = [100 * (g.settings[name].accuracy or 0.0) for g in groups]
        positions = [j + (i - (len(names) - 1) / 2) * width for j in range(len(groups))]
        bars = axes.bar(positions, values, width, label=name)
        axes.bar_label(bars, fmt="%.0f", fontsize=7)
    axes.set_xticks(range(len(groups)), [_label(g) for g in groups], rotation=20, ha="right")
    axes.set_ylabel("click accuracy (%)")
    axes.set_ylim(0, 118)  # room above 100 % for the legend
    axes.set_title(f"{summary.model} ({summary.parser}), n = {groups[0].settings[names[0]].n}")
    axes.legend(title="pruning", loc="upper center", ncols=len(names), fontsize=8)
    figure.savefig(path, dpi=120)
