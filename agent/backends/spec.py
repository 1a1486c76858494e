"""Which model to use, as a task file or the CLI says it, and how to open it.

Kept apart from the backends themselves so that reading a task file does not import torch,
and so that choosing the scripted backend is always explicit (`scripted = "outputs.json"`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from agent.backends.base import Backend
from agent.errors import ModelError

__all__ = ["ModelSpec", "open_backend"]


@dataclass(frozen=True)
class ModelSpec:
    """A local model (folder or hub id in the local cache) or a scripted stand-in."""

    path: str | None = None  # folder or hub id; None with `scripted` set
    quantization: str | None = "4bit"  # 4bit | 8bit | None
    device_map: str = "auto"
    scripted: str | None = None  # JSON file with a list of model outputs to replay
    family: str = "qwen2.5"  # the scripted backend's resize and token geometry

    def __post_init__(self) -> None:
        if (self.path is None) == (self.scripted is None):
            raise ModelError("give exactly one of a model path (--model) or a script (--scripted)")


def open_backend(spec: ModelSpec) -> Backend:
    """Load the model the spec names; `ModelError` subclasses say what is missing."""
    if spec.scripted is not None:
        from agent.backends.scripted import ScriptedBackend

        return ScriptedBackend(
            read_script(spec.scripted), family=spec.family, name=f"scripted:{spec.scripted}"
        )
    from agent.backends.local import LocalVLM

    return LocalVLM.from_pretrained(
        spec.path, quantization=spec.quantization, device_map=spec.device_map
    )


def read_script(path: str | Path) -> list[str]:
    """A JSON list of strings: the model outputs to replay, in order."""
    try:
        outputs = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"cannot read the script {path}: {error}") from error
    if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
        raise ModelError(f"the script {path} must be a JSON list of strings (model outputs)")
    return outputs
