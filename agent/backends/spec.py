"""Which model to use, as a task file or the CLI says it, and how to open it.

Kept apart from the backends themselves so that reading a task file does not import torch,
and so that choosing the scripted backend is always explicit (`scripted = "outputs.json"`).
A spec holds an API key's value, never reads one: the CLI and the task loader take it from the
environment variable the user names, so no key sits in a task file or a command line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.backends.base import Backend
from agent.errors import ModelError
from pixelprune import PruneInputError, get_family

__all__ = ["LOCAL_DEFAULTS", "ModelSpec", "open_backend"]

# the settings only a local model has, with their defaults (a server or script keeps these)
LOCAL_DEFAULTS: dict[str, Any] = {"quantize_vision": False, "vision_cache": True}


@dataclass(frozen=True)
class ModelSpec:
    """A local model (folder or hub id in the local cache), a model server, or a scripted stand-in.

    Exactly one of `path`, `server` and `scripted`.
    """

    path: str | None = None  # folder or hub id
    quantization: str | None = "4bit"  # 4bit | 8bit | None
    device_map: str = "auto"
    scripted: str | None = None  # JSON file with a list of model outputs to replay
    # resize and token geometry: qwen2 | qwen2.5 | qwen3; None = scripted: qwen2.5, server:
    # inferred from the model id (a local model reads its own config)
    family: str | None = None
    server: str | None = None  # OpenAI-compatible base URL, e.g. http://host:8000/v1
    server_model: str | None = None  # the model id on the server; None = its only model
    api_key: str | None = field(default=None, repr=False)  # the value, from the environment
    min_pixels: int | None = None  # the server processor's bounds; None = the family's
    max_pixels: int | None = None
    timeout: float | None = None  # seconds to wait for a server's answer; None = 300
    quantize_vision: bool = False  # local 4bit/8bit: quantize the vision tower too (saves ~1 GiB)
    vision_cache: bool = True  # local: reuse the features of screenshots encoded before

    def __post_init__(self) -> None:
        sources = [self.path, self.scripted, self.server]
        if sum(source is not None for source in sources) != 1:
            raise ModelError(
                "give exactly one of a model path (--model), a model server (--server) "
                "or a script (--scripted)"
            )
        if self.family is not None:
            try:
                get_family(self.family)
            except PruneInputError as error:
                raise ModelError(str(error)) from None
        server_only = {
            "server_model": self.server_model,
            "api_key": self.api_key,
            "min_pixels": self.min_pixels,
            "max_pixels": self.max_pixels,
            "timeout": self.timeout,
        }
        given = [name for name, value in server_only.items() if value is not None]
        if self.server is None and given:
            raise ModelError(f"{', '.join(given)} only apply to a model server (--server)")
        local_only = [
            name for name, default in LOCAL_DEFAULTS.items() if getattr(self, name) != default
        ]
        if self.path is None and local_only:
            raise ModelError(f"{', '.join(local_only)} only apply to a local model (--model)")


def open_backend(spec: ModelSpec) -> Backend:
    """Open the model the spec names; `ModelError` subclasses say what is missing."""
    if spec.scripted is not None:
        from agent.backends.scripted import ScriptedBackend

        return ScriptedBackend(
            read_script(spec.scripted),
            family=spec.family or "qwen2.5",
            name=f"scripted:{spec.scripted}",
        )
    if spec.server is not None:
        from agent.backends.remote import OpenAICompatibleBackend

        options: dict[str, Any] = {} if spec.timeout is None else {"timeout": spec.timeout}
        return OpenAICompatibleBackend(
            spec.server,
            spec.server_model,
            spec.api_key,
            family=spec.family,
            min_pixels=spec.min_pixels,
            max_pixels=spec.max_pixels,
            **options,
        )
    from agent.backends.local import LocalVLM

    if spec.path is None:  # cannot happen: a spec has exactly one source
        raise ModelError("the model spec names no model")
    return LocalVLM.from_pretrained(
        spec.path,
        quantization=spec.quantization,
        device_map=spec.device_map,
        quantize_vision=spec.quantize_vision,
        vision_cache=spec.vision_cache,
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
