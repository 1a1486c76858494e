"""`python main.py serve --model PATH`: the pruned local model behind an OpenAI-compatible API.

    python main.py serve --model ByteDance-Seed/UI-TARS-1.5-7B --port 8000
    python main.py serve --model ./UI-TARS --quant none --prune pred_2d:0.02 --api-key "$KEY"

Listens on loopback unless --host says otherwise; on another interface without --api-key it
warns loudly, since anyone who can reach the port can then use the model. The socket is bound
before the model loads, so a port in use fails in a second, not after minutes of loading.
On Ctrl+C / SIGTERM waiting requests get 503 `shutting_down`, running ones end at their next
decode step, and the process exits within about SHUTDOWN_SECONDS. Exit status: 0 after
Ctrl+C / SIGTERM, 2 bad input (options, model, address, an empty key).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
from pathlib import Path

from agent.backends.model_dir import resolve_model_dir
from agent.commands.model_options import add_vision_arguments, given
from agent.errors import AgentError
from agent.server.settings import MIB, ServerSettings
from agent.settings import QUANTIZATIONS, ModelSpec
from pixelprune.cli import add_prune_options

__all__ = ["add_arguments", "allowed_hosts", "is_loopback", "run"]

API_KEY_VARIABLE = "PIXELPRUNE_API_KEY"
SHUTDOWN_SECONDS = 20.0  # after SIGTERM/Ctrl+C, the most the model may take to end its step


def add_arguments(parser: argparse.ArgumentParser) -> None:
    model = parser.add_argument_group("model")
    model.add_argument("--model", required=True, help="model folder or hub id in the HF cache")
    model.add_argument("--quant", choices=QUANTIZATIONS, help="default 4bit")
    model.add_argument("--served-model-name", help="id for /v1/models (default: --model)")
    model.add_argument(
        "--engine",
        choices=("own", "vllm"),
        default="own",
        help="own: this project's server; vllm: vLLM with the PixelPrune plugin (.venv-vllm)",
    )
    model.add_argument(
        "--engine-args", metavar="ARGS", help="with --engine vllm: more `vllm serve` options"
    )
    add_vision_arguments(model)
    add_prune_options(model, what="pruning of requests that send no pixelprune object")
    net = parser.add_argument_group("network and access")
    net.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    net.add_argument("--port", type=int, default=8000)
    net.add_argument(
        "--api-key",
        help=f"require 'Authorization: Bearer KEY' (or set {API_KEY_VARIABLE}, "
        "which other users cannot read from the process list)",
    )
    net.add_argument(
        "--allow-host",
        action="append",
        metavar="NAME",
        help="a Host name clients may use (repeatable; default: the listening address, and "
        "localhost names on loopback; any on 0.0.0.0 / ::)",
    )
    limits = parser.add_argument_group("limits")
    limits.add_argument("--max-concurrency", type=int, default=4, help="batch size (4)")
    limits.add_argument("--max-queue", type=int, default=16, help="waiting requests (16)")
    limits.add_argument("--max-images", type=int, default=6, help="images per request (6)")
    limits.add_argument(
        "--max-image-bytes", type=int, default=10 * MIB, help="bytes per image (10 MiB)"
    )
    limits.add_argument(
        "--max-batch-pixels",
        type=int,
        default=64_000_000,
        help="image pixels per request and per batch (64 M: seven 4K screenshots)",
    )
    limits.add_argument(
        "--max-prompt-tokens",
        type=int,
        help="prompt length cap (default: the model's context minus the answer's max_tokens)",
    )
    limits.add_argument(
        "--allow-file-urls", metavar="DIR", type=Path, help="accept file:// images inside DIR"
    )


def run(args: argparse.Namespace) -> int:
    try:
        api_key = _api_key(args.api_key)
        model = _model(args)
        settings = _settings(args, api_key)
        if not is_loopback(args.host) and api_key is None:
            _warn_open(args.host, args.port)
        folder = resolve_model_dir(args.model)  # told before torch is imported
        if args.engine == "vllm":
            from agent.commands import serve_vllm

            return serve_vllm.run(args, folder, api_key)
        from agent.server.runner import bind

        sock = bind(args.host, args.port)
    except (AgentError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with sock:
        return _serve(args, model, settings, sock)


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str, extra: list[str] | None) -> frozenset[str] | None:
    """The `Host` names the server answers to: `extra` when given, else the listening address
    (with localhost names on loopback); None (any) on a wildcard address without `extra`."""
    if extra:
        return frozenset(name.lower() for name in extra)
    if host in ("0.0.0.0", "::", ""):
        return None
    names = {host.lower()}
    if is_loopback(host):
        names |= {"localhost", "127.0.0.1", "::1"}
    return frozenset(names)


def _api_key(given: str | None) -> str | None:
    """--api-key, else the environment's; an empty one is refused, never read as "no key"."""
    if given is not None:
        if not given.strip():
            raise ValueError("--api-key is empty: give a key, or leave the option out")
        return given
    value = os.environ.get(API_KEY_VARIABLE)
    if value is not None and not value.strip():
        raise ValueError(f"{API_KEY_VARIABLE} is set but empty: give a key, or unset it")
    return value


def _model(args: argparse.Namespace) -> ModelSpec:
    return ModelSpec(
        **given(
            path=args.model,
            quantization=args.quant,
            quantize_vision=args.quantize_vision,
            vision_cache=args.vision_cache,
            decoding=args.decoding,
            decode_step=args.decode_step,
        )
    )


def _settings(args: argparse.Namespace, api_key: str | None) -> ServerSettings:
    for name in ("max_concurrency", "max_images", "max_image_bytes", "max_batch_pixels"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    if args.max_queue < 0:
        raise ValueError("--max-queue must not be negative")
    if args.allow_file_urls is not None and not args.allow_file_urls.is_dir():
        raise ValueError(f"--allow-file-urls {args.allow_file_urls}: not a folder")
    return ServerSettings(
        model_id=args.served_model_name or args.model,
        api_key=api_key,
        default_prune=args.prune,
        max_images=args.max_images,
        max_image_bytes=args.max_image_bytes,
        max_image_pixels=min(ServerSettings.max_image_pixels, args.max_batch_pixels),
        max_batch_pixels=args.max_batch_pixels,
        max_prompt_tokens=args.max_prompt_tokens,
        file_root=args.allow_file_urls,
        allowed_hosts=allowed_hosts(args.host, args.allow_host),
    )


def _serve(
    args: argparse.Namespace, model: ModelSpec, settings: ServerSettings, sock: socket.socket
) -> int:
    from agent.backends.spec import open_local
    from agent.server.app import create_app
    from agent.server.engine import Engine
    from agent.server.runner import serve

    try:
        vlm = open_local(model)
    except AgentError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1
    engine = Engine(
        vlm,
        max_concurrency=args.max_concurrency,
        max_queue=args.max_queue,
        max_batch_pixels=settings.max_batch_pixels,
    )
    try:
        prune = settings.default_prune
        default = "off" if prune is None else f"{prune.method} tau={prune.tau}"
        host = f"[{args.host}]" if ":" in args.host else args.host
        print(
            f"serving {settings.model_id!r} on http://{host}:{sock.getsockname()[1]}"
            f" (pruning by default: {default}; decoding: {vlm.decoding.describe()}, "
            f"{vlm.decode_steps.mode} decode step; Ctrl+C stops)",
            file=sys.stderr,
        )
        serve(
            create_app(engine, settings),
            sock,
            on_exit=engine.shutdown,
            log_level="info" if args.verbose else "warning",
        )
    finally:
        ended = engine.close(timeout=SHUTDOWN_SECONDS)
        if ended:
            vlm.close()
    if not ended:
        print(
            f"warning: the model was still inside a step after {SHUTDOWN_SECONDS:g} s; "
            "exiting without waiting for it",
            file=sys.stderr,
        )
    return 0


def _warn_open(host: str, port: int) -> None:
    bar = "!" * 78
    print(
        f"{bar}\nWARNING: listening on {host}:{port}, reachable from other machines, WITHOUT an "
        f"API key.\nAnyone who can reach this port can use the model. Set --api-key (or "
        f"{API_KEY_VARIABLE}) or\nlisten on 127.0.0.1 and reach it through an SSH tunnel.\n{bar}",
        file=sys.stderr,
    )
