"""`main.py bench`: selector, model, agent-step and loop-overhead benchmarks in one run, one
table of ratios.

    python main.py bench --device cuda --quant 4bit --depth full --models qwen2.5-vl-7b

Runs tools/bench_prune.py, tools/bench_model.py, tools/bench_step.py (the whole step a user
waits for, stock against fast, decode included) and tools/bench_loop.py, and prints every ratio
with both its parts, all measured in this run except the GPU model step of the loop overhead,
read from docs/bench/h200-e2e-4bit-step.json and labelled "recorded". `--json FILE` keeps every
raw number and the machine. Read ratios, not absolute times: the CPU is often shared.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from agent.errors import AgentError
from agent.settings import QUANTIZATIONS
from pixelprune import get_family
from pixelprune.cli import add_json_option, write_json
from tools import bench_prune

if TYPE_CHECKING:
    from agent.settings import DecodeStepName
from tools.bench_plan import (
    DECODE_VARIANTS,
    IDEAL_SHARE_TARGET,
    LOOP_SIZES,
    LOOP_TARGET,
    MODEL_NAMES,
    TINY,
    BenchConfig,
)

__all__ = ["QUICK_DURATION", "Ratio", "add_arguments", "expected_duration", "run"]

BENCHES = ("prune", "model", "step", "loop")
DEFAULT_MODELS = "qwen2.5-vl-3b"
DEFAULT_DEPTH = 2  # the default run stays near 10 minutes on a 2-core CPU
# `--quick` with the default models, depth and repeats on a CPU, as timed (docs/benchmarks.md says
# the same): 3 min 55 s wall on a shared 2-vCPU AMD EPYC VM at load 1.7 (other work beside it),
# of which the agent step (stock, pruned, fast; 16-token answers) is about half
QUICK_DURATION = "about 4 minutes on a 2-core CPU"
ANSWER_TOKENS = 16  # as many as the recorded GPU step (docs/bench/h200-e2e-4bit-step.json)
PRUNE_SCREENS = (  # one per resolution; tools/bench_prune.py runs them all
    "desktop-xterm-1920x1080.png",
    "chromium-python-policy-2560x1440.png",
    "chromium-users-and-groups-3840x2160.png",
)


@dataclass(frozen=True)
class Plan:
    """What each benchmark runs, from the options (`--quick` shrinks everything)."""

    skip: frozenset[str]
    prune_screens: tuple[str, ...]
    prune_repeat: int
    baseline_repeat: int
    models: tuple[str, ...]
    model: BenchConfig
    decode_variants: tuple[DecodeStepName, ...]  # the step's decode steps besides eager
    loop_sizes: tuple[tuple[int, int], ...]
    loop_steps: int


@dataclass
class Section:
    """One benchmark's raw numbers (for the JSON) and any table that explains its ratios."""

    data: dict[str, Any]
    tables: list[Table] = field(default_factory=list)


@dataclass(frozen=True)
class Ratio:
    """One row of the table: numerator / denominator, both measured in this run (or recorded,
    where the measure says so), with the JSON paths they were taken from."""

    bench: str
    measure: str
    numerator_ms: float
    denominator_ms: float
    numerator_from: str
    denominator_from: str
    unit: str  # "×" or "%"
    target: str
    verdict: str  # PASS | FAIL | "" (no target)

    @property
    def ratio(self) -> float:
        return self.numerator_ms / self.denominator_ms

    def shown(self) -> str:
        if self.unit == "%":
            return f"{self.ratio * 100:.3g} %"
        return f"{self.ratio:.3g}×"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small repeats, one screen size, depth 1, one model: for tests and a fast look",
    )
    parser.add_argument(
        "--skip",
        type=_skip_list,
        default=frozenset(),
        help=f"comma-separated: {','.join(BENCHES)}",
    )
    parser.add_argument(
        "--models",
        type=_model_list,
        help=f"comma-separated, from {', '.join(MODEL_NAMES)} "
        f"(default {DEFAULT_MODELS}; tiny-* are smoke-test sizes)",
    )
    parser.add_argument(
        "--depth",
        type=_depth,
        help=f"layers per tower, or 'full' (default {DEFAULT_DEPTH}; --quick 1)",
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="(default cpu)")
    parser.add_argument("--quant", default="none", choices=QUANTIZATIONS, help="(default none)")
    parser.add_argument(
        "--repeat",
        type=_positive,
        help="runs per timing of pred_2d and of the model, and measured loop steps "
        "(default 30, 2, 10; --quick 5, 1, 3); the slow torch-loop baseline runs 2 times (1)",
    )
    add_json_option(parser, what="every raw number")


def run(args: argparse.Namespace) -> int:
    """Run the chosen benchmarks; 0 when all ran, 1 when one failed, 2 for bad options."""
    if problem := _check(args):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    plan = _plan(args)
    out = Console(width=200, stderr=args.json == "-")  # standard output holds the JSON then
    progress = Console(stderr=True, width=200)
    if duration := expected_duration(args):
        progress.print(f"expected: {duration}", highlight=False)
    machine = describe_machine()
    out.print(machine["line"])
    report: dict[str, Any] = {"machine": machine, "plan": _jsonable(plan)}
    failures, tables = [], []
    benches = (("prune", _run_prune), ("model", _run_model), ("step", _run_step))
    for name, bench in (*benches, ("loop", _run_loop)):
        if name in plan.skip:
            report[name] = None
            continue
        progress.print(f"[bold]{name} benchmark[/bold]")
        try:
            section = bench(plan, progress.print)
        except (AgentError, RuntimeError, ValueError, OSError) as error:
            report[name] = {"error": str(error)}
            failures.append(f"{name} benchmark failed: {error}")
            continue
        report[name] = section.data
        tables += section.tables
    ratios = collect_ratios(report)
    report["ratios"] = [{**dataclasses.asdict(r), "ratio": r.ratio} for r in ratios]
    for table in tables:
        out.print(table)
    out.print(ratio_table(ratios))
    for line in notes(report):
        out.print(line, highlight=False)
    if args.json is not None:
        write_json(args.json, report)
        if args.json != "-":
            out.print(f"raw numbers: {args.json}")
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    return 1 if failures else 0


def expected_duration(args: argparse.Namespace) -> str | None:
    """What the run will take, said before it starts (nothing is printed for minutes): only for
    the plan that was timed, `--quick` on a CPU with the default models, depth and repeats;
    `--skip` only shortens it. Other plans get no invented estimate."""
    timed = args.models is None and args.depth is None and args.repeat is None
    if not (args.quick and args.device == "cpu" and timed):
        return None
    return QUICK_DURATION + (f" (less: --skip {','.join(sorted(args.skip))})" if args.skip else "")


def describe_machine() -> dict[str, Any]:
    """CPU, cores, load, library versions and GPU, as a dict and as one printed line."""
    import mss
    import numpy
    import PIL
    import torch
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": load,
        "gpu": gpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": numpy.__version__,
        "pillow": PIL.__version__,
        "mss": mss.__version__,
    }
    info["line"] = (
        f"machine: {cpu}, {info['cores']} cores ({info['torch_threads']} torch threads), "
        f"load {load:.1f} at start; python {info['python']}, torch {info['torch']}, "
        f"transformers {info['transformers']}, numpy {info['numpy']}; GPU: {gpu or 'none'}"
    )
    return info


def collect_ratios(report: dict[str, Any]) -> list[Ratio]:
    """Every ratio the report's raw numbers support, in table order."""
    ratios: list[Ratio] = []
    prune = report.get("prune") or {}
    for i, row in enumerate(prune.get("versus", [])):
        where = f"prune.versus[{i}]"
        what = f"{Path(row['image']).stem} τ={row['tau']:g} {row['metric']}"
        target = bench_prune.TARGETS["lossless" if row["tau"] == 0 else "lossy"]
        passed = row["loop"]["median"] / row["ours"]["median"] >= target and row["identical"]
        ratios.append(
            Ratio("prune", f"{what}: torch loop / pred_2d", row["loop"]["median"],
                  row["ours"]["median"], f"{where}.loop.median", f"{where}.ours.median", "×",
                  f"≥ {target:g}×, same mask", _verdict(passed))
        )  # fmt: skip
        if row["vectorised"] is not None:
            ratios.append(
                Ratio("prune", f"{what}: torch vectorised / pred_2d", row["vectorised"]["median"],
                      row["ours"]["median"], f"{where}.vectorised.median",
                      f"{where}.ours.median", "×", "", "")
            )  # fmt: skip
    model = report.get("model") or {}
    for i, result in enumerate(model.get("results", [])):
        full = result["variants"][0]
        for j, variant in enumerate(result["variants"][1:], start=1):
            for stage, ideal in (
                ("vision", 1 / variant["kept_share"]),
                ("prefill", full["prompt_length"] / variant["prompt_length"]),
            ):
                goal = IDEAL_SHARE_TARGET * ideal
                measured = full[f"{stage}_ms"] / variant[f"{stage}_ms"]
                # a tiny test config's milliseconds are mostly fixed costs: no speed target
                tiny = result["model"] in TINY
                aim = "— (tiny config)" if tiny else f"≥ {goal:.3g}× (0.8 × ideal {ideal:.3g}×)"
                ratios.append(
                    Ratio("model", f"{result['label']}: {stage}, full / {variant['input']}",
                          full[f"{stage}_ms"], variant[f"{stage}_ms"],
                          f"model.results[{i}].variants[0].{stage}_ms",
                          f"model.results[{i}].variants[{j}].{stage}_ms", "×",
                          aim, "" if tiny else _verdict(measured >= goal))
                )  # fmt: skip
    step = report.get("step") or {}
    for i, result in enumerate(step.get("results", [])):
        ratios += _step_ratios(f"step.results[{i}].variants", result)
    loop = report.get("loop") or {}
    recorded = loop.get("recorded")
    machine_gpu = report.get("machine", {}).get("gpu")
    for i, run_ in enumerate(loop.get("runs", [])):
        where = f"loop.runs[{i}]"
        references = [
            (f"{r['label']} whole fast step (this run)", r["variants"]["fast"]["step_ms"],
             f"step.results[{k}].variants.fast.step_ms")
            for k, r in enumerate(step.get("results", []))
        ]  # fmt: skip
        if recorded is not None:
            references.append(
                (f"{recorded['model']} step on {recorded['device']} (recorded)",
                 recorded["total_ms"], "loop.recorded.total_ms")
            )  # fmt: skip
        for label, model_ms, model_from in references:
            share = run_["overhead_ms"] / model_ms
            # the target is the loop against a real model's step on a GPU: this machine's loop
            # against a recorded GPU step, or a tiny model's step, is shown but not judged
            judged = machine_gpu is not None and "(recorded)" not in label and "tiny" not in label
            ratios.append(
                Ratio("loop", f"{run_['label']}: overhead / {label}", run_["overhead_ms"],
                      model_ms, f"{where}.overhead_ms", model_from, "%",
                      f"< {LOOP_TARGET:.0%}" + ("" if judged else " (on a GPU machine)"),
                      _verdict(share < LOOP_TARGET) if judged else "")
            )  # fmt: skip
        if references:
            label, model_ms, model_from = references[-1]
            stage = run_["largest_stage"]
            ratios.append(
                Ratio("loop", f"{run_['label']}: {stage} (largest stage) / {label}",
                      run_["stage_ms"][stage], model_ms, f"{where}.stage_ms.{stage}", model_from,
                      "%", "", "")
            )  # fmt: skip
    return ratios


def _step_ratios(where: str, result: dict[str, Any]) -> list[Ratio]:
    """The whole step stock / fast, each variant's decode against its floor, and fast's decode
    against each other decode step's."""
    variants, label = result["variants"], result["label"]
    ratios = [
        Ratio("step", f"{label}: whole step, stock / fast", variants["stock"]["step_ms"],
              variants["fast"]["step_ms"], f"{where}.stock.step_ms", f"{where}.fast.step_ms",
              "×", "", "")
    ]  # fmt: skip
    for name, variant in variants.items():
        ratios.append(
            Ratio("step", f"{label}: {name} decode ms/token / its floor",
                  variant["decode_ms_per_token"], variant["decode_floor_ms"],
                  f"{where}.{name}.decode_ms_per_token", f"{where}.{name}.decode_floor_ms", "×",
                  "", "")
        )  # fmt: skip
    for name in variants.keys() - {"stock", "pruned", "fast"}:
        ratios.append(
            Ratio("step", f"{label}: decode ms/token, fast / {name}",
                  variants["fast"]["decode_ms_per_token"], variants[name]["decode_ms_per_token"],
                  f"{where}.fast.decode_ms_per_token", f"{where}.{name}.decode_ms_per_token", "×",
                  "", "")
        )  # fmt: skip
    return ratios


def notes(report: dict[str, Any]) -> list[str]:
    """What each reference in the table is, under the table."""
    lines = []
    if (prune := report.get("prune")) and "versus" in prune:
        lines.append(
            "prune: the torch baselines and pred_2d on the same resized screenshot, "
            f"{prune['repeat']} runs of ours, {prune['baseline_repeat']} of the torch loop."
        )
    if model := report.get("model"):
        for result in model.get("results", []):
            tiny = result["model"] in TINY
            weights = "the tiny test config" if tiny else "the published config"
            lines.append(
                f"model: {result['label']}: random weights in {weights}, "
                f"{result['image']}; ideal speedup = 1 / kept share (vision), full / pruned "
                "prompt length (prefill)."
            )
    if (step := report.get("step")) and "results" in step:
        for result in step["results"]:
            lines.append(
                f"step: {result['label']}: {', '.join(step['config']['images'])}, an answer of "
                f"{step['config']['answer_tokens']} tokens; step = capture + preprocess + prune "
                "+ vision + prefill + decode + parse; decode floor = bytes one token reads "
                f"(weights + KV cache) ÷ {result['bandwidth_gb_s']:.1f} GB/s (mat-vec, "
                "this run)."
            )
    if (loop := report.get("loop")) and "runs" in loop:
        recorded = loop["recorded"]
        lines.append(
            f"loop: {recorded['model']} step on {recorded['device']} (recorded) = "
            f"LocalVLM.generate total, {recorded['input']}, {recorded['new_tokens_max']} new "
            f"tokens max, incl. its own preprocessing and pruning, from {recorded['source']} "
            f"({recorded['setup']}); not measured in this run."
        )
        lines.append(
            "loop: overhead = capture + prune (resize + select) + parse + act (dry-run) + "
            "overlay (its handler for the step's events) + record (run folder) + other, per "
            "step on a private Xvfb with xterms; median over the measured steps."
        )
    load = report["machine"]["load_average_1min"]
    lines.append(f"The CPU may be shared: load average {load:.1f} when the run started.")
    return lines


def ratio_table(ratios: list[Ratio]) -> Table:
    table = Table(
        title="ratios of parts measured side by side in this run (times: medians, ms)",
        show_edge=False,
    )
    for col in ("bench", "measure", "numerator ms", "denominator ms", "ratio", "target", "verdict"):
        table.add_column(col, justify="left" if col in ("bench", "measure", "target") else "right")
    for r in ratios:
        table.add_row(
            r.bench,
            r.measure,
            _ms(r.numerator_ms),
            _ms(r.denominator_ms),
            r.shown(),
            r.target or "—",
            r.verdict or "—",
        )
    return table


def _run_prune(plan: Plan, progress: Callable[[str], None]) -> Section:
    family = "qwen2.5"
    cell = get_family(family).cell
    screens = bench_prune.load_screens(family, plan.prune_screens)
    progress(f"prune: every selector on {len(screens)} screen(s), {plan.prune_repeat} runs each")
    methods = bench_prune.bench_methods(screens, cell, plan.prune_repeat)
    progress("prune: pred_2d against the torch baselines")
    versus = bench_prune.bench_versus(screens, cell, plan.prune_repeat, plan.baseline_repeat)
    data = {
        "family": family,
        "cell": cell,
        "repeat": plan.prune_repeat,
        "baseline_repeat": plan.baseline_repeat,
        "methods": [dataclasses.asdict(m) for m in methods],
        "versus": [dataclasses.asdict(v) for v in versus],
    }
    return Section(data)


def _run_model(plan: Plan, progress: Callable[[str], None]) -> Section:
    from tools import bench_model  # torch and transformers: only when the benchmark runs

    results = []
    for name in plan.models:
        depth = "full" if plan.model.depth is None else plan.model.depth
        progress(f"model: {name}, depth {depth}, {plan.model.device}, quant {plan.model.quant}")
        with bench_model.random_model(name, plan.model) as loaded:
            result = bench_model.measure(name, loaded, plan.model)
        results.append({**dataclasses.asdict(result), "label": _label(name, plan)})
    return Section({"config": _jsonable(plan.model), "results": results})


def _run_step(plan: Plan, progress: Callable[[str], None]) -> Section:
    """The whole agent step per model: stock, pruned, fast and fast's other decode steps."""
    from tools import bench_model, bench_step  # torch and transformers: only when it runs

    step = bench_step.StepConfig(
        images=bench_step.step_images(None),
        answer_tokens=ANSWER_TOKENS,
        repeat=plan.model.repeat,
        device=plan.model.device,
        decode_variants=plan.decode_variants,
    )
    results, tables = [], []
    for name in plan.models:
        with bench_model.random_model_folder(name, plan.model) as model_config:
            result = bench_step.measure_step(
                name,
                Path(model_config.path),
                model_config,
                step,
                depth=None if name in TINY else plan.model.depth,
                progress=lambda text: progress(f"step: {text}"),
            )
        tables.append(bench_step.step_table(result))
        results.append(
            {
                **dataclasses.asdict(result),
                "label": _label(name, plan),
                "variants": {v.name: dataclasses.asdict(v) for v in result.variants},
            }
        )
    config = {"answer_tokens": step.answer_tokens, "images": [p.name for p in step.images]}
    return Section({"config": config, "results": results}, tables)


def _label(name: str, plan: Plan) -> str:
    depth = "full" if plan.model.depth is None else plan.model.depth
    depth_label = "" if name in TINY else f" depth {depth}"
    return f"{name}{depth_label} {plan.model.device} {plan.model.quant}"


def _run_loop(plan: Plan, progress: Callable[[str], None]) -> Section:
    from tools import bench_loop  # the agent loop and Xvfb: only when the benchmark runs

    recorded = bench_loop.read_recorded_step()
    runs = bench_loop.bench_loop(plan.loop_sizes, bench_loop.OVERLAYS, plan.loop_steps, progress)
    data = {
        "recorded": dataclasses.asdict(recorded),
        "runs": [
            {
                **dataclasses.asdict(r),
                "label": r.label,
                "stage_ms": r.stage_ms,
                "overhead_ms": r.overhead_ms,
                "largest_stage": r.largest_stage,
            }
            for r in runs
        ],
    }
    return Section(data, [bench_loop.stages_table(runs)])


def _plan(args: argparse.Namespace) -> Plan:
    quick = args.quick
    models = args.models or DEFAULT_MODELS.split(",")
    depth = args.depth if args.depth is not None else (1 if quick else DEFAULT_DEPTH)
    repeat = args.repeat
    return Plan(
        skip=args.skip,
        prune_screens=PRUNE_SCREENS[:1] if quick else PRUNE_SCREENS,
        prune_repeat=repeat or (5 if quick else 30),
        baseline_repeat=1 if quick else 2,
        models=tuple(models[:1] if quick and not args.models else models),
        model=BenchConfig(
            depth=None if depth == "full" else depth,
            quant=args.quant,
            device=args.device,
            repeat=repeat or (1 if quick else 2),
        ),
        decode_variants=() if quick else DECODE_VARIANTS,
        loop_sizes=LOOP_SIZES[:1] if quick else LOOP_SIZES,
        loop_steps=repeat or (3 if quick else 10),
    )


def _check(args: argparse.Namespace) -> str | None:
    """Why these options cannot run, checked before any benchmark (a long run must not be
    lost to an unwritable --json at the end)."""
    if args.skip == frozenset(BENCHES):
        return "--skip leaves nothing to run"
    if "model" not in args.skip and args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            return "--device cuda: no CUDA device is available (torch sees none)"
    if args.quant != "none" and args.device != "cuda" and "model" not in args.skip:
        return f"--quant {args.quant} needs --device cuda (bitsandbytes quantizes on the GPU)"
    if args.json not in (None, "-"):
        folder = Path(args.json).resolve().parent
        if not folder.is_dir():
            return f"--json {args.json}: folder {folder} does not exist"
        if Path(args.json).is_dir():
            return f"--json {args.json} is a folder; give a file name"
        if not os.access(folder, os.W_OK):
            return f"--json {args.json}: folder {folder} is not writable"
    return None


def _skip_list(text: str) -> frozenset[str]:
    names = {name.strip() for name in text.split(",") if name.strip()}
    if unknown := sorted(names - set(BENCHES)):
        raise argparse.ArgumentTypeError(
            f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHES)}"
        )
    return frozenset(names)


def _model_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if unknown := [name for name in names if name not in MODEL_NAMES]:
        raise argparse.ArgumentTypeError(
            f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODEL_NAMES)}"
        )
    if not names:
        raise argparse.ArgumentTypeError("no model given")
    return names


def _depth(text: str) -> int | str:
    if text == "full":
        return "full"
    return _positive(text)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _ms(value: float) -> str:
    """Four significant digits, without an exponent for long times."""
    return f"{value:.0f}" if value >= 1000 else f"{value:.4g}"


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def _jsonable(value: Any) -> Any:
    """Dataclasses, paths, tuples and sets as plain JSON values."""
    if dataclasses.is_dataclass(value):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple, frozenset, set)):
        items = sorted(value) if isinstance(value, (frozenset, set)) else value
        return [_jsonable(v) for v in items]
    if isinstance(value, Path):
        return str(value)
    return value
