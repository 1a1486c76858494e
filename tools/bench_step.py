"""Agent-step benchmark: the whole step a user waits for, stock transformers against this runtime.

    python -m tools.bench_model --step --models qwen2.5-vl-7b --quant 4bit --json step.json

Three screenshots (history 2), a UI-TARS-style prompt and an answer of `--answer-tokens` (80)
tokens, on random weights in the published config; variants stock, pruned, fast, and fast with
the static or compiled decode step, as in docs/benchmarks.md ("Faster agent steps"). A step is
capture + preprocess + prune + vision + prefill + decode of the whole answer + parse
(`step_ms`). Every token's time is taken inside the run that made it (stock `generate` through a
logits processor that notes each token), so first token and ms per token of one variant come
from the same calls. Medians of `--repeat` runs after a warm-up; every fast run starts from a
cache that holds exactly the previous step's two screenshots. Decode is set against its floor
here: bytes one token reads ÷ the mat-vec bandwidth measured in the same run (tools/bandwidth.py).
"""

from __future__ import annotations

import gc
import shutil
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, cast

import torch
from PIL import Image
from rich.table import Table
from transformers import LogitsProcessor, LogitsProcessorList

from agent.backends.loading import LoadedModel, ModelConfig, load_model
from agent.backends.local import GenerationResult, LocalVLM
from agent.backends.prompt import build_inputs
from agent.capture import CaptureConfig, ScreenCapture
from agent.errors import ActionError
from agent.parsers import get_parser
from agent.settings import DecodeStepName
from pixelprune import PruneConfig, cli
from tools.bandwidth import decode_bytes, decode_floor_ms, matvec_bandwidth
from tools.bench_plan import DECODE_VARIANTS
from tools.timing import timed_runs
from tools.xvfb import on_display, virtual_display

__all__ = [
    "DECODE_VARIANTS",
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
PARSER = "uitars"  # the default model's output convention
# (target name, CPU bound, GPU bound): see StepResult.ratios
STEP_TARGETS = {
    "fast_vision_share": ("≤", 0.2, None),  # vision (fast) / vision (stock)
    "fast_ttft_speedup": ("≥", 2.0, 3.0),  # ttft (stock) / ttft (fast)
    "pruned_vision_of_ideal": ("≥", 0.8, 0.8),  # vision speedup (pruned) / its ideal
    "pruned_prefill_of_ideal": ("≥", None, 0.6),  # prefill speedup (pruned) / its ideal
}


@dataclass(frozen=True)
class StepConfig:
    """What to measure: the screenshots, the answer length, how often, which decode steps."""

    images: tuple[Path, Path, Path]  # oldest first; the last is the new screenshot
    answer_tokens: int = 80
    repeat: int = 3
    device: str = "cpu"
    decode_variants: tuple[DecodeStepName, ...] = DECODE_VARIANTS


@dataclass(frozen=True)
class StepVariant:
    """One variant's medians (ms) over the repeats; the JSON keys the issues fixed."""

    name: str  # stock | pruned | fast | static | compiled
    capture_ms: float | None  # the new screenshot's grab (None: no X server to grab from)
    preprocess_ms: float
    prune_ms: float
    vision_ms: float
    prefill_ms: float
    ttft_ms: float  # prune + vision + prefill
    decode_ms_per_token: float  # the tokens after the first, timed in the same runs
    decoded_tokens: int  # new tokens of the answer the decode figure was measured over
    parse_ms: float  # the parser on the answer
    step_ms: float  # capture + preprocess + ttft + decode of answer_tokens + parse
    answer_tokens: int  # the answer length step_ms is for (the same for every variant)
    decode_floor_ms: float  # bytes one token reads (weights + this prompt's KV) ÷ bandwidth
    warmup_ms: float  # the first call, not counted (compiled: includes the compilation)
    vision_tokens: int  # cells that entered the vision tower this step
    image_tokens: int  # image tokens the language model read
    prompt_tokens: int
    peak_mib: float | None  # CUDA only


@dataclass(frozen=True)
class StepResult:
    """The variants of one model, measured side by side."""

    model: str
    depth: int | None
    quant: str
    device: str
    images: tuple[str, ...]
    repeat: int
    bandwidth_gb_s: float  # mat-vec bandwidth measured in this run
    weight_bytes_per_token: int
    stock: StepVariant
    pruned: StepVariant
    fast: StepVariant
    decode_variants: tuple[StepVariant, ...] = ()  # fast with a static or compiled decode step

    @property
    def variants(self) -> tuple[StepVariant, ...]:
        return self.stock, self.pruned, self.fast, *self.decode_variants

    def ratios(self) -> dict[str, float]:
        """The figures the targets (STEP_TARGETS) are about, each from two parts of this run."""
        stock, pruned, fast = self.stock, self.pruned, self.fast
        vision_ideal = stock.vision_tokens / pruned.vision_tokens
        prefill_ideal = stock.prompt_tokens / pruned.prompt_tokens
        ratios = {
            "fast_step_speedup": stock.step_ms / fast.step_ms,
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
        for variant in self.variants:
            ratios[f"{variant.name}_decode_over_floor"] = (
                variant.decode_ms_per_token / variant.decode_floor_ms
            )
        for variant in self.decode_variants:
            ratios[f"{variant.name}_decode_speedup"] = (
                fast.decode_ms_per_token / variant.decode_ms_per_token
            )
            ratios[f"{variant.name}_step_speedup"] = fast.step_ms / variant.step_ms
        return ratios

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
    """Load the model folder twice (stock, then fast) and measure every variant."""
    screenshots = [_open(path) for path in config.images]
    quantized = model_config.quantization is not None
    stock_config = replace(model_config, one_call_attention=False, quantize_vision=quantized)
    fast_config = replace(model_config, one_call_attention=True, quantize_vision=False)
    progress(f"{name}: capture of a {screenshots[2].width}x{screenshots[2].height} screen")
    capture = capture_ms(screenshots[2].size, config.repeat)
    progress(f"{name}: stock model (transformers generate, unpruned)")
    loaded = load_model(stock_config)
    try:
        dtype = cast(torch.dtype, loaded.model.dtype)
        bandwidth = matvec_bandwidth(config.device, dtype)
        progress(f"{name}: mat-vec bandwidth {bandwidth / 1e9:.1f} GB/s ({dtype})")
        weights, _ = decode_bytes(loaded.model, 0)
        measure = _Measure(config, capture, bandwidth)
        stock = measure.stock(loaded, screenshots)
        progress(f"{name}: stock model through LocalVLM, pruned")
        pruned = measure.runtime("pruned", LocalVLM(loaded, vision_cache=False), screenshots)
    finally:
        del loaded
        _free(config.device)
    progress(f"{name}: fast model (cache, one-call attention, unquantized vision), pruned")
    loaded = load_model(fast_config)
    try:
        fast = measure.runtime("fast", LocalVLM(loaded), screenshots)
        others = []
        for mode in config.decode_variants:
            progress(f"{name}: fast model, {mode} decode step")
            others.append(measure.runtime(mode, LocalVLM(loaded, decode_step=mode), screenshots))
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
        bandwidth_gb_s=bandwidth / 1e9,
        weight_bytes_per_token=weights,
        stock=stock,
        pruned=pruned,
        fast=fast,
        decode_variants=tuple(others),
    )


def capture_ms(size: tuple[int, int], repeat: int) -> float | None:
    """Median ms of the agent's capture (mss) of a private Xvfb screen of `size`; None where
    there is no Xvfb (a GPU box without X): the step is then reported without it."""
    if shutil.which("Xvfb") is None:
        return None
    with virtual_display(*size, window_manager=False) as env, on_display(env):
        capture = ScreenCapture(CaptureConfig(monitor=1))
        try:
            seconds = [capture.grab().seconds for _ in range(repeat + 1)][1:]
        finally:
            capture.close()
    return statistics.median(seconds) * 1e3


def step_table(result: StepResult) -> Table:
    """One row per variant, then the ratios with their verdicts."""
    table = Table(
        title=f"{result.model} depth {result.depth or 'full'}, {result.quant}, {result.device}: "
        f"one agent step (3 screenshots, history 2, a {result.stock.answer_tokens}-token "
        f"answer), median of {result.repeat}",
        show_edge=False,
    )
    columns: tuple[str, ...] = ("variant", "vision tokens", "prompt tokens", "capture ms")
    columns += ("preprocess ms", "prune ms", "vision ms", "prefill ms", "first token ms")
    columns += ("decode ms/token", "× floor", "parse ms", "step ms", "peak MiB")
    for col in columns:
        table.add_column(col, justify="left" if col == "variant" else "right")
    for v in result.variants:
        table.add_row(
            v.name,
            str(v.vision_tokens),
            str(v.prompt_tokens),
            "—" if v.capture_ms is None else f"{v.capture_ms:.1f}",
            f"{v.preprocess_ms:.1f}",
            f"{v.prune_ms:.1f}",
            f"{v.vision_ms:.1f}",
            f"{v.prefill_ms:.1f}",
            f"{v.ttft_ms:.1f}",
            f"{v.decode_ms_per_token:.2f} ({v.decoded_tokens})",
            f"{v.decode_ms_per_token / v.decode_floor_ms:.2f}",
            f"{v.parse_ms:.2f}",
            f"{v.step_ms:.0f}",
            "—" if v.peak_mib is None else f"{v.peak_mib:.0f}",
        )
    return table


def ratio_lines(result: StepResult) -> list[str]:
    """The ratios in words, each with its verdict where a target applies."""
    r, verdicts = result.ratios(), result.verdicts()
    stock, fast = result.stock, result.fast
    capture = "" if stock.capture_ms is not None else " (no capture: no X server here)"
    lines = [
        f"whole step: stock / fast = {stock.step_ms:.0f} / {fast.step_ms:.0f} ms = "
        f"{r['fast_step_speedup']:.2f}×{capture}",
        f"decode floor: {result.weight_bytes_per_token / 1e9:.2f} GB of weights (+ the "
        f"prompt's KV cache) per token ÷ {result.bandwidth_gb_s:.1f} GB/s = "
        f"{stock.decode_floor_ms:.1f} ms/token (stock), {fast.decode_floor_ms:.1f} (fast); "
        + ", ".join(f"{v.name} {r[f'{v.name}_decode_over_floor']:.2f}×" for v in result.variants)
        + " of it",
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
    for v in result.decode_variants:
        lines.append(
            f"{v.name} decode step: fast / {v.name} = {r[f'{v.name}_decode_speedup']:.2f}× per "
            f"token, {r[f'{v.name}_step_speedup']:.2f}× per step (first call {v.warmup_ms:.0f} "
            f"ms against fast's {fast.warmup_ms:.0f})"
        )
    return [line.rstrip() for line in lines]


def write_json(path: Path, results: Sequence[StepResult], machine: str) -> None:
    """Per model: the variants under `variants` (stock, pruned, fast, ...) and the ratios."""
    parts = ("stock", "pruned", "fast", "decode_variants")
    data = {
        "machine": machine,
        "targets": {name: list(bound) for name, bound in STEP_TARGETS.items()},
        "results": [
            {
                **{k: v for k, v in asdict(result).items() if k not in parts},
                "variants": {v.name: asdict(v) for v in result.variants},
                "ratios": result.ratios(),
                "verdicts": result.verdicts(),
            }
            for result in results
        ],
    }
    cli.write_json(str(path), data)


class TokenClock(LogitsProcessor):
    """Notes when each token's logits are ready inside `generate` (synced on CUDA), so the
    first token and every later one are timed in the same call; the scores pass unchanged."""

    def __init__(self, sync: bool) -> None:
        self.sync = sync
        self.started = 0.0
        self.times: list[float] = []

    def start(self) -> None:
        self.started, self.times = time.perf_counter(), []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.sync:
            torch.cuda.synchronize()
        self.times.append(time.perf_counter())
        return scores

    def first_token_seconds(self) -> float:
        return self.times[0] - self.started

    def seconds_per_token(self) -> float:
        """Mean seconds of each token after the first (0 for a one-token answer)."""
        return (self.times[-1] - self.times[0]) / max(len(self.times) - 1, 1)


@dataclass(frozen=True)
class _Measure:
    """How every variant of one run is measured: the config, the capture and bandwidth."""

    config: StepConfig
    capture_ms: float | None
    bandwidth: float

    def stock(self, loaded: LoadedModel, screenshots: list[Image.Image]) -> StepVariant:
        """transformers' own processor and `generate` on the unpruned prompt (mm_token_type_ids
        given, so M-RoPE positions are the real 3-D ones). Vision is the tower's time inside
        each run (hooks), prefill the rest of its first token; the decode is timed per token in
        the same runs."""
        model: Any = loaded.model  # the family's generation class (generate, .model.visual)
        tokenizer: Any = loaded.tokenizer
        config, sync = self.config, self.config.device == "cuda"
        text = tokenizer.apply_chat_template(
            _messages(), add_generation_prompt=True, tokenize=False
        )

        def preprocess() -> Any:
            return loaded.image_processor(images=screenshots, return_tensors="pt")

        preprocess_ms, processed = _median(config.repeat, sync, preprocess)
        processed = cast(dict[str, torch.Tensor], processed)
        grid = processed["image_grid_thw"]
        cells = [torch.arange(int(n)) for n in grid.prod(-1) // _merge_unit(model)]
        prompt = build_inputs(model, tokenizer, text, grid, cells)
        inputs = {
            "input_ids": prompt.input_ids.to(model.device),
            "attention_mask": prompt.attention_mask.to(model.device),
            "mm_token_type_ids": prompt.mm_token_type_ids.to(model.device),
            "pixel_values": processed["pixel_values"].to(model.device),
            "image_grid_thw": grid.to(model.device),
        }
        clock = TokenClock(sync)
        runs: list[tuple[float, float, float]] = []  # (whole, first token, per token) seconds
        _reset_peak(sync)
        with torch.no_grad(), _timed_module(model.model.visual, sync) as vision_seconds:
            for _ in range(config.repeat + 1):  # the first run warms up
                clock.start()
                out = model.generate(
                    **inputs,
                    max_new_tokens=config.answer_tokens,
                    min_new_tokens=config.answer_tokens,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id,
                    logits_processor=LogitsProcessorList([clock]),
                )
                whole = time.perf_counter() - clock.started
                runs.append((whole, clock.first_token_seconds(), clock.seconds_per_token()))
        warmup, *timed = runs
        vision = vision_seconds[1:]
        new_tokens = out.shape[1] - prompt.input_ids.shape[1]
        answer = tokenizer.decode(out[0, prompt.input_ids.shape[1] :], skip_special_tokens=True)
        return self._variant(
            "stock",
            preprocess_ms=preprocess_ms,
            prune_ms=0.0,
            vision_ms=_ms(vision),
            prefill_ms=_ms(first - v for (_, first, _), v in zip(timed, vision, strict=True)),
            ttft_ms=_ms(first for _, first, _ in timed),
            decode_ms_per_token=_ms(per_token for *_, per_token in timed),
            decoded_tokens=new_tokens,
            answer=answer,
            warmup_ms=warmup[0] * 1e3,
            vision_tokens=prompt.image_tokens_full,
            image_tokens=prompt.image_tokens_full,
            prompt_tokens=int(prompt.input_ids.shape[1]),
            model=model,
        )

    def runtime(self, name: str, vlm: LocalVLM, screenshots: list[Image.Image]) -> StepVariant:
        """`LocalVLM.generate` with PixelPrune τ=0; with a vision cache, each run starts from the
        previous step's state (its two screenshots cached, the new one not)."""
        config, prune, sync = self.config, PruneConfig(), self.config.device == "cuda"
        previous = screenshots[:2]
        runs: list[GenerationResult] = []
        _reset_peak(sync)
        for _ in range(config.repeat + 1):  # the first run warms up
            if vlm.vision_cache is not None:
                vlm.vision_cache.clear()
                vlm.generate(previous, _messages(2), prune=prune, max_new_tokens=1)
            # the new screenshot is a new image object, as a capture gives: not resized,
            # selected or encoded before
            step = [*previous, screenshots[2].copy()]
            runs.append(
                vlm.generate(step, _messages(), prune=prune, max_new_tokens=config.answer_tokens)
            )
        warmup, *timed = runs
        last = timed[-1]
        timings = [r.timings for r in timed]
        return self._variant(
            name,
            preprocess_ms=_ms(t.preprocess for t in timings),
            prune_ms=_ms(t.prune for t in timings),
            vision_ms=_ms(t.vision for t in timings),
            prefill_ms=_ms(t.prefill for t in timings),
            ttft_ms=_ms(t.prune + t.vision + t.prefill for t in timings),
            decode_ms_per_token=_ms(r.timings.decode / max(len(r.token_ids) - 1, 1) for r in timed),
            decoded_tokens=len(last.token_ids),
            answer=last.text,
            warmup_ms=warmup.timings.total * 1e3,
            vision_tokens=last.vision_tokens_encoded,
            image_tokens=last.image_tokens_kept,
            prompt_tokens=last.prompt_tokens,
            model=vlm.loaded.model,
        )

    def _variant(self, name: str, *, answer: str, model: Any, **measured: Any) -> StepVariant:
        """The variant with what every one adds the same way: capture, parse, the whole step
        for the configured answer length, the decode floor and the peak memory."""
        parse_ms = _parse_ms(answer, self.config.repeat)
        tokens = self.config.answer_tokens
        step_ms = (
            (self.capture_ms or 0.0)
            + measured["preprocess_ms"]
            + measured["ttft_ms"]
            + measured["decode_ms_per_token"] * (tokens - 1)
            + parse_ms
        )
        return StepVariant(
            name=name,
            capture_ms=self.capture_ms,
            parse_ms=parse_ms,
            step_ms=step_ms,
            answer_tokens=tokens,
            decode_floor_ms=decode_floor_ms(model, measured["prompt_tokens"], self.bandwidth),
            peak_mib=_peak(self.config.device == "cuda"),
            **measured,
        )


def _parse_ms(answer: str, repeat: int) -> float:
    """Median ms of the agent's parser on `answer` (random weights give no action: the parser
    then refuses it, which the loop would do too)."""
    parser = get_parser(PARSER)

    def parse() -> None:
        with suppress(ActionError):
            parser.parse_all(answer)

    times, _ = timed_runs(max(repeat, 3), False, parse)
    return statistics.median(times)


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
