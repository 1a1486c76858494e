"""`main.py eval-grounding`: click accuracy on a ScreenSpot-format set, pruning off vs on.

    python main.py eval-grounding ScreenSpot-v2/ --model ByteDance-Seed/UI-TARS-1.5-7B
    python main.py eval-grounding DIR --model PATH --prune pred_2d:0 pred_2d:0.05 --out results
    python main.py eval-grounding DIR --scripted outputs.json --parser uitars --limit 20

Every sample is asked once per setting, unpruned ("off") first and then each `--prune SPEC`
(default `pred_2d:0`), with the very prompt the agent would build: the parser's prompt with the
instruction as the task and the screenshot as the current screen. The answer is parsed and mapped
with `agent.coords` exactly as the agent maps it, the screenshot standing for a monitor at (0, 0)
with scale 1. A sample is a hit when the action's target point — the point of a click, a hover,
a scroll or a typing action, the start of a drag — lands in the box, edges included. An answer
that does not parse, maps outside the image or names no target point is "unparsed": a miss,
counted apart and never guessed. There is no retry.

A scripted run (`--scripted FILE`) consumes one answer per sample and setting, in this order:
sample 1 off, sample 1 with each --prune setting, sample 2 off, ... (after `--limit`).

The table, summary.md and the plot are made by `tools/grounding_output.py` from the summary.

Exit status: 0 when every sample was asked, 1 when the run stopped early (Ctrl-C, the model
failed), 2 for bad input (set folder, model, options). Whatever was measured is still reported.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from agent.actions import Action, points_of
from agent.backends.base import Backend
from agent.commands.model_options import add_model_arguments, model_settings
from agent.coords import Frame, Monitor, action_to_screen
from agent.errors import ActionError, AgentError
from agent.parsers import Parser, get_parser, parser_for_model
from pixelprune import PruneConfig, format_prune_spec, parse_prune_spec
from pixelprune.cli import OFF, add_json_option, add_out_option, add_prune_list, write_json
from tools.grounding_output import print_summary, write_outputs
from tools.screenspot import GroundingSetError, Sample, Skipped, load_grounding_set

__all__ = [
    "Evaluation",
    "Result",
    "Setting",
    "add_arguments",
    "evaluate",
    "judge",
    "parse_setting",
    "result_row",
    "run",
    "summarise",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Setting:
    """One way of asking: unpruned (`prune` None) or pruned with a selector configuration."""

    name: str
    prune: PruneConfig | None


@dataclass(frozen=True)
class Result:
    """One sample asked under one setting."""

    sample: Sample
    setting: str
    outcome: str  # "hit", "miss" or "unparsed"
    point: tuple[float, float] | None  # the target point in image pixels
    action: str | None  # the parsed action's type (Click, Move, ...)
    kept_share: float | None  # image tokens sent / image tokens of the full image
    tokens_full: int | None
    tokens_kept: int | None
    pruned: bool  # the backend reports that it pruned (a stock server cannot)
    seconds: float  # the backend call, wall time
    timings: dict[str, float]  # the backend's own stage timings
    output: str  # the model's raw answer
    error: str | None  # why the answer is unparsed

    @property
    def hit(self) -> bool:
        return self.outcome == "hit"


@dataclass
class Evaluation:
    """Every result so far, the samples that could not be asked, and why the run stopped early."""

    results: list[Result] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    stopped: str | None = None  # None: every sample was asked under every setting


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=Path, metavar="DATA_DIR", help="the grounding set's folder")
    model = add_model_arguments(parser)
    model.add_argument(
        "--max-new-tokens", type=int, default=256, help="answer length cap (default 256)"
    )
    add_prune_list(
        parser, default="pred_2d:0", what="pruned settings to compare with off", off=True
    )
    parser.add_argument("--limit", type=int, help="ask only N samples, spread evenly over the set")
    add_out_option(parser, what="write samples.jsonl, summary.json, summary.md, accuracy.png")
    add_json_option(parser, what="the summary")


def run(args: argparse.Namespace) -> int:
    try:
        settings = [
            Setting(OFF, None),
            *_unique(setting(config) for config in args.prune),
        ]
        dataset = load_grounding_set(args.data)
        samples = _spread(dataset.samples, args.limit)
        if args.max_new_tokens < 1:
            raise UsageError(f"--max-new-tokens must be at least 1, got {args.max_new_tokens}")
        if args.out is not None:
            _prepare_out(args.out)
    except (GroundingSetError, UsageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _report_skipped(dataset.skipped)
    if not samples:
        print(f"error: {args.data} has no usable sample", file=sys.stderr)
        return 2
    try:
        backend = _open_backend(args)
    except AgentError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        parser = get_parser(args.parser or parser_for_model(backend.model_type, backend.name))
        evaluation = _evaluate_with_progress(backend, parser, samples, settings, args)
    except AgentError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        backend.close()
    evaluation.skipped[:0] = dataset.skipped
    summary = summarise(evaluation, settings)
    summary["dataset"] = {
        "folder": str(dataset.folder),
        "layout": dataset.layout,
        "samples": len(dataset.samples),
        "asked": len(samples),
        "skipped": [dataclasses.asdict(s) for s in evaluation.skipped],
    }
    summary.update(model=backend.name, parser=parser.name, max_new_tokens=args.max_new_tokens)
    console = Console(stderr=args.json == "-")  # standard output holds the JSON then
    print_summary(
        summary, console if console.is_terminal else Console(width=200, stderr=console.stderr)
    )
    if args.out is not None:
        write_outputs(args.out, summary)
        print(f"results: {args.out}")
    if args.json is not None:
        write_json(args.json, summary)
    if evaluation.stopped:
        print(f"stopped early: {evaluation.stopped}", file=sys.stderr)
        return 1
    return 0


class UsageError(ValueError):
    """An option that makes the whole evaluation impossible; exit status 2."""


def parse_setting(spec: str) -> Setting:
    """`off`, or METHOD[:TAU[:METRIC]] (pred_2d:0.05:mae), checked by pixelprune itself."""
    if spec.strip().lower() in (OFF, "none"):
        return Setting(OFF, None)
    try:
        return setting(parse_prune_spec(spec))
    except ValueError as error:
        raise UsageError(f"--prune {error}") from None


def setting(prune: PruneConfig | None) -> Setting:
    """The setting of one pruning config (None: off), named by its spec."""
    return Setting(OFF, None) if prune is None else Setting(format_prune_spec(prune), prune)


def evaluate(
    backend: Backend,
    parser: Parser,
    samples: Sequence[Sample],
    settings: Sequence[Setting],
    *,
    max_new_tokens: int = 256,
    on_result: Callable[[Result], None] | None = None,
) -> Evaluation:
    """Ask every sample under every setting, in that order; stops early on a model failure.

    Ctrl-C also stops it: what was measured up to then is returned, not lost.
    """
    evaluation = Evaluation()
    try:
        for sample in samples:
            try:
                with Image.open(sample.image) as opened:
                    image = opened.convert("RGB")
            except OSError as error:
                evaluation.skipped.append(Skipped(sample.id, f"image unreadable: {error}"))
                continue
            model_input = backend.input_size(*image.size)
            frame = Frame(Monitor(0, 0, *image.size), image.size, model_input)
            prompt = parser.build_prompt(sample.instruction, [], image, model_input)
            for setting in settings:
                start = time.perf_counter()
                try:
                    reply = backend.complete(
                        prompt, prune=setting.prune, max_new_tokens=max_new_tokens
                    )
                except AgentError as error:
                    evaluation.stopped = f"{sample.id} ({setting.name}): {error}"
                    return evaluation
                seconds = time.perf_counter() - start
                outcome, point, action, problem = judge(reply.text, parser, frame, sample.bbox)
                full, kept = reply.image_tokens_full, reply.image_tokens_kept
                result = Result(
                    sample=sample,
                    setting=setting.name,
                    outcome=outcome,
                    point=point,
                    action=action,
                    kept_share=kept / full if full and kept is not None else None,
                    tokens_full=full,
                    tokens_kept=kept,
                    pruned=reply.selections is not None,
                    seconds=seconds,
                    timings=dict(reply.timings),
                    output=reply.text,
                    error=problem,
                )
                evaluation.results.append(result)
                if on_result is not None:
                    on_result(result)
    except KeyboardInterrupt:
        evaluation.stopped = "interrupted"
    return evaluation


def judge(
    text: str, parser: Parser, frame: Frame, bbox: tuple[float, float, float, float]
) -> tuple[str, tuple[float, float] | None, str | None, str | None]:
    """(outcome, target point in image pixels, action type, error) of one answer."""
    try:
        action = action_to_screen(parser.parse(text), frame)
    except ActionError as error:
        return "unparsed", None, None, str(error)
    kind = type(action).__name__
    target = _target(action)
    if target is None:
        return "unparsed", None, kind, f"a {kind} action names no target point"
    x1, y1, x2, y2 = bbox
    hit = x1 <= target[0] <= x2 and y1 <= target[1] <= y2
    return ("hit" if hit else "miss"), target, kind, None


def _target(action: Action) -> tuple[float, float] | None:
    """Where the action aims: its point, or where a drag starts (never where it ends)."""
    points = points_of(action)
    point = points.get("point") or points.get("start")
    return None if point is None else (point.x, point.y)


# ---- summary ---------------------------------------------------------------------------------


def summarise(evaluation: Evaluation, settings: Sequence[Setting]) -> dict[str, Any]:
    """Per group and setting: accuracy, unparsed, kept share, seconds; and off-vs-on agreement."""
    names = [s.name for s in settings]
    by_setting = {name: [r for r in evaluation.results if r.setting == name] for name in names}
    groups = []
    for kind, label, keep in _groups([r.sample for r in evaluation.results]):
        groups.append(
            {
                "kind": kind,
                "group": label,
                "settings": {
                    name: _metrics([r for r in by_setting[name] if keep(r.sample)])
                    for name in names
                },
            }
        )
    baseline = {r.sample.id: r for r in by_setting[names[0]]}
    agreement = {name: _agreement(baseline, by_setting[name]) for name in names[1:]}
    not_pruned = {  # asked to prune, answered by a backend that did not say it pruned
        s.name: sum(not r.pruned for r in by_setting[s.name]) for s in settings if s.prune
    }
    return {
        "settings": [
            {"name": s.name, "prune": None if s.prune is None else dataclasses.asdict(s.prune)}
            for s in settings
        ],
        "complete": evaluation.stopped is None,
        "stopped": evaluation.stopped,
        "groups": groups,
        "agreement": agreement,
        "not_pruned": {name: count for name, count in not_pruned.items() if count},
    }


def _groups(
    samples: Iterable[Sample],
) -> list[tuple[str, str, Callable[[Sample], bool]]]:
    """overall, each platform, each element type, each Pro group, each platform × type.

    In the order the set first names them.
    """
    samples = list(samples)
    seen = list(dict.fromkeys((s.platform, s.element) for s in samples))
    platforms = list(dict.fromkeys(p for p, _ in seen))
    elements = list(dict.fromkeys(e for _, e in seen))
    pro_groups = list(dict.fromkeys(s.group for s in samples if s.group is not None))
    groups: list[tuple[str, str, Callable[[Sample], bool]]] = [("overall", "overall", _all)]
    groups += [("platform", p, _field("platform", p)) for p in platforms]
    groups += [("type", e, _field("element", e)) for e in elements]
    groups += [("group", g, _field("group", g)) for g in pro_groups]
    if len(platforms) > 1 and len(elements) > 1:
        groups += [
            ("platform×type", f"{p} / {e}", _both(p, e))
            for p in platforms
            for e in elements
            if (p, e) in seen
        ]
    return groups


def _all(sample: Sample) -> bool:
    return True


def _field(name: str, value: str) -> Callable[[Sample], bool]:
    return lambda sample: getattr(sample, name) == value


def _both(platform: str, element: str) -> Callable[[Sample], bool]:
    return lambda sample: sample.platform == platform and sample.element == element


def _metrics(results: list[Result]) -> dict[str, Any]:
    seconds = [r.seconds for r in results]
    shares = [r.kept_share for r in results if r.kept_share is not None]
    hits = sum(r.hit for r in results)
    return {
        "n": len(results),
        "hits": hits,
        "accuracy": hits / len(results) if results else None,
        "unparsed": sum(r.outcome == "unparsed" for r in results),
        "kept_share": statistics.fmean(shares) if shares else None,
        "seconds_mean": statistics.fmean(seconds) if seconds else None,
        "seconds_median": statistics.median(seconds) if seconds else None,
    }


def _agreement(baseline: dict[str, Result], pruned: list[Result]) -> dict[str, Any]:
    """How often the pruned answer hits exactly when the unpruned one does."""
    pairs = [(baseline[r.sample.id], r) for r in pruned if r.sample.id in baseline]
    same = sum(off.hit == on.hit for off, on in pairs)
    return {
        "n": len(pairs),
        "same_outcome": same,
        "share": same / len(pairs) if pairs else None,
        "lost": sum(off.hit and not on.hit for off, on in pairs),  # hit unpruned, missed pruned
        "gained": sum(on.hit and not off.hit for off, on in pairs),
        "same_output": sum(off.output == on.output for off, on in pairs),
    }


def result_row(result: Result) -> dict[str, Any]:
    """One line of samples.jsonl: the sample, the setting and everything measured."""
    sample = result.sample
    return {
        "id": sample.id,
        "image": str(sample.image),
        "size": list(sample.size),
        "instruction": sample.instruction,
        "bbox": list(sample.bbox),
        "platform": sample.platform,
        "element": sample.element,
        "source": sample.source,
        "group": sample.group,
        "setting": result.setting,
        "outcome": result.outcome,
        "hit": result.hit,
        "point": None if result.point is None else list(result.point),
        "action": result.action,
        "kept_share": result.kept_share,
        "tokens_full": result.tokens_full,
        "tokens_kept": result.tokens_kept,
        "pruned": result.pruned,
        "seconds": result.seconds,
        "timings": result.timings,
        "output": result.output,
        "error": result.error,
    }


# ---- plumbing --------------------------------------------------------------------------------


def _prepare_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create the output folder {out}: {error}") from error


def _open_backend(args: argparse.Namespace) -> Backend:
    """The model as `main.py run` opens it: same options, same spec, same errors."""
    from agent.backends.spec import open_backend
    from agent.settings import ModelSpec

    return open_backend(ModelSpec(**model_settings(args)))


def _evaluate_with_progress(
    backend: Backend,
    parser: Parser,
    samples: Sequence[Sample],
    settings: Sequence[Setting],
    args: argparse.Namespace,
) -> Evaluation:
    """`evaluate` with a progress bar on stderr and samples.jsonl written as results come."""
    lines = None if args.out is None else (args.out / "samples.jsonl").open("w", encoding="utf-8")

    def done(result: Result) -> None:
        progress.advance(task)
        if lines is not None:
            lines.write(json.dumps(result_row(result), ensure_ascii=False) + "\n")
            lines.flush()

    total = len(samples) * len(settings)
    progress = Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    try:
        with progress:
            task = progress.add_task("asking", total=total)
            return evaluate(
                backend,
                parser,
                samples,
                settings,
                max_new_tokens=args.max_new_tokens,
                on_result=done,
            )
    finally:
        if lines is not None:
            lines.close()


def _spread(samples: list[Sample], limit: int | None) -> list[Sample]:
    """At most `limit` samples, evenly spaced so every platform and file keeps its share."""
    if limit is None or limit >= len(samples):
        return samples
    if limit < 1:
        raise UsageError(f"--limit must be at least 1, got {limit}")
    return [samples[i * len(samples) // limit] for i in range(limit)]


def _unique(settings: Iterable[Setting]) -> list[Setting]:
    """The pruned settings, each once, in the order given ("off" is always the baseline)."""
    return list({s.name: s for s in settings if s.prune is not None}.values())


def _report_skipped(skipped: list[Skipped]) -> None:
    if not skipped:
        return
    print(f"{len(skipped)} entries skipped:", file=sys.stderr)
    for entry in skipped[:10]:
        print(f"  {entry.where}: {entry.reason}", file=sys.stderr)
    if len(skipped) > 10:
        print(f"  ... and {len(skipped) - 10} more (all in summary.json)", file=sys.stderr)
