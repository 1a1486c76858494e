"""`main.py serve --engine vllm`: vLLM's OpenAI server with the plugin, over HTTP.

The command runs from .venv as a user runs it and becomes `vllm serve` from .venv-vllm; the
requests are the agent's (an image as a data URL), with the engine's default pruning and a
request's own `mm_processor_kwargs`.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from test_vllm_plugin import project

ROOT = Path(__file__).resolve().parents[2]
KEY = "s3cret"
START_SECONDS = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def vllm_server(tmp_path_factory, screenshots):
    from tools.offline_models import build_tokenizer, save_random_model, tiny_config

    tokenizer = build_tokenizer()
    config = tiny_config("qwen2.5", tokenizer, width=2, initializer_range=0.3)
    model = save_random_model(tmp_path_factory.mktemp("served"), config, tokenizer)
    port = free_port()
    engine = "--enforce-eager --dtype float32 --max-model-len 8192"
    engine += " --limit-mm-per-prompt '{\"image\": 3}'"
    command = [str(ROOT / ".venv" / "bin" / "python"), "main.py", "serve", "--engine", "vllm"]
    command += ["--model", str(model), "--prune", "pred_2d", "--port", str(port)]
    command += ["--served-model-name", "tiny", "--engine-args", engine]
    env = os.environ | {"PIXELPRUNE_API_KEY": KEY, "VLLM_CPU_KVCACHE_SPACE": "1"}
    log = (tmp_path_factory.mktemp("log") / "server.log").open("w+")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"vLLM did not start:\n{log.read()[-4000:]}")
            time.sleep(1)
        yield url, model
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def chat(url: str, image: Path, **extra: object) -> httpx.Response:
    data = base64.b64encode(image.read_bytes()).decode()
    content = [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}},
        {"type": "text", "text": "click"},
    ]
    body = {"model": "tiny", "messages": [{"role": "user", "content": content}]}
    body |= {"max_tokens": 4, "temperature": 0, **extra}
    headers = {"Authorization": f"Bearer {KEY}"}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=120)


def test_the_served_engine_prunes_by_default_per_request_and_refuses_a_bad_spec(
    vllm_server, screenshots, tmp_path
):
    url, model = vllm_server
    image = screenshots[0]
    pruned = chat(url, image)
    assert pruned.status_code == 200, pruned.text
    whole = chat(url, image, mm_processor_kwargs={"pixelprune": "off"})
    assert whole.status_code == 200, whole.text
    [own_pruned, own_whole] = project(
        model,
        [
            {"images": [str(image)], "text": "click", "pixelprune": spec}
            for spec in ("pred_2d", "off")
        ],
        tmp_path,
    )
    # usage.prompt_tokens: the text and the kept image tokens (the project's own count)
    assert pruned.json()["usage"]["prompt_tokens"] == own_pruned["prompt"] < own_whole["prompt"]
    assert whole.json()["usage"]["prompt_tokens"] == own_whole["prompt"]
    bad = chat(url, image, mm_processor_kwargs={"pixelprune": "pred_2d:lots"})
    assert bad.status_code == 400, bad.text
    assert "pred_2d:0.02" in json.dumps(bad.json())
    unkeyed = httpx.post(f"{url}/v1/chat/completions", json={}, timeout=10)
    assert unkeyed.status_code == 401
