"""Model benchmark: vision tower and prefill time, full vs PixelPrune-pruned, at real model sizes.

    python -m tools.bench_model [--models qwen2.5-vl-3b,qwen3-vl-2b] [--depth 2] [--quant none]
    python -m tools.bench_model --models qwen2.5-vl-7b,qwen3-vl-2b --quant 4bit   # on a GPU

Random weights in the published configs (tools/offline_models.REAL_SIZES), saved as a model
folder and loaded through the runtime's own loader (bitsandbytes 4-bit when asked), so the
timings are those of the real architecture; `--depth` cuts both towers for CPU runs. One real
1080p screenshot is fed full, pruned at τ=0 and pruned lossy, measured side by side in one run.
Ideal speedups: 1 / kept share of image tokens for the vision tower, full prompt length / pruned
prompt length for prefill. Target: measured ≥ 0.8 x ideal for both. `--decode-tokens N` also
times greedy decoding of N new tokens on the τ=0 input (the agent's default). The `tiny-*`
models (tools/offline_models.tiny_config) are for smoke tests only.

`random_model` and `measure` return the measurements (tools/bench_all.py composes them).
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
from PIL import Image
from rich.console import Console
from rich.table import Table

from agent.backends.decode import generate, prefill
from agent.backends.loading import LoadedModel, ModelConfig, load_model
from agent.backends.local import LocalVLM
from agent.backends.prompt import IMAGE_PLACEHOLDER, build_inputs
from agent.backends.pruned_vision import encode_images
from agent.settings import DECODE_STEPS, QUANTIZATIONS, DecodeStepName
from pixelprune import PruneConfig, get_family, images_from_pixel_values, select
from tools import bench_step
from tools.bench_plan import MODEL_NAMES, TINY, BenchConfig
from tools.offline_models import (
    build_tokenizer,
    real_config,
    save_random_model,
    tiny_config,
)
from tools.timing import timed_runs

__all__ = [
    "MODEL_NAMES",
    "BenchConfig",
    "ModelResult",
    "VariantResult",
    "measure",
    "model_table",
    "random_model",
]

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
TASK = "Task: open the settings and turn on dark mode."
PROMPT = (
    "<|im_start|>system\nYou are a GUI agent. You are given a task and a screenshot. Output "
    f"your next action.<|im_end|>\n<|im_start|>user\n{IMAGE_PLACEHOLDER}{TASK}<|im_end|>\n"
    "<|im_start|>assistant\n"
)


@dataclass(frozen=True)
class VariantResult:
    """One input (full or pruned) through one model; times are medians in ms."""

    input: str  # full | pruned τ=0 | pruned τ=0.05 mae
    tau: float | None  # None: not pruned
    metric: str | None
    image_tokens_full: int
    image_tokens_kept: int
    kept_share: float
    prompt_length: int  # tokens the language model reads
    select_ms: float | None  # PixelPrune's selection on the processor's pixels
    vision_ms: float
    prefill_ms: float
    decode_ms: float | None  # the new tokens after the first (the first comes with prefill)
    decode_tokens: int  # new tokens in all, 0 when decode was not timed
    peak_mib: float | None  # CUDA only


@dataclass(frozen=True)
class ModelResult:
    """Every input through one model, measured side by side in one run."""

    model: str
    depth: int | None  # None: the published depth
    quant: str
    device: str
    image: str
    repeat: int
    variants: tuple[VariantResult, ...]  # full first

    @property
    def full(self) -> VariantResult:
        return self.variants[0]

    def variant(self, tau: float) -> VariantResult:
        """The pruned input at `tau`."""
        return next(v for v in self.variants if v.tau == tau)

    def vision_speedup(self, variant: VariantResult) -> tuple[float, float]:
        """(measured, ideal) vision-tower speedup of `variant` over the full input."""
        return self.full.vision_ms / variant.vision_ms, 1 / variant.kept_share

    def prefill_speedup(self, variant: VariantResult) -> tuple[float, float]:
        """(measured, ideal) prefill speedup of `variant` over the full input."""
        ideal = self.full.prompt_length / variant.prompt_length
        return self.full.prefill_ms / variant.prefill_ms, ideal


def timed(
    repeat: int, sync: bool, fn: Callable[..., object], *args: object, **kwargs: object
) -> float:
    """Median ms of fn(*args, **kwargs) over `repeat` runs after one warm-up."""
    return statistics.median(timed_runs(repeat, sync, fn, *args, **kwargs)[0])


@contextmanager
def random_model(name: str, config: BenchConfig) -> Iterator[LoadedModel]:
    """Random weights of `name` written as a model folder and loaded like a real checkpoint;
    freed (and the folder removed) when the block ends."""
    with random_model_folder(name, config) as model_config:
        loaded = load_model(model_config)
        try:
            yield loaded
        finally:
            del loaded
            _free(config.device)


@contextmanager
def random_model_folder(name: str, config: BenchConfig) -> Iterator[ModelConfig]:
    """Random weights of `name` written as a model folder (removed when the block ends), and
    the runtime's settings to load it with `config`'s device and quantization."""
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
    tokenizer = build_tokenizer()
    if name in TINY:
        model_config = tiny_config(TINY[name], tokenizer)
    else:
        model_config = real_config(name, tokenizer, depth=config.depth)
    dtype = torch.bfloat16 if config.device == "cuda" else torch.float32
    with tempfile.TemporaryDirectory(prefix="bench-model-") as workdir:
        folder = save_random_model(
            Path(workdir) / name, model_config, tokenizer, device=config.device, dtype=dtype
        )
        _free(config.device)
        yield ModelConfig(str(folder), config.quant, device_map=config.device)


def measure(name: str, loaded: LoadedModel, config: BenchConfig) -> ModelResult:
    """Full, τ=0 and lossy inputs through one loaded model."""
    model, family = loaded.model, loaded.family
    cell = get_family(family).cell
    sync = config.device == "cuda"
    with Image.open(config.image) as shot:
        processed = loaded.image_processor(images=[shot.convert("RGB")], return_tensors="pt")
    pixel_values = processed["pixel_values"].to(model.device)
    grid = processed["image_grid_thw"].to(model.device)
    (image,) = images_from_pixel_values(
        processed["pixel_values"], processed["image_grid_thw"], family
    )
    inputs_to_run: list[tuple[str, float | None, str | None]] = [("full", None, None)]
    for pruned_tau, pruned_metric in ((0.0, "max"), (config.lossy_tau, config.lossy_metric)):
        label = f"pruned τ={pruned_tau:g}" + (f" {pruned_metric}" if pruned_tau else "")
        inputs_to_run.append((label, pruned_tau, pruned_metric))
    variants = []
    for label, tau, metric in inputs_to_run:
        selection, select_ms = None, None
        if tau is not None and metric is not None:
            selection = select(image, cell=cell, tau=tau, metric=metric)
            select_ms = timed(
                config.repeat, False, select, image, cell=cell, tau=tau, metric=metric
            )
        selections = None if selection is None else [selection]
        if sync:
            torch.cuda.reset_peak_memory_stats()
        with torch.no_grad():
            vision_ms = timed(
                config.repeat, sync, encode_images, model, pixel_values, grid, selections
            )
            features = encode_images(model, pixel_values, grid, selections)
            inputs = build_inputs(model, loaded.tokenizer, PROMPT, grid.cpu(), features.kept_cells)
            prefill_ms = timed(config.repeat, sync, prefill, model, inputs, features)
            decode_ms, decode_tokens = None, 0
            if config.decode_tokens and tau == 0:
                decode_tokens = config.decode_tokens
                decode_ms = _decode_ms(model, inputs, features, decode_tokens, config.repeat)
            if config.profile:
                profile(f"{name} {label}", encode_images, model, pixel_values, grid, selections)
                profile(f"{name} {label}", prefill, model, inputs, features)
        variants.append(
            VariantResult(
                input=label,
                tau=tau,
                metric=metric,
                image_tokens_full=inputs.image_tokens_full,
                image_tokens_kept=inputs.image_tokens_kept,
                kept_share=1.0 if selection is None else selection.kept_share,
                prompt_length=int(inputs.input_ids.shape[1]),
                select_ms=select_ms,
                vision_ms=vision_ms,
                prefill_ms=prefill_ms,
                decode_ms=decode_ms,
                decode_tokens=decode_tokens,
                peak_mib=torch.cuda.max_memory_allocated() / 2**20 if sync else None,
            )
        )
    depth = None if name in TINY else config.depth
    return ModelResult(
        name, depth, config.quant, config.device, config.image.name, config.repeat, tuple(variants)
    )


def _decode_ms(model, inputs, features, tokens: int, repeat: int) -> float:
    """Median ms of the greedy steps after the first token (no stop id: always `tokens`)."""
    runs = [
        generate(model, inputs, features, max_new_tokens=tokens, stop_ids=()).decode_seconds
        for _ in range(repeat + 1)
    ]
    return statistics.median(runs[1:]) * 1e3


def profile(title: str, fn: Callable[..., object], *args: object) -> None:
    """Print the ten most expensive operators of one call (where the time goes)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    activities = [ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(ProfilerActivity.CUDA)
    with torch_profile(activities=activities) as prof:
        fn(*args)
    sort = "cuda_time_total" if torch.cuda.is_available() else "cpu_time_total"
    print(f"== {title}: {getattr(fn, '__name__', fn)}")
    print(prof.key_averages().table(sort_by=sort, row_limit=10, max_name_column_width=60))


def end_to_end(
    name: str, loaded: LoadedModel, config: BenchConfig, tokens: int, console: Console
) -> None:
    """Whole LocalVLM.generate calls: time to first token and total, full vs pruned."""
    vlm = LocalVLM(loaded)
    with Image.open(config.image) as shot:
        screenshot = shot.convert("RGB")
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": TASK}]}]
    table = Table(title=f"{name}: LocalVLM.generate, {tokens} new tokens max", show_edge=False)
    for col in ("input", "prompt tokens", "first token ms", "total ms", "first-token speedup"):
        table.add_column(col, justify="left" if col == "input" else "right")
    base = None
    for label, prune in (
        ("full", None),
        ("pruned τ=0", PruneConfig()),
        (
            f"pruned τ={config.lossy_tau:g} {config.lossy_metric}",
            PruneConfig(tau=config.lossy_tau, metric=config.lossy_metric),
        ),
    ):
        runs = [
            vlm.generate([screenshot], messages, prune=prune, max_new_tokens=tokens)
            for _ in range(config.repeat + 1)
        ][1:]
        first = statistics.median((r.timings.total - r.timings.decode) * 1e3 for r in runs)
        total = statistics.median(r.timings.total * 1e3 for r in runs)
        base = base or first
        table.add_row(
            label,
            str(runs[-1].prompt_tokens),
            f"{first:.1f}",
            f"{total:.1f}",
            f"{base / first:.2f}×",
        )
    console.print(table)


def model_table(result: ModelResult) -> Table:
    """One row per input; speedup cells: measured / ideal (measured as % of ideal)."""
    decode = any(v.decode_ms is not None for v in result.variants)
    table = Table(show_edge=False)
    columns = ["model", "input", "image tokens", "kept", "select ms", "vision ms"]
    columns += ["vision speedup", "prefill ms", "prefill speedup"]
    columns += ["decode ms"] if decode else []
    for col in (*columns, "peak MiB"):
        table.add_column(col, justify="left" if col in ("model", "input") else "right")
    for v in result.variants:
        peak = "—" if v.peak_mib is None else f"{v.peak_mib:.0f}"
        tokens, kept, select_ms, vision_x, prefill_x = f"{v.image_tokens_kept}", "100%", "—", "", ""
        if v.tau is not None:
            tokens = f"{v.image_tokens_kept}/{v.image_tokens_full}"
            kept, select_ms = f"{v.kept_share:.1%}", f"{v.select_ms:.2f}"
            vision_x = _speedup(*result.vision_speedup(v))
            prefill_x = _speedup(*result.prefill_speedup(v))
        cells = [result.model, v.input, tokens, kept, select_ms, f"{v.vision_ms:.1f}", vision_x]
        cells += [f"{v.prefill_ms:.1f}", prefill_x]
        if decode:
            timed_decode = f"{v.decode_ms:.1f} ({v.decode_tokens} tokens)" if v.decode_ms else "—"
            cells.append(timed_decode)
        table.add_row(*cells, peak)
    return table


def _speedup(measured: float, ideal: float) -> str:
    return f"{measured:.2f}× / {ideal:.2f}× ({measured / ideal:.0%})"


def _free(device: str) -> None:
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        default="qwen2.5-vl-3b,qwen3-vl-2b",
        help=f"comma-separated, from {', '.join(MODEL_NAMES)}",
    )
    parser.add_argument("--depth", type=int, default=None, help="layers per tower (CPU runs)")
    parser.add_argument("--quant", default="none", choices=QUANTIZATIONS)
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"]
    )
    parser.add_argument(
        "--image",
        type=Path,
        help="screenshot (default window-chromium-1920x1080.png); with --step a folder: its "
        "first three images (default: the 1920x1080 screenshots in tests/data)",
    )
    parser.add_argument("--lossy-tau", type=float, default=0.05)
    parser.add_argument("--lossy-metric", default="mae", choices=["max", "mae", "rmse"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print the top operators")
    parser.add_argument(
        "--decode-tokens", type=int, default=0, help="also time this many new tokens (τ=0 input)"
    )
    parser.add_argument(
        "--e2e-tokens",
        type=int,
        default=0,
        help="also time whole LocalVLM.generate calls with this many new tokens",
    )
    parser.add_argument(
        "--step",
        action="store_true",
        help="one agent step instead: stock vs pruned vs fast, and fast with other decode "
        "steps (tools/bench_step.py)",
    )
    parser.add_argument(
        "--answer-tokens", type=int, default=80, help="with --step: new tokens of the answer"
    )
    parser.add_argument(
        "--decode-steps",
        type=_decode_steps,
        default=bench_step.DECODE_VARIANTS,
        help="with --step: comma-separated decode steps to measure fast with besides eager "
        f"(default {','.join(bench_step.DECODE_VARIANTS)}; 'none' for none)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="with --step: write results")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.models.split(",")]
    if unknown := [name for name in names if name not in MODEL_NAMES]:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODEL_NAMES)}")
    if args.json is not None and not args.step:
        parser.error("--json goes with --step")
    if args.step:
        try:
            images = bench_step.step_images(args.image)
        except ValueError as error:
            parser.error(str(error))
        return run_step(names, args, images)
    config = BenchConfig(
        depth=args.depth,
        quant=args.quant,
        device=args.device,
        image=args.image or BenchConfig.image,
        lossy_tau=args.lossy_tau,
        lossy_metric=args.lossy_metric,
        repeat=args.repeat,
        decode_tokens=args.decode_tokens,
        profile=args.profile,
    )
    console = Console(width=190)
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    console.print(
        f"{device_name}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads; "
        f"quantization {args.quant}; depth {args.depth or 'full'}; image {config.image.name}; "
        f"median of {args.repeat} runs; speedup cells: measured / ideal (measured as % of ideal)"
    )
    for name in names:  # one table per model, printed as soon as it is done
        with random_model(name, config) as loaded:
            console.print(model_table(measure(name, loaded, config)))
            if args.e2e_tokens:
                end_to_end(name, loaded, config, args.e2e_tokens, console)
    console.print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB")
    return 0


def run_step(
    names: Sequence[str], args: argparse.Namespace, images: tuple[Path, Path, Path]
) -> int:
    """`--step`: the agent-step benchmark for each model, one table each, optional JSON."""
    config = BenchConfig(depth=args.depth, quant=args.quant, device=args.device)
    step = bench_step.StepConfig(
        images=images,
        answer_tokens=args.answer_tokens,
        repeat=args.repeat,
        device=args.device,
        decode_variants=args.decode_steps,
    )
    console = Console(width=190)
    console.print(_machine(args.device) + f"; images {', '.join(p.name for p in images)}")
    results = []
    for name in names:
        with random_model_folder(name, config) as model_config:
            result = bench_step.measure_step(
                name,
                Path(model_config.path),
                model_config,
                step,
                depth=None if name in TINY else args.depth,
                progress=lambda text: console.print(f"[dim]{text}[/dim]"),
            )
        console.print(bench_step.step_table(result))
        for line in bench_step.ratio_lines(result):
            console.print("  " + line)
        results.append(result)
    if args.json is not None:
        bench_step.write_json(args.json, results, _machine(args.device))
        console.print(f"wrote {args.json}")
    return 0


def _decode_steps(text: str) -> tuple[DecodeStepName, ...]:
    """`static,compiled`, or `none`: the decode steps --step measures besides eager."""
    if text.strip() == "none":
        return ()
    names = [name.strip() for name in text.split(",") if name.strip()]
    known = [name for name in DECODE_STEPS if name != "eager"]
    if unknown := [name for name in names if name not in known]:
        raise argparse.ArgumentTypeError(
            f"unknown decode step(s) {', '.join(unknown)}; choose from {', '.join(known)} or none"
        )
    return tuple(cast(DecodeStepName, name) for name in names)


def _machine(device: str) -> str:
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    return f"{name}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads"


if __name__ == "__main__":
    raise SystemExit(main())
