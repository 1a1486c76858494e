"""The settings of a run in one place: the task, its model, the agent's settings and secrets.

    settings = Settings.from_toml("task.toml")                       # a task file
    settings = settings.with_overrides(mode="auto", prune=None)      # then the CLI or the app
    settings = Settings.for_task("Click OK", scripted="outputs.json", max_steps=3)

Every setting has one name and one default (its dataclass field): a task file's `[model]` and
`[run]` keys, the command line's options (`--max-steps` is `max_steps`), the control app's form
and `with_overrides` all use them. `with_overrides` alone decides what a change of model source
keeps (see `ModelSpec.with_overrides`).
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agent.capture import CaptureConfig
from agent.desktop import DESKTOPS, DesktopName
from agent.errors import AgentError, ModelError, TaskFileError
from agent.executor import MODES, ExecutorConfig, Mode
from agent.hotkey import DEFAULT_KILL_HOTKEY
from pixelprune import PixelPruneError, PruneConfig, get_family

__all__ = [
    "DECODE_STEPS",
    "DECODINGS",
    "QUANTIZATIONS",
    "RUNS_DIR",
    "SOURCES",
    "AgentConfig",
    "DecodeStepName",
    "DecodingName",
    "ModelSpec",
    "Quantization",
    "Settings",
    "api_key_from_environment",
    "load_task_file",
]

RUNS_DIR = "runs"  # where the command line and the app put run folders unless told otherwise
Quantization = Literal["4bit", "8bit", "none"]  # "none" is read as None: not quantized
QUANTIZATIONS: tuple[Quantization, ...] = typing.get_args(Quantization)
DecodingName = Literal["greedy", "folder"]  # agent.backends.sampling
DECODINGS: tuple[DecodingName, ...] = typing.get_args(DecodingName)
DecodeStepName = Literal["eager", "static", "compiled"]  # agent.backends.decode_step
DECODE_STEPS: tuple[DecodeStepName, ...] = typing.get_args(DecodeStepName)
SOURCES = ("path", "scripted", "server")  # a model spec names exactly one


@dataclass(frozen=True)
class Settings:
    """One run: the task, the model to ask, how the agent works, and the secrets it may type."""

    task: str
    model: ModelSpec
    agent: AgentConfig = field(default_factory=lambda: AgentConfig())
    secrets: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.task, str) or not self.task.strip():
            raise AgentError("the task must be a non-empty text")

    @classmethod
    def for_task(
        cls, task: str, *, secrets: dict[str, str] | None = None, **values: Any
    ) -> Settings:
        """A task with `values` (model and agent settings by name) over the defaults."""
        model, agent = _split(values)
        return cls(task, ModelSpec(**model), AgentConfig().with_overrides(**agent), secrets or {})

    @classmethod
    def from_toml(cls, path: str | Path) -> Settings:
        """Read and check a task file; `TaskFileError` names the file and key that are wrong.

        Relative `scripted` and `record_to` values are taken from the file's folder, so an error
        names the file looked for; a relative model `path` only when it exists there (otherwise
        it is a hub id).
        """
        path = Path(path)
        task, values, secrets = _read_task_file(path)
        try:
            return cls.for_task(task, secrets=secrets, **values)
        except (AgentError, PixelPruneError) as error:  # a value a settings class refused
            raise TaskFileError(f"{path}: {error}") from error

    def with_overrides(self, **changes: Any) -> Settings:
        """These settings with `changes` applied: `task`, `secrets` or any model/agent setting."""
        task = changes.pop("task", self.task)
        secrets = changes.pop("secrets", self.secrets)
        model, agent = _split(changes)
        return Settings(
            task,
            self.model.with_overrides(**model),
            self.agent.with_overrides(**agent),
            dict(secrets),
        )


_SERVER: dict[str, str] = {"applies_to": "model server"}  # field metadata: whose setting it is
_LOCAL: dict[str, str] = {"applies_to": "local model"}


@dataclass(frozen=True)
class ModelSpec:
    """A local model (folder or hub id in the local cache), a model server, or a scripted stand-in.

    Exactly one of `path`, `server` and `scripted`. A spec holds an API key's value, never reads
    one: the task file and the command line take it from the environment variable the user
    names, so no key sits in a file or a process list.
    """

    path: str | None = None  # folder or hub id
    quantization: Quantization | None = "4bit"
    scripted: str | None = None  # JSON file with a list of model outputs to replay
    server: str | None = None  # OpenAI-compatible base URL, e.g. http://host:8000/v1
    # resize and token geometry: qwen2 | qwen2.5 | qwen3; None = scripted: qwen2.5, server:
    # inferred from the model id (a local model reads its own config)
    family: str | None = None
    device_map: str = field(default="auto", metadata=_LOCAL)
    quantize_vision: bool = field(default=False, metadata=_LOCAL)  # 4/8-bit vision tower too
    vision_cache: bool = field(default=True, metadata=_LOCAL)  # reuse encoded screenshots
    # greedy, or folder: the model folder's generation_config.json sampling settings
    decoding: DecodingName = field(default="greedy", metadata=_LOCAL)
    # eager (growing KV cache), static (preallocated), or compiled (static + torch.compile)
    decode_step: DecodeStepName = field(default="eager", metadata=_LOCAL)
    server_model: str | None = field(default=None, metadata=_SERVER)  # None = its only model
    api_key: str | None = field(default=None, repr=False, metadata=_SERVER)  # the value
    # resize bounds in pixels; None: a server's or script's family bounds, a local model's card
    # or folder bounds (`agent.models.card_pixel_bounds`)
    min_pixels: int | None = None
    max_pixels: int | None = None
    timeout: float | None = field(default=None, metadata=_SERVER)  # seconds; None = 300

    def __post_init__(self) -> None:
        if self.quantization == "none":
            object.__setattr__(self, "quantization", None)
        if self.quantization is not None and self.quantization not in QUANTIZATIONS:
            raise ModelError(f"quantization must be one of {', '.join(QUANTIZATIONS)}")
        if self.decoding not in DECODINGS:
            raise ModelError(f"decoding must be one of {', '.join(DECODINGS)}")
        if self.decode_step not in DECODE_STEPS:
            raise ModelError(f"decode_step must be one of {', '.join(DECODE_STEPS)}")
        if sum(getattr(self, source) is not None for source in SOURCES) != 1:
            raise ModelError(
                "give exactly one of a model path (--model), a model server (--server) "
                "or a script (--scripted)"
            )
        if self.family is not None:
            try:
                get_family(self.family)
            except PixelPruneError as error:
                raise ModelError(str(error)) from None
        for owner, source, option in ((_SERVER, "server", "--server"), (_LOCAL, "path", "--model")):
            if getattr(self, source) is None:
                changed = [n for n, default in _owned(owner).items() if getattr(self, n) != default]
                if changed:
                    raise ModelError(
                        f"{', '.join(changed)} only apply to a {owner['applies_to']} ({option})"
                    )

    def with_overrides(self, **changes: Any) -> ModelSpec:
        """This spec with `changes`; a new model source replaces the old one.

        The settings of a model server (its model id, key, pixel bounds, timeout) stay only
        while the same server is named, so a key is never sent to another server; a local
        model's settings stay only while a local model is named.
        """
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        source = {name: changes[name] for name in SOURCES if changes.get(name) is not None}
        if source:
            values.update(dict.fromkeys(SOURCES))
            if source.get("server") != self.server:
                values.update(_owned(_SERVER))
            if "path" not in source:
                values.update(_owned(_LOCAL))
        return ModelSpec(**(values | changes))


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
    desktop: DesktopName | None = None  # the desktop route (agent.desktop); None: detected
    executor: ExecutorConfig | None = None  # pauses and typing speed; mode comes from `mode`
    kill_hotkey: str | None = DEFAULT_KILL_HOTKEY  # None: run without (FAILSAFE still works)
    record_to: str | None = None  # folder that receives one run folder per run
    max_new_tokens: int = 256
    calibrate: bool = True  # measure the unpruned time once per prompt shape (latency saved)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise AgentError(f"mode must be one of {', '.join(MODES)}")
        if self.max_steps < 1:
            raise AgentError(f"max_steps must be at least 1, got {self.max_steps}")
        if self.history < 0 or self.max_retries < 0:
            raise AgentError("history and max_retries must not be negative")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise AgentError(f"max_seconds must be positive, got {self.max_seconds}")
        if self.max_new_tokens < 1:
            raise AgentError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if self.desktop is not None and self.desktop not in DESKTOPS:
            raise AgentError(f"desktop must be one of {', '.join(DESKTOPS)}, got {self.desktop!r}")

    def with_overrides(self, **changes: Any) -> AgentConfig:
        """This config with `changes`; `monitor` sets the capture's monitor."""
        if "monitor" in changes:
            changes["capture"] = dataclasses.replace(self.capture, monitor=changes.pop("monitor"))
        return dataclasses.replace(self, **changes)


def load_task_file(path: str | Path) -> Settings:
    """`Settings.from_toml(path)`: a task file, read and checked."""
    return Settings.from_toml(path)


def api_key_from_environment(variable: str, where: str) -> str:
    """The value of the environment variable `variable`; `where` names who asked, for errors.

    Only a conventional name (upper case, digits, _) is echoed: anything else may be the key
    itself, put in the wrong place.
    """
    if not variable.isidentifier():
        raise AgentError(f"{where} must name an environment variable, not hold the key itself")
    value = os.environ.get(variable)
    if not value:
        name = variable if re.fullmatch(r"[A-Z_][A-Z0-9_]*", variable) else "a variable"
        raise AgentError(f"{where} names {name}, which is not set (or empty) in the environment")
    return value


# ---- task files -------------------------------------------------------------------------------


def _split(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Settings by name → (model's, agent's); an unknown name is a programming error."""
    model_names = {f.name for f in dataclasses.fields(ModelSpec)}
    agent_names = {f.name for f in dataclasses.fields(AgentConfig)} | {"monitor"}
    unknown = set(values) - model_names - agent_names
    if unknown:
        raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    model = {name: value for name, value in values.items() if name in model_names}
    agent = {name: value for name, value in values.items() if name in agent_names}
    return model, agent


def _owned(owner: dict[str, str]) -> dict[str, Any]:
    """The model settings that only apply to a server (or a local model), with their defaults."""
    return {f.name: f.default for f in dataclasses.fields(ModelSpec) if f.metadata == owner}


def _read_task_file(path: Path) -> tuple[str, dict[str, Any], dict[str, str]]:
    """(task, settings by name, secrets) of a task file, every key and type checked."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise TaskFileError(f"cannot read task file {path}: {error.strerror}") from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise TaskFileError(f"{path} is not valid TOML: {error}") from error
    tables = _checked_tables(path, data)
    task = data.get("task")
    if not isinstance(task, str) or not task.strip():
        raise TaskFileError(f"{path}: 'task' must be a non-empty string")
    values = tables["model"] | tables["run"]
    if "api_key_env" in values:
        where = f"{path}: model.api_key_env"
        try:
            values["api_key"] = api_key_from_environment(values.pop("api_key_env"), where)
        except AgentError as error:
            raise TaskFileError(str(error)) from None
    if "path" in values:
        values["path"] = _beside(path.parent, values["path"])
    for name in ("scripted", "record_to"):  # a file and a folder, never hub ids
        if name in values:
            values[name] = os.path.normpath(path.parent / values[name])
    if "kill_hotkey" in values and isinstance(values["kill_hotkey"], bool):
        values["kill_hotkey"] = DEFAULT_KILL_HOTKEY if values["kill_hotkey"] else None
    prune = dict(tables["prune"])
    if prune:
        try:
            values["prune"] = PruneConfig(**prune) if prune.pop("enabled", True) else None
        except PixelPruneError as error:
            raise TaskFileError(f"{path}: {error}") from None
    return task, values, dict(tables["secrets"])


def _checked_tables(path: Path, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every table and key known, every value of its setting's type (values never echoed)."""
    schema = _task_file_schema()
    unknown = set(data) - {"task", "secrets", *schema}
    if unknown:
        raise TaskFileError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    tables = {}
    for name in (*schema, "secrets"):
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise TaskFileError(f"{path}: [{name}] must be a table")
        for key, value in table.items():
            if name == "secrets":
                if not isinstance(value, str):
                    raise TaskFileError(f"{path}: secret {key!r} must be a string")
                continue
            keys = schema[name]
            if key not in keys:
                known = ", ".join(sorted(keys))
                raise TaskFileError(f"{path}: unknown key {name}.{key} (known: {known})")
            if not isinstance(value, keys[key]) or (
                isinstance(value, bool) and bool not in keys[key]
            ):
                expected = " or ".join(t.__name__ for t in keys[key])
                got = type(value).__name__
                raise TaskFileError(f"{path}: {name}.{key} must be {expected}, not {got}")
        tables[name] = table
    return tables


def _task_file_schema() -> dict[str, dict[str, tuple[type, ...]]]:
    """Each table's keys and the TOML types they take, read from the settings' own fields."""
    model = [f.name for f in dataclasses.fields(ModelSpec) if f.name != "api_key"]
    run = ["mode", "max_steps", "max_seconds", "history", "max_retries", "record_to", "desktop"]
    return {
        "model": {
            **_field_types(ModelSpec, model),
            "api_key_env": (str,),  # the variable that holds the key: never the key itself
            **_field_types(AgentConfig, ["parser"]),
        },
        "prune": {"enabled": (bool,), **_field_types(PruneConfig, ["method", "tau", "metric"])},
        "run": {
            **_field_types(AgentConfig, [*run, "max_new_tokens"]),
            **_field_types(CaptureConfig, ["monitor"]),
            "kill_hotkey": (str, bool),  # true: the default hotkey, false: none
        },
    }


def _field_types(cls: type, names: list[str]) -> dict[str, tuple[type, ...]]:
    """The TOML types of some of a dataclass's fields (`float | None` → float or int)."""
    hints = typing.get_type_hints(cls)
    return {name: _toml_types(hints[name]) for name in names}


def _toml_types(annotation: Any) -> tuple[type, ...]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return tuple(t for arg in typing.get_args(annotation) for t in _toml_types(arg))
    if origin is Literal:
        return tuple(dict.fromkeys(type(arg) for arg in typing.get_args(annotation)))
    if annotation is type(None):
        return ()
    return (float, int) if annotation is float else (annotation,)


def _beside(folder: Path, value: str) -> str:
    """A path relative to the task file when it exists there; otherwise as written (hub ids)."""
    candidate = folder / value
    return str(candidate) if candidate.exists() else value
