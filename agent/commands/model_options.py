"""The model options of every command that asks a model: a local model, a server or a script.

`main.py run` and `main.py eval-grounding` take the same options with the same meaning and the
same errors, so a user who can run a task on a GPU server can evaluate that server too.
"""

from __future__ import annotations

import argparse
from typing import Any

from agent.settings import DECODE_STEPS, DECODINGS, QUANTIZATIONS, api_key_from_environment
from pixelprune.cli import add_family_option

__all__ = ["add_model_arguments", "add_vision_arguments", "given", "model_settings"]


def add_model_arguments(
    parser: argparse.ArgumentParser, *, default_model: str | None = None
) -> argparse._ArgumentGroup:
    """The "model" and "model server" option groups; returns the first, for command extras.
    `default_model`: what the command runs when no model source is given (its help says so)."""
    model = parser.add_argument_group("model")
    default = "" if default_model is None else f" (default: {default_model})"
    model.add_argument("--model", help=f"model folder or hub id in the local HF cache{default}")
    model.add_argument("--quant", choices=QUANTIZATIONS, help="default 4bit")
    model.add_argument("--parser", help="output convention (default: the model's own)")
    model.add_argument("--scripted", metavar="FILE", help="replay outputs from a JSON list")
    add_family_option(
        model,
        default=None,
        what="resize geometry of a server or scripted model (server: from the model id; "
        "scripted: qwen2.5)",
    )
    add_vision_arguments(model)
    bounds = "default: the model card's, else its folder's; a server's: the family's"
    model.add_argument("--min-pixels", type=int, help=f"smallest screenshot size ({bounds})")
    model.add_argument("--max-pixels", type=int, help=f"largest screenshot size ({bounds})")
    server = parser.add_argument_group("model server (OpenAI-compatible)")
    server.add_argument("--server", metavar="URL", help="e.g. http://gpu-box:8000/v1")
    server.add_argument("--server-model", metavar="ID", help="default: the server's only model")
    server.add_argument(
        "--api-key-env", metavar="NAME", help="environment variable that holds the API key"
    )
    server.add_argument(
        "--server-timeout", type=float, metavar="SECONDS", help="wait for an answer (300)"
    )
    return model


def add_vision_arguments(group: argparse._ArgumentGroup) -> None:
    """The local model's vision-tower options (`run`, `eval-grounding`, `serve`)."""
    group.add_argument(
        "--quantize-vision",
        action="store_true",
        default=None,
        help="with --quant 4bit/8bit, quantize the vision tower too: about 1 GiB less for a "
        "7B model, slower vision (default: it stays in bf16)",
    )
    group.add_argument(
        "--no-vision-cache",
        dest="vision_cache",
        action="store_false",
        default=None,
        help="encode every screenshot every step (default: reuse the features of screenshots "
        "already encoded, e.g. the history)",
    )
    group.add_argument(
        "--decoding",
        choices=DECODINGS,
        help="greedy (default: the same answer every time), or folder: sample with the model "
        "folder's generation_config.json settings, as some model cards ask (seeded)",
    )
    group.add_argument(
        "--decode-step",
        choices=DECODE_STEPS,
        help="eager (default: a KV cache that grows), static (a preallocated KV cache) or "
        "compiled (static, and each step torch.compile'd; CUDA graphs on a GPU; the first "
        "answer pays the compilation): the same tokens; tools/bench_step.py times each",
    )


def model_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The model settings given on the command line, by their settings names.

    For `Settings.with_overrides` over a task file, or `ModelSpec(**...)` on their own. The API
    key is read from the environment variable `--api-key-env` names, never from the command line.
    """
    return given(
        path=args.model or None,
        scripted=args.scripted,
        server=args.server,
        quantization=args.quant,
        family=args.family,
        server_model=args.server_model,
        api_key=api_key_from_environment(args.api_key_env, "--api-key-env")
        if args.api_key_env is not None
        else None,
        min_pixels=args.min_pixels,
        max_pixels=args.max_pixels,
        timeout=args.server_timeout,
        quantize_vision=args.quantize_vision,
        vision_cache=args.vision_cache,
        decoding=args.decoding,
        decode_step=args.decode_step,
    )


def given(**values: Any) -> dict[str, Any]:
    """The values that were given (not None): command-line overrides."""
    return {name: value for name, value in values.items() if value is not None}
