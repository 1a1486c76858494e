"""Agent-step benchmark: one realistic step, stock transformers against what this runtime does.

    python -m tools.bench_model --step --models qwen2.5-vl-7b --quant 4bit --json step.json

Three screenshots (history 2), a UI-TARS-style prompt and `--answer-tokens` (80) new tokens, on
random weights in the published config; variants stock, pruned and fast as in docs/benchmarks.md
("Faster agent steps"). Medians of `--repeat` runs after a warm-up; every "fast" run starts
from a cache that holds exactly the previous step's two screenshots.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, cast

import torch
from PIL import Image
from rich.table import Table

from agent.backends.loading import LoadedModel, ModelConfig, load_model
from agent.backends.local import LocalVLM
from agent.backends.prompt import build_inputs
from pixelprune import PruneConfig, cli
from tools.timing import timed_runs

__all__ = [
    "STEP_TARGETS",
    "StepConfig",
    "StepResult",
    "StepVariant",
    "measure_step",
    "step_images",
    "step_table",
]

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
TASK = "Open the settings and turn on dark mode."
# (target name, CPU bound, GPU bound): see StepResult.ratios
STEP_TARGETS = {
    "fast_vision_share": ("≤", 0.2, None),  # vision (fast) / vision (stock)
    "fast_ttft_speedup": ("≥", 2.0, 3.0),  # ttft (stock) / ttft (fast)
    "pruned_vision_of_ideal": ("≥", 0.8, 0.8),  # vision speedup (pruned) / its ideal
    "pruned_prefill_of_ideal": ("≥", None, 0.6),  # prefill speedup (pruned) / its ideal
}


@dataclass(frozen=True)
class StepConfig:
    """What to measure: the screenshots, the answer length, how often."""

    images: tuple[Path, Path, Path]  # oldest first; the last is the new screenshot
    answer_tokens: int = 80
    repeat: int = 3
    device: str = "cpu"


@dataclass(frozen=True)
class StepVariant:
    """One variant's medians (ms) over the repeats; the JSON keys the issue fixes."""

    name: str  # stock | pruned | fast
    preprocess_ms: float
    prune_ms: float
    vision_ms: float
    prefill_ms: float
    ttft_ms: float  # prune + vision + prefill
    decode_ms_per_token: float
    answer_tokens: int  # new tokens the decode figure was measured over
    vision_tokens: int  # cells that entered the vision tower this step
    image_tokens: int  # image tokens the language model read
    prompt_tokens: int
    peak_mib: float | None  # CUDA only


@dataclass(frozen=True)
class StepResult:
    """The three variants of one model, measured side by side."""

    model: str
    depth: int | None
    quant: str
    device: str
    images: tuple[str, ...]
    repeat: int
    stock: StepVariant
    pruned: StepVariant
    fast: StepVariant

    @property
    def variants(self) -> tuple[StepVariant, StepVariant, StepVariant]:
        return self.stock, self.pruned, self.fast

    def ratios(self) -> dict[str, float]:
        """The figures the targets (STEP_TARGETS) are about, each from two parts of this run."""
        stock, pruned, fast = self.variants
        vision_ideal = stock.vision_tokens / pruned.vision_tokens
        prefill_ideal = stock.prompt_tokens / pruned.prompt_tokens
        return {
            "fast_vision_share": fast.vision_ms / stock.vision_ms,
            "fast_ttft_speedup": stock.ttft_ms / fast.ttft_ms,
            "pruned_vision_speedup": stock.vision_ms / pruned.vision_ms,
            "pruned_vision_ideal": vision_ideal,
            "pruned_vision_of_ideal": stock.vision_ms / pruned.vision_ms / vision_ideal,
            "pruned_prefill_speedup": stock.prefill_ms / pruned.prefill_ms,
            "pruned_prefill_ideal": prefill_ideal,
            "pruned_prefill_of_ideal": stock.prefill_ms / pruned.prefill_ms / prefill_ideal,
            "fast_vision_speedup_over_pruned": pruned.vision_ms / fast.vision_ms,
        }

    def verdicts(self) -> dict[str, str]:
        """PASS/FAIL per target that applies on this device."""
        ratios, out = self.ratios(), {}
        for name, (sign, cpu, gpu) in STEP_TARGETS.items():
            bound = gpu if self.device == "cuda" else cpu
            if bound is not None:
                ok = ratios[name] <= bound if sign == "≤" else ratios[name] >= bound
                out[name] = f"{'PASS' if ok else 'FAIL'} ({ratios[name]:.2f} {sign} {bound:g})"
        return out


def step_images(path: Path | None) -> tuple[Path, Path, Path]:
    """Three screenshots: `path` itself three times if a file, the first three images (by
    name) if a folder, else the first three 1920x1080 screenshots in tests/data."""
    if path is not None and path.is_file():
        return (path, path, path)
    folder = path if path is not None else DATA
    if not folder.is_dir():
        raise ValueError(f"{folder} is neither an image nor a folder")
    pattern = "*" if path is not None else "*-1920x1080.png"
    found = sorted(p for p in folder.glob(pattern) if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(found) < 3:
        raise ValueError(f"{folder} has {len(found)} images; a step needs three")
    return found[0], found[1], found[2]


def measure_step(
    name: str,
    folder: Path,
    model_config: ModelConfig,
    config: StepConfig,
    *,
    depth: int | None,
    progress: Callable[[str], None] = print,
) -> StepResult:
    """Load the model folder twice (stock, then fast) and measure the three variants."""
    screenshots = [_open(path) for path in config.images]
    quantized = model_config.quantization is not None
    stock_config = replace(model_config, one_call_attention=False, quantize_vision=quantized)
    fast_config = replace(model_config, one_call_attention=True, quantize_vision=False)
    progress(f"{name}: stock model (transformers generate, unpruned)")
    loaded = load_model(stock_config)
    try:
        stock = _stock_variant(loaded, screenshots, config)
        progress(f"{name}: stock model through LocalVLM, pruned")
        pruned = _runtime_variant(
            "pruned", LocalVLM(loaded, vision_cache=False), screenshots, config
        )
    finally:
        del loaded
        _free(config.device)
    progress(f"{name}: fast model (cache, one-call attention, unquantized vision), pruned")
    loaded = load_model(fast_config)
    try:
        fast = _runtime_variant("fast", LocalVLM(loaded), screenshots, config)
    finally:
        del loaded
        _free(config.device)
    return StepResult(
        model=name,
        depth=depth,
        quant=model_config.quantization or "none",
        device=config.device,
        images=tuple(path.name for path in config.images),
        repeat=config.repeat,
        stock=stock,
        pruned=pruned,
        fast=fast,
    )


def step_table(result: StepResult) -> Table:
    """One row per variant, then the ratios with their verdicts."""
    table = Table(
        title=f"{result.model} depth {result.depth or 'full'}, {result.quant}, {result.device}: "
        f"one agent step (3 screenshots, history 2), median of {result.repeat}",
        show_edge=False,
    )
    columns: tuple[str, ...] = ("variant", "vision tokens", "image tokens", "preprocess ms")
    columns += ("prune ms", "vision ms", "prefill ms", "first token ms", "decode ms/token")
    columns += ("peak MiB",)
    for col in columns:
        table.add_column(col, justify="left" if col == "variant" else "right")
    for v in result.variants:
        table.add_row(
            v.name,
            str(v.vision_tokens),
            str(v.image_tokens),
            f"{v.preprocess_ms:.1f}",
            f"{v.prune_ms:.1f}",
            f"{v.vision_ms:.1f}",
            f"{v.prefill_ms:.1f}",
            f"{v.ttft_ms:.1f}",
            f"{v.decode_ms_per_token:.2f} ({v.answer_tokens})",
            "—" if v.peak_mib is None else f"{v.peak_mib:.0f}",
        )
    return table


def ratio_lines(result: StepResult) -> list[str]:
    """The ratios in words, each with its verdict where a target applies."""
    r, verdicts = result.ratios(), result.verdicts()
    lines = [
        f"vision: fast / stock = {r['fast_vision_share']:.3f} "
        f"{verdicts.get('fast_vision_share', '')}",
        f"first token: stock / fast = {r['fast_ttft_speedup']:.2f}× "
        f"{verdicts.get('fast_ttft_speedup', '')}",
        f"pruned vision: {r['pruned_vision_speedup']:.2f}× of ideal "
        f"{r['pruned_vision_ideal']:.2f}× = {r['pruned_vision_of_ideal']:.0%} "
        f"{verdicts.get('pruned_vision_of_ideal', '')}",
        f"pruned prefill: {r['pruned_prefill_speedup']:.2f}× of ideal "
        f"{r['pruned_prefill_ideal']:.2f}× = {r['pruned_prefill_of_ideal']:.0%} "
        f"{verdicts.get('pruned_prefill_of_ideal', '')}",
        f"fast over pruned, vision: {r['fast_vision_speedup_over_pruned']:.2f}×",
    ]
    return [line.rstrip() for line in lines]


def write_json(path: Path, results: Sequence[StepResult], machine: str) -> None:
    """Per model: the three variants under `variants` (stock, pruned, fast) and the ratios."""
    data = {
        "machine": machine,
        "targets": {name: list(bound) for name, bound in STEP_TARGETS.items()},
        "results": [
            {
                **{k: v for k, v in asdict(result).items() if k not in ("stock", "pruned", "fast")},
                "variants": {v.name: asdict(v) for v in result.variants},
                "ratios": result.ratios(),
                "verdicts": result.verdicts(),
            }
            for result in results
        ],
    }
    cli.write_json(str(path), data)


def _stock_variant(
    loaded: LoadedModel, screenshots: list[Image.Image], config: StepConfig
) -> StepVariant:
    """transformers' own processor and `generate` on the unpruned prompt (mm_token_type_ids
    given, so M-RoPE positions are the real 3-D ones). Vision is the tower's time inside the
    first-token runs; prefill is the rest of them."""
    model: Any = loaded.model  # the family's generation class (generate, .model.visual)
    tokenizer: Any = loaded.tokenizer
    sync = config.device == "cuda"
    text = tokenizer.apply_chat_template(_messages(), add_generation_prompt=True, tokenize=False)

    def preprocess() -> Any:
        return loaded.image_processor(images=screenshots, return_tensors="pt")

    preprocess_ms, processed = _median(config.repeat, sync, preprocess)
    processed = cast(dict[str, torch.Tensor], processed)
    pixel_values = processed["pixel_values"].to(model.device)
    grid = processed["image_grid_thw"]
    cells = [torch.arange(int(n)) for n in grid.prod(-1) // _merge_unit(model)]
    prompt = build_inputs(model, tokenizer, text, grid, cells)
    inputs = {
        "input_ids": prompt.input_ids.to(model.device),
        "attention_mask": prompt.attention_mask.to(model.device),
        "mm_token_type_ids": prompt.mm_token_type_ids.to(model.device),
        "pixel_values": pixel_values,
        "image_grid_thw": grid.to(model.device),
    }

    def answer(tokens: int) -> torch.Tensor:
        return model.generate(
            **inputs,
            max_new_tokens=tokens,
            min_new_tokens=tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )

    _reset_peak(sync)
    with torch.no_grad(), _timed_module(model.model.visual, sync) as vision_seconds:
        first_token, _ = timed_runs(config.repeat, sync, answer, 1)
        vision = [seconds * 1e3 for seconds in vision_seconds[1:]]  # the warm-up's dropped
        whole_ms, generated = _median(config.repeat, sync, answer, config.answer_tokens)
    out = cast(torch.Tensor, generated)
    ttft_ms = statistics.median(first_token)
    new_tokens = out.shape[1] - prompt.input_ids.shape[1]
    return StepVariant(
        name="stock",
        preprocess_ms=preprocess_ms,
        prune_ms=0.0,
        vision_ms=statistics.median(vision),
        prefill_ms=statistics.median(t - v for t, v in zip(first_token, vision, strict=True)),
        ttft_ms=ttft_ms,
        decode_ms_per_token=(whole_ms - ttft_ms) / max(new_tokens - 1, 1),
        answer_tokens=new_tokens,
        vision_tokens=prompt.image_tokens_full,
        image_tokens=prompt.image_tokens_full,
        prompt_tokens=int(prompt.input_ids.shape[1]),
        peak_mib=_peak(sync),
    )


def _runtime_variant(
    name: str, vlm: LocalVLM, screenshots: list[Image.Image], config: StepConfig
) -> StepVariant:
    """`LocalVLM.generate` with PixelPrune τ=0; with a vision cache, each run starts from the
    previous step's state (its two screenshots cached, the new one not)."""
    prune, sync = PruneConfig(), config.device == "cuda"
    previous = screenshots[:2]
    runs = []
    _reset_peak(sync)
    for _ in range(config.repeat + 1):  # the first run warms up
        if vlm.vision_cache is not None:
            vlm.vision_cache.clear()
            vlm.generate(previous, _messages(2), prune=prune, max_new_tokens=1)
        # the new screenshot is a new image object, as a capture gives: not resized, selected
        # or encoded before
        step = [*previous, screenshots[2].copy()]
        runs.append(
            vlm.generate(step, _messages(), prune=prune, max_new_tokens=config.answer_tokens)
        )
    runs = runs[1:]
    last = runs[-1]
    timings = [r.timings for r in runs]
    prune_ms = _ms(t.prune for t in timings)
    vision_ms, prefill_ms = _ms(t.vision for t in timings), _ms(t.prefill for t in timings)
    decode = [r.timings.decode / max(len(r.token_ids) - 1, 1) for r in runs]
    return StepVariant(
        name=name,
        preprocess_ms=_ms(t.preprocess for t in timings),
        prune_ms=prune_ms,
        vision_ms=vision_ms,
        prefill_ms=prefill_ms,
        ttft_ms=_ms(t.prune + t.vision + t.prefill for t in timings),
        decode_ms_per_token=statistics.median(decode) * 1e3,
        answer_tokens=len(last.token_ids),
        vision_tokens=last.vision_tokens_encoded,
        image_tokens=last.image_tokens_kept,
        prompt_tokens=last.prompt_tokens,
        peak_mib=_peak(sync),
    )


@contextmanager
def _timed_module(module: torch.nn.Module, sync: bool) -> Iterator[list[float]]:
    """Seconds of each call of `module` while the block runs (synced on CUDA), in a list that
    fills as the calls happen: the stock tower timed inside transformers' own `generate`."""
    seconds: list[float] = []
    started: list[float] = []

    def before(*_: object) -> None:
        if sync:
            torch.cuda.synchronize()
        started.append(time.perf_counter())

    def after(*_: object) -> None:
        if sync:
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started.pop())

    handles = [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
    try:
        yield seconds
    finally:
        for handle in handles:
            handle.remove()


def _messages(images: int = 3) -> list[dict[str, object]]:
    parts: list[dict[str, str]] = []
    for number in range(images):
        if number:
            parts.append({"type": "text", "text": f"Thought: step {number}.\n"})
        parts.append({"type": "image"})
    parts.append({"type": "text", "text": f"Task: {TASK}"})
    return [{"role": "user", "content": parts}]


def _median(
    repeat: int, sync: bool, fn: Callable[..., object], *args: object
) -> tuple[float, object]:
    """(median ms of `repeat` runs after one warm-up, the last result)."""
    times, result = timed_runs(repeat, sync, fn, *args)
    return statistics.median(times), result


def _ms(seconds: Iterable[float]) -> float:
    return statistics.median(list(seconds)) * 1e3


def _merge_unit(model: Any) -> int:
    return int(model.config.vision_config.spatial_merge_size) ** 2


def _open(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def _reset_peak(sync: bool) -> None:
    if sync:
        torch.cuda.reset_peak_memory_stats()


def _peak(sync: bool) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**20 if sync else None


def _free(device: str) -> None:
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
