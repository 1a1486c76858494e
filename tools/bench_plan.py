"""What the benchmarks measure and aim for, without their imports (torch, Qt): `bench --help`
answers at once, and a plan is checked before any heavy work.

    config = BenchConfig(depth=2, quant="4bit", device="cuda")
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # types only: the plan imports nothing of the runtime
    from agent.settings import DecodeStepName, Quantization

__all__ = [
    "DECODE_VARIANTS",
    "IDEAL_SHARE_TARGET",
    "LOOP_OVERLAYS",
    "LOOP_SIZES",
    "LOOP_TARGET",
    "MODEL_NAMES",
    "REAL_MODELS",
    "TINY",
    "BenchConfig",
]

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
REAL_MODELS = ("qwen2.5-vl-3b", "qwen2.5-vl-7b", "qwen3-vl-2b")  # offline_models.REAL_SIZES
TINY = {"tiny-qwen2": "qwen2", "tiny-qwen2.5": "qwen2.5", "tiny-qwen3": "qwen3"}
MODEL_NAMES = (*REAL_MODELS, *TINY)
# the agent step's fast variant again with these decode steps (agent/backends/decode_step.py)
DECODE_VARIANTS: tuple[DecodeStepName, ...] = ("static", "compiled")
IDEAL_SHARE_TARGET = 0.8  # measured speedup ≥ this share of the ideal one
LOOP_TARGET = 0.05  # loop overhead below this share of the model's time
LOOP_SIZES = ((1920, 1080), (2560, 1440))
LOOP_OVERLAYS = ("translucent", "shaped")  # with a compositing manager / without one (plain X11)


@dataclass(frozen=True)
class BenchConfig:
    """How to build the models and what to measure."""

    depth: int | None = None  # layers per tower; None: the published depth (tiny: its own)
    quant: Quantization = "none"
    device: str = "cpu"  # cpu | cuda
    image: Path = DATA / "window-chromium-1920x1080.png"
    lossy_tau: float = 0.05
    lossy_metric: str = "mae"
    repeat: int = 3
    decode_tokens: int = 0  # > 0: also time that many new tokens on the τ=0 input
    profile: bool = False  # print the top operators of each call
