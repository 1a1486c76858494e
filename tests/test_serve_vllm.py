"""`main.py serve --engine vllm`: the vLLM command line it becomes (the server itself runs in
the vLLM tier, tests/vllm/test_vllm_server.py)."""

from __future__ import annotations

import argparse
import json

from agent.commands.serve import add_arguments
from agent.commands.serve_vllm import ENGINE, vllm_command


def parsed(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)  # the serve command's own options
    return parser.parse_args(["--engine", "vllm", *argv])


def test_the_options_map_to_vllms_and_the_key_stays_out_of_the_command_line(tmp_path):
    args = parsed("--model", str(tmp_path), "--prune", "pred_2d:0.02", "--port", "9001")
    args.engine_args = "--max-model-len 8192 --limit-mm-per-prompt '{\"image\": 3}'"
    command, env = vllm_command(args, tmp_path, "s3cret")
    assert command[0] == str(ENGINE)
    options = dict(zip(command[3::2], command[4::2], strict=False))
    assert options["--model"] == str(tmp_path) and options["--port"] == "9001"
    assert json.loads(command[command.index("--mm-processor-kwargs") + 1]) == {
        "pixelprune": "pred_2d:0.02"
    }
    assert "--trust-request-mm-kwargs" in command  # a request's own pixelprune is taken
    assert command[-4:] == ["--max-model-len", "8192", "--limit-mm-per-prompt", '{"image": 3}']
    assert "s3cret" not in " ".join(command) and env["VLLM_API_KEY"] == "s3cret"


def test_no_prune_makes_the_engine_default_off(tmp_path, monkeypatch):
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    command, env = vllm_command(parsed("--model", str(tmp_path), "--no-prune"), tmp_path, None)
    assert json.loads(command[command.index("--mm-processor-kwargs") + 1]) == {"pixelprune": "off"}
    assert "VLLM_API_KEY" not in env  # no key: vLLM serves without one, as asked
