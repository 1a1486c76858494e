"""What a run remembers: one `StepRecord` per step, one `RunResult` per run, and their JSON form.

Records hold text with secrets already masked, so anything that stores or shows them (the
trajectory, events, UIs) cannot leak a secret. Actions serialise to plain dicts and back, so a
recorded run can be replayed and its actions compared with a fresh parse.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from agent import actions as A
from agent.capture import Screenshot
from agent.coords import Frame, Monitor
from agent.executor import ActionStatus
from agent.latency import LatencySaved
from pixelprune import Selection

__all__ = [
    "Attempt",
    "RunResult",
    "RunStatus",
    "StepOutcome",
    "StepRecord",
    "VisionCacheUse",
    "action_from_dict",
    "action_to_dict",
    "frame_from_dict",
    "frame_to_dict",
]

_ACTION_TYPES = {
    cls.__name__: cls
    for cls in (
        A.Click,
        A.Drag,
        A.Move,
        A.TypeText,
        A.Hotkey,
        A.KeyPress,
        A.Scroll,
        A.Wait,
        A.Finished,
        A.CallUser,
    )
}


@dataclass(frozen=True)
class Attempt:
    """One model call of a step (a step retries when the answer cannot be used)."""

    output: str  # the model's answer, secrets masked
    error: str | None  # why it could not be used, None for the accepted answer
    timings: dict[str, float]  # the backend's stages (preprocess, prune, vision, ...)
    prompt_tokens: int | None = None
    image_tokens_full: int | None = None
    image_tokens_kept: int | None = None
    vision_tokens_encoded: int | None = None  # cells through the vision tower (None: unknown)
    vision_cache_hits: int | None = None  # images whose features were reused
    vision_cache_seconds: float | None = None  # what the reused images had cost to encode


# how a step ended: its action's status, or "failed" (no usable answer, or an error)
StepOutcome = ActionStatus | Literal["failed"]
RunStatus = Literal[
    "finished",  # the model said the task is done
    "call_user",  # the model asked the user something
    "max_steps",
    "max_seconds",
    "stopped",  # stop(), the kill hotkey, or closed by the caller
    "failsafe",  # pyautogui's FAILSAFE: the mouse in a screen corner
    "rejected",  # the user said no to an action (confirm mode)
    "malformed_output",  # no usable answer after the retries
    "error",  # capture, model or execution failure
]


@dataclass(frozen=True)
class VisionCacheUse:
    """A step's vision-tower work: what went through it, and what the vision cache saved.

    Kept apart from `latency` (pruning's saving): the two never mix.
    """

    tokens_encoded: int  # cells (LLM image tokens) the tower encoded, over the step's calls
    hits: int  # images whose features the cache served instead
    seconds_saved: float  # what those had cost to encode when they were first encoded


@dataclass
class StepRecord:
    """Everything about one step; appended to the run's memory whatever happens."""

    number: int
    started: float  # unix time
    task: str = ""
    frame: Frame | None = None
    attempts: list[Attempt] = field(default_factory=list)
    model_action: A.Action | None = None  # as parsed, in the model's coordinates
    action: A.Action | None = None  # mapped to the screen
    outcome: StepOutcome | Literal[""] = ""  # "" until the step ends
    error: str | None = None
    # seconds: capture, prune, vision, prefill, decode (summed over attempts), model, parse,
    # act, total; a stage the backend did not measure is absent, never zero
    timings: dict[str, float] = field(default_factory=dict)
    latency: LatencySaved | None = None  # vision + prefill saved by pruning (None: unknown)
    screenshot: Screenshot | None = field(default=None, repr=False)
    selection: Selection | None = field(default=None, repr=False)

    @property
    def image_tokens(self) -> tuple[int | None, int | None]:
        """(full, kept) image tokens of the current screenshot's accepted call."""
        if not self.attempts:
            return None, None
        last = self.attempts[-1]
        return last.image_tokens_full, last.image_tokens_kept

    @property
    def vision_cache(self) -> VisionCacheUse | None:
        """The vision tower's work over this step's model calls (None: the backend can't say)."""
        if not self.attempts or any(a.vision_tokens_encoded is None for a in self.attempts):
            return None
        return VisionCacheUse(
            tokens_encoded=sum(a.vision_tokens_encoded or 0 for a in self.attempts),
            hits=sum(a.vision_cache_hits or 0 for a in self.attempts),
            seconds_saved=sum(a.vision_cache_seconds or 0.0 for a in self.attempts),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (screenshot and mask are stored beside it as images)."""
        full, kept = self.image_tokens
        return {
            "number": self.number,
            "started": self.started,
            "frame": None if self.frame is None else frame_to_dict(self.frame),
            "attempts": [dataclasses.asdict(a) for a in self.attempts],
            "model_action": _maybe(action_to_dict, self.model_action),
            "action": _maybe(action_to_dict, self.action),
            "action_text": None if self.action is None else A.describe(self.action),
            "outcome": self.outcome,
            "error": self.error,
            "timings": self.timings,
            "image_tokens_full": full,
            "image_tokens_kept": kept,
            "latency": None if self.latency is None else dataclasses.asdict(self.latency),
            "vision_cache": None
            if self.vision_cache is None
            else dataclasses.asdict(self.vision_cache),
            "selection": None
            if self.selection is None
            else {
                "method": self.selection.method,
                "tau": self.selection.tau,
                "metric": self.selection.metric,
                "grid": list(self.selection.grid),
                "kept": self.selection.n_kept,
                "kept_share": self.selection.kept_share,
            },
        }


@dataclass(frozen=True)
class RunResult:
    """How a run ended."""

    status: RunStatus
    answer: str  # the model's final answer or question, or why the run ended
    steps: list[StepRecord]
    run_dir: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "finished"


def action_to_dict(action: A.Action) -> dict[str, Any]:
    """Plain dict with a "type" key; points become {"x", "y", "space"}."""
    data: dict[str, Any] = {"type": type(action).__name__}
    for item in dataclasses.fields(action):
        value = getattr(action, item.name)
        if isinstance(value, A.Point):
            value = {"x": value.x, "y": value.y, "space": value.space.value}
        elif isinstance(value, tuple):
            value = list(value)
        data[item.name] = value
    return data


def action_from_dict(data: dict[str, Any]) -> A.Action:
    """The inverse of `action_to_dict` (validates like the parsers do)."""
    values = dict(data)
    cls = _ACTION_TYPES[values.pop("type")]
    for name, value in values.items():
        if isinstance(value, dict) and "space" in value:
            values[name] = A.Point(value["x"], value["y"], A.Space(value["space"]))
        elif isinstance(value, list):
            values[name] = tuple(value)
    return cls(**values)


def frame_to_dict(frame: Frame) -> dict[str, Any]:
    return {
        "monitor": dataclasses.asdict(frame.monitor),
        "captured": list(frame.captured),
        "model_input": list(frame.model_input),
    }


def frame_from_dict(data: dict[str, Any]) -> Frame:
    return Frame(Monitor(**data["monitor"]), tuple(data["captured"]), tuple(data["model_input"]))


def _maybe(function: Callable[[A.Action], dict[str, Any]], value: A.Action | None) -> Any:
    return None if value is None else function(value)
