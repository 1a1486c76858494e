"""What a run remembers: a `RunHeader`, one `StepRecord` per step, a `RunResult`, as JSON and back.

    StepRecord.from_dict(record.to_dict()) == record     # but for the screenshot and mask images

Records hold text with secrets already masked, so anything that stores or shows them (the
trajectory, events, UIs) cannot leak a secret. A run folder reads back into these same classes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np

from agent import actions as A
from agent.capture import Screenshot
from agent.coords import Frame, Monitor
from agent.executor import ActionStatus
from agent.latency import LatencySaved
from pixelprune import Selection

__all__ = [
    "Attempt",
    "RunHeader",
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

_In = TypeVar("_In")
_Out = TypeVar("_Out")
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


@dataclass(frozen=True)
class RunHeader:
    """What a run was: run.json."""

    task: str  # secrets masked
    model: str
    model_type: str | None
    parser: str
    config: dict[str, Any]  # the AgentConfig, as JSON
    secrets: list[str]  # the names of the secrets, never their values
    started: float  # unix time

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunHeader:
        return cls(
            task=str(data["task"]),
            model=str(data["model"]),
            model_type=data.get("model_type"),
            parser=str(data["parser"]),
            config=dict(data.get("config") or {}),
            secrets=list(data.get("secrets") or []),
            started=float(data.get("started") or 0.0),
        )


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
    # the accepted answer's actions, in order (most answers hold one): as parsed, in the model's
    # coordinates, and mapped to the screen
    model_actions: list[A.Action] = field(default_factory=list)
    actions: list[A.Action] = field(default_factory=list)
    # "" until the step ends; with several actions, the last one tried (they stop at the first
    # not carried out)
    outcome: StepOutcome | Literal[""] = ""
    error: str | None = None
    # seconds: capture, prune, vision, prefill, decode (summed over attempts), model, parse,
    # act, total; a stage the backend did not measure is absent, never zero
    timings: dict[str, float] = field(default_factory=dict)
    latency: LatencySaved | None = None  # vision + prefill saved by pruning (None: unknown)
    screenshot: Screenshot | None = field(default=None, repr=False)
    selection: Selection | None = field(default=None, repr=False)

    @property
    def model_action(self) -> A.Action | None:
        """The first action as parsed (its thought is the answer's)."""
        return self.model_actions[0] if self.model_actions else None

    @property
    def action(self) -> A.Action | None:
        """The first action, mapped to the screen."""
        return self.actions[0] if self.actions else None

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
            "action_text": "; ".join(A.describe(action) for action in self.actions) or None,
            "model_actions": [action_to_dict(action) for action in self.model_actions],
            "actions": [action_to_dict(action) for action in self.actions],
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
                "anchored": self.selection.anchored,
                "cell": self.selection.cell,
                "grid": list(self.selection.grid),
                "kept": self.selection.n_kept,
                "kept_share": self.selection.kept_share,
            },
        }

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, task: str = "", keep: np.ndarray | None = None
    ) -> StepRecord:
        """A step as `to_dict` wrote it; `keep` is its stored mask (the selection needs it).

        KeyError, TypeError or ValueError (an ActionError for a bad action) for data that is
        no step record.
        """
        frame = _maybe(frame_from_dict, data.get("frame"))
        return cls(
            number=int(data["number"]),
            started=float(data["started"]),
            task=task,
            frame=frame,
            attempts=[_attempt(item) for item in data.get("attempts") or []],
            model_actions=_actions(data, "model_actions", "model_action"),
            actions=_actions(data, "actions", "action"),
            outcome=data.get("outcome") or "",
            error=data.get("error"),
            timings={str(k): float(v) for k, v in (data.get("timings") or {}).items()},
            latency=_maybe(lambda values: LatencySaved(**values), data.get("latency")),
            selection=_selection(data.get("selection"), keep, frame, data.get("timings") or {}),
        )


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
    name = values.pop("type", None)
    cls = _ACTION_TYPES.get(str(name))
    if cls is None:
        raise ValueError(f"unknown action type {name!r}")
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


def _maybe(function: Callable[[_In], _Out], value: _In | None) -> _Out | None:
    return None if value is None else function(value)


def _actions(data: dict[str, Any], key: str, first: str) -> list[A.Action]:
    """A step's actions; runs written before steps had several hold only the first."""
    if key in data:
        return [action_from_dict(item) for item in data[key]]
    return [] if data.get(first) is None else [action_from_dict(data[first])]


def _attempt(data: dict[str, Any]) -> Attempt:
    """An attempt as written; keys of a newer release are ignored, missing ones default."""
    names = {item.name for item in dataclasses.fields(Attempt)}
    return Attempt(**{name: value for name, value in data.items() if name in names})


def _selection(
    data: dict[str, Any] | None,
    keep: np.ndarray | None,
    frame: Frame | None,
    timings: dict[str, float],
) -> Selection | None:
    """The recorded selection: its settings from JSON, its cells from the mask (None without)."""
    if data is None or keep is None:
        return None
    cell = data.get("cell")
    if cell is None and frame is not None:  # runs written before the cell size was recorded
        cell = frame.model_input[0] // keep.shape[1]
    return Selection(
        method=data["method"],
        cell=int(cell or 0),
        tau=float(data["tau"]),
        metric=data["metric"],
        anchored=bool(data.get("anchored", True)),
        keep=keep,
        source=None,
        seconds=float(timings.get("prune", 0.0)),
    )
