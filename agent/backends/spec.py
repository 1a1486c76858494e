"""Open the model a `ModelSpec` names: a local model, a model server or a scripted stand-in.

    backend = open_backend(ModelSpec(path="ByteDance-Seed/UI-TARS-1.5-7B"))

Each backend is imported only when chosen, so opening a server or a script never imports torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.backends.base import Backend
from agent.errors import ModelError
from agent.settings import ModelSpec

if TYPE_CHECKING:
    from agent.backends.local import LocalVLM
    from agent.backends.scripted import ScriptedBackend

__all__ = ["open_backend", "open_local", "read_script", "scripted_backend"]


def open_backend(spec: ModelSpec) -> Backend:
    """Open the model the spec names; `ModelError` subclasses say what is missing."""
    if spec.scripted is not None:
        return scripted_backend(spec, read_script(spec.scripted))
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
    return open_local(spec)


def scripted_backend(spec: ModelSpec, outputs: list[str]) -> ScriptedBackend:
    """The scripted stand-in a spec names, replaying `outputs` (read from its file by the
    caller: `eval-grounding` also reads answers files keyed by sample)."""
    from agent.backends.scripted import ScriptedBackend

    return ScriptedBackend(
        outputs,
        family=spec.family or "qwen2.5",
        name=f"scripted:{spec.scripted}",
        min_pixels=spec.min_pixels,
        max_pixels=spec.max_pixels,
    )


def open_local(spec: ModelSpec) -> LocalVLM:
    """The local model a spec names (`ModelError` when it names a server or a script)."""
    from agent.backends.local import LocalVLM

    if spec.path is None:
        raise ModelError("the model spec names no local model")
    return LocalVLM.from_pretrained(
        spec.path,
        quantization=spec.quantization,
        device_map=spec.device_map,
        quantize_vision=spec.quantize_vision,
        vision_cache=spec.vision_cache,
        min_pixels=spec.min_pixels,
        max_pixels=spec.max_pixels,
        decoding=spec.decoding,
        decode_step=spec.decode_step,
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
