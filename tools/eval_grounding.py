"""`main.py eval-grounding`: click accuracy on a ScreenSpot-format set, pruning off vs on.

    python main.py eval-grounding DIR --model PATH --prune pred_2d:0 pred_2d:0.05 --out results

Each sample is asked unpruned ("off"), then per `--prune SPEC` (default `pred_2d:0`), with the
agent's prompt and `agent.coords` mapping; hit and "unparsed" rules: docs/grounding.md. A
`--scripted` list gives one answer per call: sample 1 off, then its settings, ...; a grounding
answers file (tools/grounding_answers.py) one answer per sample, replayed for every setting.
Tables and plot: `tools/grounding_output.py`. Exit status: 0 every sample asked, 1 stopped early
(Ctrl-C, model failure), 2 bad input; whatever was measured is still reported.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from PIL import Image
from rich.console import Console

from agent.actions import Action, Point, points_of
from agent.backends.base import Backend
from agent.commands.model_options import add_model_arguments, model_settings
from agent.coords import Frame, Monitor, action_to_screen, fraction
from agent.errors import ActionError, AgentError
from agent.parsers import Parser, get_parser, parser_for_model
from pixelprune import PruneConfig, format_prune_spec, parse_prune_spec
from pixelprune.cli import OFF, add_json_option, add_out_option, add_prune_list, write_json
from tools.grounding_answers import AnswersError, read_answers, replay
from tools.grounding_output import print_summary, write_outputs
from tools.grounding_results import DatasetInfo, Evaluation, Result, Setting, summarise
from tools.progress import progress_bar
from tools.screenspot import GroundingSetError, Sample, Skipped, load_grounding_set

__all__ = [
    "Evaluation",
    "Result",
    "Setting",
    "add_arguments",
    "evaluate",
    "judge",
    "parse_setting",
    "resume",
    "run",
    "summarise",
]

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=Path, metavar="DATA_DIR", help="the grounding set's folder")
    model = add_model_arguments(parser)
    model.add_argument(
        "--max-new-tokens", type=int, default=256, help="answer length cap (default 256)"
    )
    add_prune_list(
        parser, default="pred_2d:0", what="pruned settings to compare with off", off=True
    )
    parser.add_argument(
        "--prompt",
        choices=["agent", "grounding"],
        default="agent",
        help="ask with the agent's prompt (default), or with the model's own grounding prompt "
        "as its authors evaluate ScreenSpot (UI-TARS, ShowUI, OS-Atlas)",
    )
    parser.add_argument("--limit", type=int, help="ask only N samples, spread evenly over the set")
    add_out_option(parser, what="write samples.jsonl, summary.json, summary.md, accuracy.png")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="with --out: keep the answers its samples.jsonl already holds (an interrupted "
        "run) and ask only the rest",
    )
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
        if args.resume and args.out is None:
            raise UsageError("--resume needs --out DIR (the folder of the interrupted run)")
        if args.out is not None:
            _prepare_out(args.out)
    except (GroundingSetError, UsageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _report_skipped(dataset.skipped)
    if not samples:
        print(f"error: {args.data} has no usable sample", file=sys.stderr)
        return 2
    done = resume(args.out / "samples.jsonl", samples) if args.resume else {}
    try:
        backend = _open_backend(args, samples, settings, done)
    except (AgentError, AnswersError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        convention = args.parser or backend.convention
        parser = get_parser(convention or parser_for_model(backend.model_type, backend.name))
        evaluation = _evaluate_with_progress(backend, parser, samples, settings, args, done)
    except (AgentError, UsageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        backend.close()
    evaluation.skipped[:0] = dataset.skipped
    summary = dataclasses.replace(
        summarise(evaluation, settings),
        prompt=args.prompt,
        dataset=DatasetInfo(
            str(dataset.folder),
            dataset.layout,
            len(dataset.samples),
            len(samples),
            evaluation.skipped,
        ),
        model=backend.name,
        parser=parser.name,
        max_new_tokens=args.max_new_tokens,
    )
    console = Console(stderr=args.json == "-")  # standard output holds the JSON then
    print_summary(
        summary, console if console.is_terminal else Console(width=200, stderr=console.stderr)
    )
    if args.out is not None:
        write_outputs(args.out, summary)
        print(f"results: {args.out}")
    if args.json is not None:
        write_json(args.json, summary.to_dict())
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
    done: dict[tuple[str, str], Result] | None = None,
    grounding: bool = False,
) -> Evaluation:
    """Ask every sample under every setting, in that order; stops early on a model failure.

    Ctrl-C also stops it: what was measured up to then is returned, not lost. `done` holds
    results of an earlier, interrupted run by (sample id, setting): those are not asked again.
    `grounding`: ask with the parser's own grounding prompt (`UsageError` when it has none).
    """
    if grounding and parser.grounding_prompt("", Image.new("RGB", (1, 1))) is None:
        raise UsageError(
            f"{parser.name} models have no grounding prompt of their own; use --prompt agent"
        )
    evaluation = Evaluation()
    done = done or {}
    try:
        for sample in samples:
            earlier = [done.get((sample.id, s.name)) for s in settings]
            if all(earlier):
                evaluation.results.extend(r for r in earlier if r is not None)
                continue
            try:
                with Image.open(sample.image) as opened:
                    image = opened.convert("RGB")
            except OSError as error:
                evaluation.skipped.append(Skipped(sample.id, f"image unreadable: {error}"))
                continue
            model_input = backend.input_size(*image.size)
            frame = Frame(Monitor(0, 0, *image.size), image.size, model_input)
            prompt = (
                parser.grounding_prompt(sample.instruction, image)
                if grounding
                else parser.build_prompt(sample.instruction, [], image, model_input)
            )
            assert prompt is not None  # checked before the first sample
            for setting, known in zip(settings, earlier, strict=True):
                if known is not None:
                    evaluation.results.append(known)
                    continue
                start = time.perf_counter()
                try:
                    reply = backend.complete(
                        prompt, prune=setting.prune, max_new_tokens=max_new_tokens
                    )
                except AgentError as error:
                    evaluation.stopped = f"{sample.id} ({setting.name}): {error}"
                    return evaluation
                seconds = time.perf_counter() - start
                outcome, point, action, problem = judge(
                    reply.text, parser, frame, sample.bbox, grounding=grounding
                )
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
    text: str,
    parser: Parser,
    frame: Frame,
    bbox: tuple[float, float, float, float],
    *,
    grounding: bool = False,
) -> tuple[str, tuple[float, float] | None, str | None, str | None]:
    """(outcome, target point in image pixels, action type, error) of one answer.

    Scored as the official ScreenSpot (SeeClick) and ScreenSpot-Pro scripts score: the model's
    point, unrounded, as a fraction of the image, inside the box as a fraction of the image,
    edges included. The answer must still map to the screen as the agent would act on it.
    """
    try:
        action = parser.parse_grounding(text) if grounding else parser.parse(text)
        action_to_screen(action, frame)
        kind = type(action).__name__
        target = _target(action)
        if target is None:
            return "unparsed", None, kind, f"a {kind} action names no target point"
        fx, fy = fraction(target, frame)
    except ActionError as error:
        return "unparsed", None, None, str(error)
    width, height = frame.captured
    x1, y1, x2, y2 = bbox
    hit = x1 / width <= fx <= x2 / width and y1 / height <= fy <= y2 / height
    return ("hit" if hit else "miss"), (fx * width, fy * height), kind, None


def _target(action: Action) -> Point | None:
    """Where the action aims: its point, or where a drag starts (never where it ends)."""
    points = points_of(action)
    return points.get("point") or points.get("start")


# ---- summary ---------------------------------------------------------------------------------


def resume(path: Path, samples: Sequence[Sample]) -> dict[tuple[str, str], Result]:
    """The results an interrupted run wrote to samples.jsonl, for the samples asked now (a row
    for another sample is not kept), by (sample id, setting). The file is written back without
    the line a killed run left half written, ready to be appended to."""
    if not path.exists():
        return {}
    by_id = {sample.id: sample for sample in samples}
    done, kept = {}, []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line cut short when the run was killed
        kept.append(line + "\n")
        try:
            sample = by_id.get(row["id"])
            if sample is not None:
                done[sample.id, row["setting"]] = Result.from_row(row, sample)
        except (ValueError, KeyError, TypeError, IndexError):
            continue  # not a row this release reads: asked again
    path.write_text("".join(kept), encoding="utf-8")
    return done


# ---- plumbing --------------------------------------------------------------------------------


def _prepare_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create the output folder {out}: {error}") from error


def _open_backend(
    args: argparse.Namespace,
    samples: Sequence[Sample],
    settings: Sequence[Setting],
    done: dict[tuple[str, str], Result],
) -> Backend:
    """The model as `main.py run` opens it: same options, same spec, same errors; a
    `--scripted` grounding answers file replays each sample's answer for every setting."""
    from agent.backends.spec import open_backend, scripted_backend
    from agent.settings import ModelSpec

    spec = ModelSpec(**model_settings(args))
    answers = None if spec.scripted is None else read_answers(spec.scripted)
    if answers is None:
        return open_backend(spec)
    return scripted_backend(spec, replay(answers, samples, [s.name for s in settings], done))


def _evaluate_with_progress(
    backend: Backend,
    parser: Parser,
    samples: Sequence[Sample],
    settings: Sequence[Setting],
    args: argparse.Namespace,
    done: dict[tuple[str, str], Result],
) -> Evaluation:
    """`evaluate` with a progress bar on stderr and samples.jsonl written as results come
    (appended to, with `--resume`, after the `done` answers it already holds)."""
    mode = "a" if args.resume else "w"
    lines = None if args.out is None else (args.out / "samples.jsonl").open(mode, encoding="utf-8")

    def record(result: Result) -> None:
        progress.advance(task)
        if lines is not None:
            lines.write(json.dumps(result.to_row(), ensure_ascii=False) + "\n")
            lines.flush()

    total = len(samples) * len(settings) - len(done)
    progress = progress_bar()
    try:
        with progress:
            task = progress.add_task("asking", total=total)
            return evaluate(
                backend,
                parser,
                samples,
                settings,
                max_new_tokens=args.max_new_tokens,
                on_result=record,
                done=done,
                grounding=args.prompt == "grounding",
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
