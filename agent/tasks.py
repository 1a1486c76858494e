"""Task files: a task, its model, pruning, mode and limits in one TOML file.

    task = "Open the settings and turn on dark mode"

    [model]
    path = "ByteDance-Seed/UI-TARS-1.5-7B"   # folder or hub id in the local HF cache
    quantization = "4bit"                     # 4bit | 8bit | none
    parser = "uitars"                         # optional: output convention
    # quantize_vision = false                 # true: vision tower in 4/8-bit too (~1 GiB less)
    # vision_cache = true                     # false: encode the history screenshots again

    # or a model server (OpenAI-compatible: `main.py serve`, vLLM, SGLang, Ollama, LM Studio):
    # server = "http://gpu-box:8000/v1"
    # server_model = "ByteDance-Seed/UI-TARS-1.5-7B"   # optional when it serves one model
    # api_key_env = "PIXELPRUNE_API_KEY"                # the variable holding the key, not the key
    # family = "qwen2.5"           # when the id does not tell; min_pixels / max_pixels likewise
    # timeout = 300                # seconds to wait for an answer

    [prune]
    enabled = true
    method = "pred_2d"
    tau = 0.0

    [run]
    mode = "confirm"          # dry-run | confirm | auto
    max_steps = 20
    max_seconds = 600
    history = 2
    monitor = 1               # or "mouse"
    kill_hotkey = "ctrl+shift+f12"   # false: none
    record_to = "runs"

    [secrets]
    password = "hunter2"      # the model writes {{password}}; logs never show the value

Unknown keys and wrong types are errors naming the file and key: a typo must not silently turn
a setting off. Relative paths (model folder, script, record_to) are relative to the task file.
An API key never sits in the file: `api_key_env` names the environment variable read here.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.backends.spec import ModelSpec
from agent.capture import CaptureConfig
from agent.errors import TaskFileError
from agent.settings import AgentConfig
from pixelprune import PruneConfig

__all__ = ["TaskSpec", "load_task_file"]


@dataclass(frozen=True)
class TaskSpec:
    """A task file, read and checked."""

    task: str
    model: ModelSpec
    agent: AgentConfig
    secrets: dict[str, str] = field(default_factory=dict)


_SCHEMA: dict[str, dict[str, tuple[type, ...]]] = {
    "model": {
        "path": (str,),
        "quantization": (str,),
        "parser": (str,),
        "scripted": (str,),
        "family": (str,),
        "device_map": (str,),
        "server": (str,),
        "server_model": (str,),
        "api_key_env": (str,),
        "min_pixels": (int,),
        "max_pixels": (int,),
        "timeout": (float, int),
        "quantize_vision": (bool,),
        "vision_cache": (bool,),
    },
    "prune": {"enabled": (bool,), "method": (str,), "tau": (float, int), "metric": (str,)},
    "run": {
        "mode": (str,),
        "max_steps": (int,),
        "max_seconds": (float, int),
        "history": (int,),
        "max_retries": (int,),
        "monitor": (int, str),
        "kill_hotkey": (str, bool),
        "record_to": (str,),
        "max_new_tokens": (int,),
    },
    "secrets": {},  # any names, string values
}


def load_task_file(path: str | Path) -> TaskSpec:
    """Read and check a task file; `TaskFileError` says which key of which file is wrong."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise TaskFileError(f"cannot read task file {path}: {error.strerror}") from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise TaskFileError(f"{path} is not valid TOML: {error}") from error
    tables = _check(path, data)
    task = data.get("task")
    if not isinstance(task, str) or not task.strip():
        raise TaskFileError(f"{path}: 'task' must be a non-empty string")
    model, prune, run = tables["model"], tables["prune"], tables["run"]
    here = path.parent
    quantization = model.get("quantization", "4bit")
    try:
        spec = ModelSpec(
            path=_local(here, model.get("path")),
            quantization=None if quantization == "none" else quantization,
            device_map=model.get("device_map", "auto"),
            scripted=_local(here, model.get("scripted")),
            family=model.get("family"),
            server=model.get("server"),
            server_model=model.get("server_model"),
            api_key=_api_key(path, model.get("api_key_env")),
            min_pixels=model.get("min_pixels"),
            max_pixels=model.get("max_pixels"),
            timeout=model.get("timeout"),
            quantize_vision=model.get("quantize_vision", False),
            vision_cache=model.get("vision_cache", True),
        )
        hotkey = run.get("kill_hotkey", AgentConfig.kill_hotkey)
        if hotkey is True:
            hotkey = AgentConfig.kill_hotkey
        record_to = run.get("record_to")
        config = AgentConfig(
            prune=PruneConfig(
                method=prune.get("method", "pred_2d"),
                tau=float(prune.get("tau", 0.0)),
                metric=prune.get("metric", "max"),
            )
            if prune.get("enabled", True)
            else None,
            mode=run.get("mode", "confirm"),
            max_steps=run.get("max_steps", 20),
            max_seconds=run.get("max_seconds"),
            history=run.get("history", 2),
            max_retries=run.get("max_retries", 2),
            parser=model.get("parser"),
            capture=CaptureConfig(monitor=run.get("monitor", 1)),
            kill_hotkey=hotkey or None,
            record_to=None if record_to is None else str(here / record_to),
            max_new_tokens=run.get("max_new_tokens", 256),
        )
    except TaskFileError:
        raise
    except Exception as error:  # a config class rejected a value: say which file
        raise TaskFileError(f"{path}: {error}") from error
    return TaskSpec(task, spec, config, dict(tables["secrets"]))


def _check(path: Path, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every table and key known, every value of the right type."""
    unknown = set(data) - {"task", *_SCHEMA}
    if unknown:
        raise TaskFileError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    tables = {}
    for name, keys in _SCHEMA.items():
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise TaskFileError(f"{path}: [{name}] must be a table")
        for key, value in table.items():
            if name == "secrets":
                if not isinstance(value, str):
                    raise TaskFileError(f"{path}: secret {key!r} must be a string")
                continue
            if key not in keys:
                raise TaskFileError(
                    f"{path}: unknown key {name}.{key} (known: {', '.join(sorted(keys))})"
                )
            if not isinstance(value, keys[key]) or (
                isinstance(value, bool) and bool not in keys[key]
            ):
                expected = " or ".join(t.__name__ for t in keys[key])
                raise TaskFileError(f"{path}: {name}.{key} must be {expected}, got {value!r}")
        tables[name] = table
    return tables


def _api_key(path: Path, variable: str | None) -> str | None:
    """The value of the environment variable `model.api_key_env` names (it must be set)."""
    if variable is None:
        return None
    value = os.environ.get(variable)
    if not value:
        raise TaskFileError(
            f"{path}: model.api_key_env names {variable}, which is not set in the environment"
        )
    return value


def _local(here: Path, value: str | None) -> str | None:
    """A path relative to the task file when it exists there; otherwise as written (hub ids)."""
    if value is None:
        return None
    candidate = here / value
    return str(candidate) if candidate.exists() else value
