"""Model benchmark: vision tower and prefill time, full vs PixelPrune-pruned, at real model sizes.

    python tools/bench_model.py [--models qwen2.5-vl-3b,qwen3-vl-2b] [--depth 2] [--quant none]
    python tools/bench_model.py --models qwen2.5-vl-7b,qwen3-vl-2b --quant 4bit   # on a GPU

Random weights in the published configs (tools/offline_models.REAL_SIZES), saved as a model
folder and loaded through the runtime's own loader (bitsandbytes 4-bit when asked), so the
timings are those of the real architecture; `--depth` cuts both towers for CPU runs. One real
1080p screenshot is fed full, pruned at τ=0 and pruned lossy, measured side by side in one run.
Ideal speedups: 1 / kept share of image tokens for the vision tower, full prompt length / pruned
prompt length for prefill. Target: measured ≥ 0.8 x ideal for both.
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from agent.backends.decode import prefill
from agent.backends.loading import LoadedModel, ModelConfig, load_model
from agent.backends.local import LocalVLM, PruneConfig
from agent.backends.prompt import IMAGE_PLACEHOLDER, build_inputs
from agent.backends.pruned_vision import encode_images
from pixelprune import get_family, images_from_pixel_values, select
from tools.offline_models import REAL_SIZES, build_tokenizer, real_config, save_random_model

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
TASK = "Task: open the settings and turn on dark mode."
PROMPT = (
    "<|im_start|>system\nYou are a GUI agent. You are given a task and a screenshot. Output "
    f"your next action.<|im_end|>\n<|im_start|>user\n{IMAGE_PLACEHOLDER}{TASK}<|im_end|>\n"
    "<|im_start|>assistant\n"
)


def timed(
    repeat: int, sync: bool, fn: Callable[..., object], *args: object, **kwargs: object
) -> float:
    """Median ms of fn(*args, **kwargs) over `repeat` runs after one warm-up."""
    fn(*args, **kwargs)
    times = []
    for _ in range(repeat):
        if sync:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn(*args, **kwargs)
        if sync:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def build_model(name: str, args: argparse.Namespace, workdir: Path):
    """Write random weights of `name` as a model folder, then load it like a real checkpoint."""
    tokenizer = build_tokenizer()
    config = real_config(name, tokenizer, depth=args.depth)
    device = "cuda" if args.device == "cuda" else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    folder = save_random_model(workdir / name, config, tokenizer, device=device, dtype=dtype)
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    quant = None if args.quant == "none" else args.quant
    return load_model(ModelConfig(str(folder), quant, device_map=device))


def bench_one(name: str, args: argparse.Namespace, workdir: Path, table: Table) -> None:
    loaded = build_model(name, args, workdir)
    try:
        measure(name, loaded, args, table)
        if args.e2e_tokens:
            end_to_end(name, loaded, args, Console(width=190))
    finally:
        del loaded
        gc.collect()
        if args.device == "cuda":
            torch.cuda.empty_cache()


def measure(name: str, loaded: LoadedModel, args: argparse.Namespace, table: Table) -> None:
    """Full, τ=0 and lossy inputs through one loaded model, a table row each."""
    model, family = loaded.model, loaded.family
    cell = get_family(family).cell
    sync = args.device == "cuda"
    with Image.open(args.image) as shot:
        processed = loaded.image_processor(images=[shot.convert("RGB")], return_tensors="pt")
    pixel_values = processed["pixel_values"].to(model.device)
    grid = processed["image_grid_thw"].to(model.device)
    (image,) = images_from_pixel_values(
        processed["pixel_values"], processed["image_grid_thw"], family
    )
    variants = [("full", None, None)]
    for tau, metric in ((0.0, "max"), (args.lossy_tau, args.lossy_metric)):
        label = f"pruned τ={tau:g}" + (f" {metric}" if tau else "")
        select_ms = timed(args.repeat, False, select, image, cell=cell, tau=tau, metric=metric)
        selection = select(image, cell=cell, tau=tau, metric=metric)
        variants.append((label, selection, select_ms))
    base = {}
    for label, selection, select_ms in variants:
        selections = None if selection is None else [selection]
        if sync:
            torch.cuda.reset_peak_memory_stats()
        with torch.no_grad():
            vision_ms = timed(
                args.repeat, sync, encode_images, model, pixel_values, grid, selections
            )
            features = encode_images(model, pixel_values, grid, selections)
            inputs = build_inputs(model, loaded.tokenizer, PROMPT, grid.cpu(), features.kept_cells)
            prefill_ms = timed(args.repeat, sync, prefill, model, inputs, features)
            if args.profile:
                profile(f"{name} {label}", encode_images, model, pixel_values, grid, selections)
                profile(f"{name} {label}", prefill, model, inputs, features)
        peak = f"{torch.cuda.max_memory_allocated() / 2**20:.0f}" if sync else "—"
        length = inputs.input_ids.shape[1]
        if selection is None:
            base = {"vision": vision_ms, "prefill": prefill_ms, "length": length}
            table.add_row(
                name,
                label,
                f"{inputs.image_tokens_kept}",
                "100%",
                "—",
                f"{vision_ms:.1f}",
                "",
                f"{prefill_ms:.1f}",
                "",
                peak,
            )
            continue
        share = selection.kept_share
        vision_x, prefill_x = base["vision"] / vision_ms, base["prefill"] / prefill_ms
        ideal_v, ideal_p = 1 / share, base["length"] / length
        table.add_row(
            name,
            label,
            f"{inputs.image_tokens_kept}/{inputs.image_tokens_full}",
            f"{share:.1%}",
            f"{select_ms:.2f}",
            f"{vision_ms:.1f}",
            f"{vision_x:.2f}× / {ideal_v:.2f}× ({vision_x / ideal_v:.0%})",
            f"{prefill_ms:.1f}",
            f"{prefill_x:.2f}× / {ideal_p:.2f}× ({prefill_x / ideal_p:.0%})",
            peak,
        )


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


def end_to_end(name: str, loaded: LoadedModel, args: argparse.Namespace, console: Console) -> None:
    """Whole LocalVLM.generate calls: time to first token and total, full vs pruned."""
    vlm = LocalVLM(loaded)
    with Image.open(args.image) as shot:
        screenshot = shot.convert("RGB")
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": TASK}]}]
    table = Table(
        title=f"{name}: LocalVLM.generate, {args.e2e_tokens} new tokens max", show_edge=False
    )
    for col in ("input", "prompt tokens", "first token ms", "total ms", "first-token speedup"):
        table.add_column(col, justify="left" if col == "input" else "right")
    base = None
    for label, prune in (
        ("full", None),
        ("pruned τ=0", PruneConfig()),
        (
            f"pruned τ={args.lossy_tau:g} {args.lossy_metric}",
            PruneConfig(tau=args.lossy_tau, metric=args.lossy_metric),
        ),
    ):
        runs = [
            vlm.generate([screenshot], messages, prune=prune, max_new_tokens=args.e2e_tokens)
            for _ in range(args.repeat + 1)
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


def new_table() -> Table:
    table = Table(show_edge=False)
    for col in (
        "model",
        "input",
        "image tokens",
        "kept",
        "select ms",
        "vision ms",
        "vision speedup",
        "prefill ms",
        "prefill speedup",
        "peak MiB",
    ):
        table.add_column(col, justify="left" if col in ("model", "input") else "right")
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        default="qwen2.5-vl-3b,qwen3-vl-2b",
        help=f"comma-separated, from {', '.join(REAL_SIZES)}",
    )
    parser.add_argument("--depth", type=int, default=None, help="layers per tower (CPU runs)")
    parser.add_argument("--quant", default="none", choices=["none", "4bit", "8bit"])
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"]
    )
    parser.add_argument("--image", type=Path, default=DATA / "window-chromium-1920x1080.png")
    parser.add_argument("--lossy-tau", type=float, default=0.05)
    parser.add_argument("--lossy-metric", default="mae", choices=["max", "mae", "rmse"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print the top operators")
    parser.add_argument(
        "--e2e-tokens",
        type=int,
        default=0,
        help="also time whole LocalVLM.generate calls with this many new tokens",
    )
    args = parser.parse_args()
    console = Console(width=190)
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    console.print(
        f"{device_name}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads; "
        f"quantization {args.quant}; depth {args.depth or 'full'}; image {args.image.name}; "
        f"median of {args.repeat} runs; speedup cells: measured / ideal (measured as % of ideal)"
    )
    for name in args.models.split(","):  # one table per model, printed as soon as it is done
        table = new_table()
        with tempfile.TemporaryDirectory(prefix="bench-model-") as workdir:
            bench_one(name.strip(), args, Path(workdir), table)
        console.print(table)
    console.print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
