"""`AgentConfig`: everything that shapes a run except the model and the secrets.

    config = AgentConfig(mode="auto", max_steps=10, prune=PruneConfig(tau=0.02))

Its own module, below the loop, so that what reads settings (task files, the command line,
the app) need not import the loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.capture import CaptureConfig
from agent.errors import AgentError
from agent.executor import MODES, ExecutorConfig, Mode
from agent.hotkey import DEFAULT_KILL_HOTKEY
from pixelprune import PruneConfig

__all__ = ["AgentConfig"]


@dataclass(frozen=True)
class AgentConfig:
    """Everything that shapes a run except the model and the secrets."""

    prune: PruneConfig | None = field(default_factory=PruneConfig)  # None: send every patch
    mode: Mode = "confirm"
    max_steps: int = 20
    max_seconds: float | None = None  # wall-time cap of a run
    history: int = 2  # earlier screenshots shown again (older steps: text only)
    max_retries: int = 2  # extra model calls per step when an answer cannot be used
    parser: str | None = None  # output convention; None = the model's default
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    executor: ExecutorConfig | None = None  # pauses and typing speed; mode comes from `mode`
    kill_hotkey: str | None = DEFAULT_KILL_HOTKEY  # None: run without (FAILSAFE still works)
    record_to: str | None = None  # folder that receives one run folder per run
    max_new_tokens: int = 256
    calibrate: bool = True  # measure the unpruned time once per prompt shape (latency saved)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise AgentError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.max_steps < 1:
            raise AgentError(f"max_steps must be at least 1, got {self.max_steps}")
        if self.history < 0 or self.max_retries < 0:
            raise AgentError("history and max_retries must not be negative")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise AgentError(f"max_seconds must be positive, got {self.max_seconds}")
