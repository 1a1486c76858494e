"""`main.py serve`: the real uvicorn server on loopback with a tiny random model, driven by httpx.

Answers are compared with `LocalVLM.generate` on the same images and messages: greedy decoding
is deterministic, so the server must return exactly what the model says for that prompt, with
the same token counts and keep masks. Queue tests hold the model behind a gate the test opens,
so "one running, one waiting" is a state the test waits for, not a race it hopes to win.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

import main as cli
from agent.backends.local import LocalVLM
from agent.server import runner
from agent.server.app import create_app
from agent.server.engine import Engine
from agent.server.runner import bind, running_server
from agent.server.settings import ServerSettings
from pixelprune import PruneConfig
from tools.dev import load_server

MODEL_ID = "tiny-qwen2.5"
JSON = {"content-type": "application/json"}
MAX_TOKENS = 6
SIZES = [(224, 168), (196, 140), (252, 112), (168, 224), (140, 140), (280, 84)]


@pytest.fixture(scope="module")
def vlm(tiny_model_dirs) -> LocalVLM:
    return LocalVLM.from_pretrained(
        str(tiny_model_dirs["qwen2.5"]), quantization=None, device_map="cpu"
    )


@pytest.fixture(scope="module")
def engine(vlm) -> Iterator[Engine]:
    engine = Engine(vlm, max_concurrency=4, max_queue=8)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def shots(screenshot_paths) -> list[Image.Image]:
    """Small crops of real screenshots, one size each, so prompts differ in tokens too."""
    return [
        Image.open(screenshot_paths[i % len(screenshot_paths)]).convert("RGB").crop((0, 0, *size))
        for i, size in enumerate(SIZES)
    ]


@pytest.fixture(scope="module")
def file_root(tmp_path_factory, shots) -> Path:
    root = tmp_path_factory.mktemp("images")
    shots[0].save(root / "shot.png")
    shots[0].save(root.parent / "outside.png")
    return root


def settings(**changes: Any) -> ServerSettings:
    values: dict[str, Any] = dict(model_id=MODEL_ID, max_images=2, max_image_bytes=200_000)
    return ServerSettings(**{**values, **changes})


@pytest.fixture(scope="module")
def url(engine, file_root) -> Iterator[str]:
    with running_server(create_app(engine, settings(file_root=file_root))) as server:
        yield server.url


def data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def payload(text: str, *image_urls: str, **extra: Any) -> dict[str, Any]:
    parts = [{"type": "image_url", "image_url": {"url": u}} for u in image_urls]
    parts.append({"type": "text", "text": text})
    messages = [
        {"role": "system", "content": "You are a GUI agent."},
        {"role": "user", "content": parts},
    ]
    return {"model": MODEL_ID, "messages": messages, "max_tokens": MAX_TOKENS, **extra}


def model_messages(text: str, images: int) -> list[dict[str, Any]]:
    """What the server must hand the model for `payload(text, <images>)`."""
    parts = [{"type": "image"}] * images + [{"type": "text", "text": text}]
    return [
        {"role": "system", "content": "You are a GUI agent."},
        {"role": "user", "content": parts},
    ]


def post(url: str, body: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60, **kwargs)


def keep_masks(usage: dict[str, Any]) -> list[np.ndarray]:
    masks = []
    for image in usage["pixelprune"]["images"]:
        bits = np.unpackbits(np.frombuffer(base64.b64decode(image["keep"]), np.uint8))
        masks.append(bits[: image["rows"] * image["cols"]].reshape(image["rows"], image["cols"]))
    return masks


def assert_error(response: httpx.Response, status: int, kind: str, code: str | None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == kind and error["code"] == code and error["message"], error


def wait_until(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def queue(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/health", timeout=10).json()["queue"]


def held(url: str) -> int:
    stats = queue(url)
    return stats["running"] + stats["waiting"]


def test_health_and_models(url):
    health = httpx.get(f"{url}/health").json()
    assert health["status"] == "ok" and health["model"] == MODEL_ID
    assert health["queue"]["running"] == 0 and health["queue"]["max_concurrency"] == 4
    models = httpx.get(f"{url}/v1/models").json()
    assert models["object"] == "list"
    assert models["data"] == [
        {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "pixelprune-agent"}
    ]


@pytest.mark.parametrize("count", [1, 2])
def test_chat_answers_what_the_model_answers(url, vlm, shots, count):
    images = shots[:count]
    response = post(url, payload("Click the Save button.", *map(data_url, images)))
    assert response.status_code == 200, response.text
    body = response.json()
    expected = vlm.generate(
        images,
        model_messages("Click the Save button.", count),
        prune=PruneConfig(),
        max_new_tokens=MAX_TOKENS,
    )
    assert body["object"] == "chat.completion" and body["model"] == MODEL_ID
    assert body["id"].startswith("chatcmpl-")
    (choice,) = body["choices"]
    assert choice["message"] == {"role": "assistant", "content": expected.text}
    stopped = len(expected.token_ids) < MAX_TOKENS
    assert choice["finish_reason"] == ("stop" if stopped else "length")
    usage = body["usage"]
    assert usage["prompt_tokens"] == expected.prompt_tokens
    assert usage["completion_tokens"] == len(expected.token_ids)
    assert usage["total_tokens"] == expected.prompt_tokens + len(expected.token_ids)
    prune = usage["pixelprune"]
    assert prune["pruned"] is True and prune["method"] == "pred_2d" and prune["tau"] == 0.0
    assert prune["metric"] == "max" and prune["anchored"] is True
    assert prune["image_tokens_full"] == expected.image_tokens_full
    assert prune["image_tokens_kept"] == expected.image_tokens_kept < expected.image_tokens_full
    assert [image["cell"] for image in prune["images"]] == [28] * count
    for mask, selection in zip(keep_masks(usage), expected.selections, strict=True):
        np.testing.assert_array_equal(mask.astype(bool), selection.keep)
    timings = prune["timings_ms"]
    assert set(timings) == {"queue", "preprocess", "prune", "vision", "prefill", "decode", "total"}
    assert timings["total"] >= timings["vision"] + timings["prefill"] > 0


def test_a_conversations_earlier_image_is_not_encoded_again(url, vlm, screenshot_paths):
    """The second turn resends the first screenshot (decoded anew): its features are reused,
    the answer is the uncached model's."""
    first, second = (
        Image.open(path).convert("RGB").crop((28, 28, 336, 224)) for path in screenshot_paths[:2]
    )
    one = post(url, payload("Open the menu.", data_url(first))).json()["usage"]["pixelprune"]
    assert one["vision_cache_hits"] == 0
    assert one["vision_tokens_encoded"] == one["image_tokens_kept"]
    response = post(url, payload("Now click Save.", data_url(first), data_url(second)))
    assert response.status_code == 200, response.text
    body = response.json()
    two = body["usage"]["pixelprune"]
    assert two["vision_cache_hits"] == 1 and two["vision_cache_ms"] > 0
    assert two["vision_tokens_encoded"] == two["image_tokens_kept"] - one["image_tokens_kept"]
    uncached = LocalVLM(vlm.loaded, vision_cache=False).generate(
        [first, second],
        model_messages("Now click Save.", 2),
        prune=PruneConfig(),
        max_new_tokens=MAX_TOKENS,
    )
    assert body["choices"][0]["message"]["content"] == uncached.text
    assert body["usage"]["completion_tokens"] == len(uncached.token_ids)


def test_a_text_only_chat_is_answered(url, vlm):
    response = post(url, payload("Say hello."))
    assert response.status_code == 200, response.text
    expected = vlm.generate(
        [], model_messages("Say hello.", 0), prune=PruneConfig(), max_new_tokens=MAX_TOKENS
    )
    body = response.json()
    assert body["choices"][0]["message"]["content"] == expected.text
    assert body["usage"]["prompt_tokens"] == expected.prompt_tokens
    prune = body["usage"]["pixelprune"]
    assert prune["image_tokens_full"] == prune["image_tokens_kept"] == 0


def test_pruning_follows_the_request_then_the_server_default(url, engine, vlm, shots):
    images = [data_url(shots[0]), data_url(shots[1])]
    on = post(url, payload("Open the menu.", *images)).json()["usage"]
    off_body = post(url, payload("Open the menu.", *images, pixelprune={"enabled": False})).json()
    off = off_body["usage"]
    assert off["pixelprune"]["pruned"] is False and "images" not in off["pixelprune"]
    assert off["pixelprune"]["method"] is None and off["pixelprune"]["tau"] is None
    full = off["pixelprune"]["image_tokens_full"]
    assert off["pixelprune"]["image_tokens_kept"] == full == on["pixelprune"]["image_tokens_full"]
    kept = on["pixelprune"]["image_tokens_kept"]
    assert kept < full
    assert on["prompt_tokens"] == off["prompt_tokens"] - (full - kept)
    plain = vlm.generate(shots[:2], model_messages("Open the menu.", 2), max_new_tokens=MAX_TOKENS)
    assert off["prompt_tokens"] == plain.prompt_tokens
    assert off_body["choices"][0]["message"]["content"] == plain.text
    lossy = {"method": "raster", "tau": 0.2, "metric": "mae", "anchored": False}
    tuned = post(url, payload("Open the menu.", *images, pixelprune=lossy)).json()["usage"]
    assert {k: tuned["pixelprune"][k] for k in lossy} == lossy
    assert tuned["pixelprune"]["image_tokens_kept"] <= kept
    with running_server(create_app(engine, settings(default_prune=None))) as unpruned:
        default = post(unpruned.url, payload("Open the menu.", *images)).json()["usage"]
        asked = post(unpruned.url, payload("Open the menu.", *images, pixelprune={})).json()
    assert (
        default["pixelprune"]["pruned"] is False
        and default["prompt_tokens"] == off["prompt_tokens"]
    )
    assert asked["usage"]["pixelprune"]["image_tokens_kept"] == kept
    assert asked["usage"]["prompt_tokens"] == on["prompt_tokens"]


def test_api_key_guards_every_path(engine, shots):
    with running_server(create_app(engine, settings(api_key="s3cret"))) as server:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            for path in ("/health", "/v1/models", "/no/such/path"):
                response = httpx.get(f"{server.url}{path}", headers=headers)
                assert_error(response, 401, "authentication_error", "invalid_api_key")
                assert response.headers["www-authenticate"] == "Bearer"
            response = post(server.url, payload("hi", data_url(shots[0])), headers=headers)
            assert_error(response, 401, "authentication_error", "invalid_api_key")
        good = {"Authorization": "Bearer s3cret"}
        assert httpx.get(f"{server.url}/health", headers=good).status_code == 200
        response = post(server.url, payload("hi", data_url(shots[0])), headers=good)
        assert response.status_code == 200, response.text


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def b64_url(data: bytes, media: str = "image/png") -> str:
    return f"data:{media};base64," + base64.b64encode(data).decode()


def noise(width: int, height: int) -> Image.Image:
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def bad_requests(shot: Image.Image, file_root: Path) -> dict[str, tuple[Any, int, str, str]]:
    """name → (body, or raw bytes; status; error type; error code)."""
    good = data_url(shot)
    invalid = "invalid_request_error"
    prune = "invalid_pixelprune"
    messages = payload("x", good)["messages"]
    return {
        "malformed json": (b'{"model": ', 400, invalid, "invalid_json"),
        "nan": (
            b'{"model": "' + MODEL_ID.encode() + b'", "temperature": NaN}',
            400,
            invalid,
            "invalid_json",
        ),
        "not an object": ([1, 2], 400, invalid, "invalid_body"),
        "no model": ({"messages": messages}, 400, invalid, "missing_field"),
        "unknown model": (
            {"model": "gpt-4o", "messages": messages},
            404,
            "not_found_error",
            "model_not_found",
        ),
        "no messages": ({"model": MODEL_ID}, 400, invalid, "missing_field"),
        "empty messages": ({"model": MODEL_ID, "messages": []}, 400, invalid, "invalid_messages"),
        "bad role": (
            {"model": MODEL_ID, "messages": [{"role": "tool", "content": "x"}]},
            400,
            invalid,
            "invalid_messages",
        ),
        "bad part": (
            payload("x") | {"messages": [{"role": "user", "content": [{"type": "audio"}]}]},
            400,
            invalid,
            "invalid_messages",
        ),
        "image token in text": (
            payload("look <|image_pad|>", good),
            400,
            invalid,
            "invalid_messages",
        ),
        "undecodable image": (
            payload("x", b64_url(b"definitely not a png")),
            400,
            invalid,
            "invalid_image",
        ),
        "truncated image": (
            payload("x", b64_url(png_bytes(shot)[:400])),
            400,
            invalid,
            "invalid_image",
        ),
        "bad base64": (payload("x", "data:image/png;base64,@@@@"), 400, invalid, "invalid_image"),
        "not an image type": (
            payload("x", b64_url(png_bytes(shot), "text/plain")),
            400,
            invalid,
            "invalid_image_url",
        ),
        "remote url": (
            payload("x", "https://example.com/a.png"),
            400,
            invalid,
            "invalid_image_url",
        ),
        "oversized image": (
            payload("x", data_url(noise(400, 300))),
            413,
            invalid,
            "image_too_large",
        ),
        "too many images": (payload("x", good, good, good), 400, invalid, "too_many_images"),
        "file outside root": (
            payload("x", (file_root.parent / "outside.png").as_uri()),
            403,
            "permission_error",
            "file_url_outside_root",
        ),
        "file escaping root": (
            payload("x", f"file://{file_root}/../outside.png"),
            403,
            "permission_error",
            "file_url_outside_root",
        ),
        "missing file": (
            payload("x", (file_root / "nope.png").as_uri()),
            400,
            invalid,
            "invalid_image_url",
        ),
        "pixelprune not an object": (payload("x", good, pixelprune="yes"), 400, invalid, prune),
        "unknown method": (payload("x", good, pixelprune={"method": "magic"}), 400, invalid, prune),
        "negative tau": (payload("x", good, pixelprune={"tau": -1}), 400, invalid, prune),
        "tau as text": (payload("x", good, pixelprune={"tau": "0"}), 400, invalid, prune),
        "lossy global": (
            payload("x", good, pixelprune={"method": "global", "tau": 0.1}),
            400,
            invalid,
            prune,
        ),
        "unknown prune field": (payload("x", good, pixelprune={"level": 3}), 400, invalid, prune),
        "off with options": (
            payload("x", good, pixelprune={"enabled": False, "tau": 0}),
            400,
            invalid,
            prune,
        ),
        "zero max_tokens": (payload("x", good, max_tokens=0), 400, invalid, "invalid_value"),
        "streaming": (payload("x", good, stream=True), 400, invalid, "unsupported"),
        "n=2": (payload("x", good, n=2), 400, invalid, "unsupported"),
        "extreme aspect ratio": (
            payload("x", data_url(Image.new("RGB", (2000, 8)))),
            400,
            invalid,
            "invalid_image",
        ),
    }


def test_bad_input_gets_an_error_body_and_the_server_lives_on(url, shots, file_root):
    for name, (body, status, kind, code) in bad_requests(shots[0], file_root).items():
        if isinstance(body, bytes):
            response = httpx.post(
                f"{url}/v1/chat/completions", content=body, timeout=60, headers=JSON
            )
        else:
            response = post(url, body)
        try:
            assert_error(response, status, kind, code)
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from None
    too_big = b'{"model": "' + b"x" * settings().max_body_bytes + b'"}'
    response = httpx.post(f"{url}/v1/chat/completions", content=too_big, timeout=60, headers=JSON)
    assert_error(response, 413, "invalid_request_error", "body_too_large")
    assert_error(httpx.get(f"{url}/v1/chat/completions"), 405, "invalid_request_error", None)
    assert httpx.get(f"{url}/health").json()["status"] == "ok"
    ok = post(url, payload("x", (file_root / "shot.png").as_uri()))
    assert ok.status_code == 200, ok.text


def test_file_urls_are_refused_unless_a_folder_is_allowed(engine, file_root):
    with running_server(create_app(engine, settings())) as server:
        response = post(server.url, payload("x", (file_root / "shot.png").as_uri()))
    assert_error(response, 403, "permission_error", "file_urls_disabled")


class GatedVLM:
    """The tiny model behind a gate: batches wait until the test opens it.

    A request whose text says "boom" makes its batch fail, as a model error would.
    """

    def __init__(self, vlm: LocalVLM) -> None:
        self.vlm, self.loaded = vlm, vlm.loaded
        self.gate = threading.Event()
        self.batch_sizes: list[int] = []

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        return self.vlm.input_size(width, height)

    @property
    def context_length(self) -> int:
        return self.vlm.context_length

    def prompt_tokens(self, request) -> int:
        return self.vlm.prompt_tokens(request)

    def generate_batch(self, requests, **options):
        assert self.gate.wait(60)
        self.batch_sizes.append(len(requests))
        if any("boom" in json.dumps(request.messages) for request in requests):
            raise RuntimeError("boom")
        return self.vlm.generate_batch(requests, **options)


@contextmanager
def gated_server(vlm: LocalVLM, **limits: int) -> Iterator[tuple[str, GatedVLM]]:
    gated = GatedVLM(vlm)
    engine = Engine(gated, **limits)  # type: ignore[arg-type]
    try:
        with running_server(create_app(engine, settings())) as server:
            yield server.url, gated
    finally:
        gated.gate.set()
        engine.close()


def in_thread(function: Callable[[], httpx.Response]) -> Callable[[], httpx.Response]:
    """Start `function` now; the returned callable joins it and gives its response."""
    box: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: box.append(function()), daemon=True)
    thread.start()

    def join() -> httpx.Response:
        thread.join(60)
        return box[0]

    return join


def raw_request(url: str, body: dict[str, Any]) -> socket.socket:
    """A chat request sent on a bare socket, so the test decides when the client goes away."""
    host, port = httpx.URL(url).host, httpx.URL(url).port
    data = json.dumps(body).encode()
    sock = socket.create_connection((host, port))
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    sock.sendall(head.encode() + data)
    return sock


def test_full_queue_refuses_and_a_gone_client_frees_its_place(vlm, shots):
    request = payload("Scroll down.", data_url(shots[0]))
    with gated_server(vlm, max_concurrency=1, max_queue=1) as (url, gated):
        first = in_thread(lambda: post(url, request))
        wait_until(lambda: queue(url)["running"] == 1)
        leaving = raw_request(url, request)
        wait_until(lambda: queue(url)["waiting"] == 1)
        assert_error(post(url, request), 503, "server_error", "queue_full")
        leaving.close()
        wait_until(lambda: queue(url)["waiting"] == 0)
        assert queue(url)["running"] == 1
        later = in_thread(lambda: post(url, request))
        wait_until(lambda: queue(url)["waiting"] == 1)
        gated.gate.set()
        answers = [first(), later()]
        assert [a.status_code for a in answers] == [200, 200]
        assert answers[0].json()["choices"] == answers[1].json()["choices"]
        assert gated.batch_sizes == [1, 1]  # the request that left was never run
        stats = queue(url)
        assert (stats["running"], stats["waiting"], stats["served"]) == (0, 0, 2)


def test_concurrent_requests_each_get_their_own_answer(vlm, shots):
    texts = [f"Task {i}: click the {'very ' * i}big button." for i in range(len(shots))]
    expected = [
        vlm.generate([shot], model_messages(text, 1), prune=PruneConfig(), max_new_tokens=4)
        for shot, text in zip(shots, texts, strict=True)
    ]
    assert len({e.prompt_tokens for e in expected}) == len(expected)  # a mix-up would show
    with gated_server(vlm, max_concurrency=4, max_queue=8) as (url, gated):
        bodies = [payload(t, data_url(s), max_tokens=4) for t, s in zip(texts, shots, strict=True)]
        bodies.insert(3, payload("boom", data_url(shots[0]), max_tokens=4))
        pending = []
        for number, body in enumerate(bodies):
            pending.append(in_thread(lambda body=body: post(url, body)))
            wait_until(lambda n=number: held(url) == n + 1)  # the queue order is known
        gated.gate.set()
        responses = [join() for join in pending]
    boom = responses.pop(3)
    assert_error(boom, 500, "server_error", "model_error")
    assert "boom" in boom.json()["error"]["message"]
    for response, want in zip(responses, expected, strict=True):
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["choices"][0]["message"]["content"] == want.text
        assert body["usage"]["prompt_tokens"] == want.prompt_tokens
        assert body["usage"]["pixelprune"]["image_tokens_kept"] == want.image_tokens_kept
    assert len({r.json()["id"] for r in responses}) == len(responses)
    # one alone while the gate was shut, then batches of 4; the failed batch retried one by one
    assert gated.batch_sizes[:3] == [1, 4, 1] and max(gated.batch_sizes) == 4


class CrossedWires(GatedVLM):
    """After `honest` answers, every answer goes to the request after the one it was for."""

    def __init__(self, vlm: LocalVLM, honest: int) -> None:
        super().__init__(vlm)
        self.gate.set()
        self.honest, self.answered, self.held = honest, 0, None

    def generate_batch(self, requests, **options):
        results = self.vlm.generate_batch(requests, **options)
        self.answered += len(results)
        if self.answered <= self.honest:
            self.held = results[-1]
            return results
        shifted = [self.held, *results[:-1]]
        self.held = results[-1]
        return shifted


def test_load_script_catches_an_answer_given_to_the_wrong_request(vlm, shots):
    args = argparse.Namespace(agents=2, requests=1, max_tokens=1, max_seconds=60, api_key=None)
    images = [data_url(shot) for shot in shots[:2]]
    for wires, verdict in ((GatedVLM(vlm), 0), (CrossedWires(vlm, honest=2), 1)):
        wires.gate.set()
        engine = Engine(wires, max_concurrency=2, max_queue=4)  # type: ignore[arg-type]
        try:
            with running_server(create_app(engine, settings())) as server:
                assert load_server.run_load(args, server.url, MODEL_ID, images) == verdict
        finally:
            engine.close()


def test_serve_command_refuses_bad_setups_with_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # main.main() rewrites it
    assert cli.main(["serve", "--model", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as refused:  # argparse's own error, before any work
        cli.main(["serve", "--model", str(tmp_path), "--prune", "magic:0"])
    assert refused.value.code == 2 and "unknown method 'magic'" in capsys.readouterr().err
    args = ["serve", "--model", str(tmp_path / "missing"), "--host", "0.0.0.0", "--port", "0"]
    assert cli.main(args) == 2
    assert "WITHOUT an API key" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert cli.main(["serve", "--model", str(tmp_path), "--port", port]) == 2
    assert "cannot listen" in capsys.readouterr().err


def test_serve_command_serves_until_ctrl_c(tiny_model_dirs, shots, monkeypatch):
    """The command in this process: SIGINT (Ctrl+C) to ourselves once a request was answered."""
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    model = str(tiny_model_dirs["qwen2.5"])
    sockets: list[socket.socket] = []
    monkeypatch.setattr(runner, "bind", lambda *a: sockets.append(bind(*a)) or sockets[-1])
    returned, responses = threading.Event(), []

    def client() -> None:
        try:
            wait_until(lambda: sockets or returned.is_set())
            url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
            body = payload("hi", data_url(shots[0])) | {"model": model}
            responses.append(post(url, body))  # waits in the backlog while the model loads
        finally:
            if not returned.is_set():
                os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    try:
        status = cli.main(["serve", "--model", model, "--quant", "none", "--port", "0"])
    finally:
        returned.set()
    thread.join(60)
    assert status == 0
    assert responses[0].status_code == 200, responses[0].text
    assert responses[0].json()["usage"]["pixelprune"]["pruned"] is True


# ---- limits and hardening: each of these was a way to hold or misuse the server ----------------


def test_a_prompt_longer_than_the_context_is_refused_before_the_model(url, engine, vlm):
    served = queue(url)["served"]
    words = "click the button " * 60_000  # ~1 MB of text: far past the 32k-token context
    response = post(url, payload(words))
    assert_error(response, 400, "invalid_request_error", "context_length_exceeded")
    message = response.json()["error"]["message"]
    assert f"at most {vlm.context_length - MAX_TOKENS}" in message
    assert queue(url)["served"] == served  # the model never saw it


def test_prompt_tokens_count_what_the_model_will_be_given(vlm, shots):
    from agent.backends.local import Request

    for count in (0, 1, 2):
        request = Request(shots[:count], model_messages("Open the menu.", count))
        reply = vlm.generate_batch([request], prune=None, max_new_tokens=1)[0]
        assert vlm.prompt_tokens(request) == reply.prompt_tokens


def test_a_prompt_token_cap_of_the_server(engine, shots):
    capped = settings(max_prompt_tokens=60)
    with running_server(create_app(engine, capped)) as server:
        assert post(server.url, payload("hi")).status_code == 200
        response = post(server.url, payload("hi", data_url(shots[0])))
        assert_error(response, 400, "invalid_request_error", "context_length_exceeded")
        assert "at most 60" in response.json()["error"]["message"]


def test_a_cancelled_request_gets_no_more_tokens(vlm, shots):
    from agent.backends.local import Request

    going = Request([shots[0]], model_messages("Describe it.", 1))
    gone = Request([shots[1]], model_messages("Describe it.", 1))
    gone.cancelled.set()
    full, cut = vlm.generate_batch([going, gone], prune=None, max_new_tokens=8)
    assert len(cut.token_ids) == 1 and not cut.stopped  # the prefill's token, then nothing
    alone = vlm.generate([shots[0]], model_messages("Describe it.", 1), max_new_tokens=8)
    assert full.token_ids == alone.token_ids  # the other prompt of the batch is unharmed


class RunningVLM(GatedVLM):
    """A model that stays inside its decode loop until the request is cancelled."""

    def generate_batch(self, requests, **options):
        self.batch_sizes.append(len(requests))
        self.gate.set()  # running now
        for request in requests:
            assert request.cancelled.wait(60)
        return self.vlm.generate_batch(requests, **options)


def test_a_client_that_leaves_ends_its_running_request(vlm, shots):
    running = RunningVLM(vlm)
    engine = Engine(running, max_concurrency=1, max_queue=1)  # type: ignore[arg-type]
    try:
        with running_server(create_app(engine, settings())) as server:
            leaving = raw_request(server.url, payload("Scroll down.", data_url(shots[0])))
            assert running.gate.wait(30)
            assert queue(server.url)["running"] == 1
            leaving.close()
            wait_until(lambda: queue(server.url)["running"] == 0)
            assert queue(server.url)["served"] == 1
    finally:
        engine.close(timeout=30)


def test_a_batch_holds_at_most_its_pixel_budget(vlm, shots):
    pixels = shots[0].width * shots[0].height
    gated = GatedVLM(vlm)
    engine = Engine(gated, max_concurrency=4, max_queue=8, max_batch_pixels=2 * pixels)  # type: ignore[arg-type]
    budget = settings(max_image_pixels=pixels, max_batch_pixels=2 * pixels)
    request = payload("Scroll down.", data_url(shots[0]))
    try:
        with running_server(create_app(engine, budget)) as server:
            pending = []
            for n in range(5):
                pending.append(in_thread(lambda: post(server.url, request)))
                wait_until(lambda n=n: held(server.url) == n + 1)
            gated.gate.set()
            assert [join().status_code for join in pending] == [200] * 5
            two = post(server.url, payload("x", data_url(shots[0]), data_url(shots[0])))
            assert two.status_code == 200, two.text  # exactly the budget
    finally:
        gated.gate.set()
        engine.close()
    assert gated.batch_sizes[0] == 1 and max(gated.batch_sizes) == 2  # never 4 at 2 images' room


def test_images_past_the_pixel_budget_are_refused_413(engine, shots):
    pixels = shots[0].width * shots[0].height
    budget = settings(max_images=3, max_image_pixels=pixels, max_batch_pixels=2 * pixels)
    with running_server(create_app(engine, budget)) as server:
        response = post(server.url, payload("x", *[data_url(shots[0])] * 3))
    assert_error(response, 413, "invalid_request_error", "too_many_pixels")
    assert "image 3" in response.json()["error"]["message"]


def test_only_json_bodies_and_this_servers_host_names(engine):
    hosts = frozenset({"localhost", "127.0.0.1", "::1"})
    with running_server(create_app(engine, settings(allowed_hosts=hosts))) as server:
        body = json.dumps(payload("hi")).encode()
        chat = f"{server.url}/v1/chat/completions"
        plain = httpx.post(chat, content=body, headers={"content-type": "text/plain"})
        assert_error(plain, 415, "invalid_request_error", "unsupported_media_type")
        form = httpx.post(
            chat, content=body, headers={"content-type": "application/x-www-form-urlencoded"}
        )
        assert_error(form, 415, "invalid_request_error", "unsupported_media_type")
        for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example"):
            rebound = httpx.get(f"{server.url}/health", headers={"host": host})
            assert_error(rebound, 421, "invalid_request_error", "misdirected_request")
        port = server.port
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "LOCALHOST"):
            assert httpx.get(f"{server.url}/health", headers={"host": host}).status_code == 200
        ok = httpx.post(
            chat, content=body, headers={"content-type": "application/json; charset=utf-8"}
        )
        assert ok.status_code == 200, ok.text


def test_one_answer_for_any_path_outside_the_folder(url, file_root):
    outside = [
        (file_root.parent / "outside.png").as_uri(),  # exists
        (file_root.parent / "not-there.png").as_uri(),  # does not
        f"file://{file_root}/../not-there-either.png",
        "file:///etc/passwd",
        "file:///no/such/dir/x.png",
    ]
    answers = [post(url, payload("x", uri)) for uri in outside]
    for answer in answers:
        assert_error(answer, 403, "permission_error", "file_url_outside_root")
    assert len({answer.text for answer in answers}) == 1


def test_the_body_is_parsed_off_the_event_loop(engine, monkeypatch):
    from agent.server import app as server_app

    parsing, release = threading.Event(), threading.Event()
    original = server_app.parse_chat_request

    def slow_parse(data, settings):
        parsing.set()
        assert release.wait(30)
        return original(data, settings)

    monkeypatch.setattr(server_app, "parse_chat_request", slow_parse)
    with running_server(create_app(engine, settings())) as server:
        pending = in_thread(lambda: post(server.url, payload("hi")))
        assert parsing.wait(30)
        health = httpx.get(f"{server.url}/health", timeout=10)  # answered while parsing
        release.set()
        assert health.status_code == 200 and pending().status_code == 200


def test_a_slow_body_is_cut_off(engine):
    with running_server(create_app(engine, settings(body_seconds=0.5))) as server:
        host, port = "127.0.0.1", server.port
        with socket.create_connection((host, port)) as sock:
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
            )
            sock.settimeout(30)
            answer = whole_response(sock)
    assert answer.startswith("HTTP/1.1 408") and "request_timeout" in answer


def whole_response(sock: socket.socket) -> str:
    """One HTTP response, headers and the body they announce: a single `recv` may return the
    headers alone, the body following in another segment."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return data.decode()
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?i)content-length:\s*(\d+)", head)
    while length is not None and len(body) < int(length.group(1)):
        chunk = sock.recv(4096)
        if not chunk:
            break
        body += chunk
    return (head + b"\r\n\r\n" + body).decode()


def test_an_empty_api_key_is_refused_not_read_as_none(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    assert cli.main(["serve", "--model", str(tmp_path), "--api-key", ""]) == 2
    assert "--api-key is empty" in capsys.readouterr().err
    monkeypatch.setenv("PIXELPRUNE_API_KEY", "")
    assert cli.main(["serve", "--model", str(tmp_path)]) == 2
    assert "PIXELPRUNE_API_KEY is set but empty" in capsys.readouterr().err


@contextmanager
def serve_process(model: Path, *options: str, key: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """`main.py serve` as its own process, as a user starts it; yields it and its URL."""
    command = [sys.executable, "main.py", "serve", "--model", str(model), "--quant", "none"]
    env = {**os.environ, "PIXELPRUNE_API_KEY": key}
    process = subprocess.Popen(
        [*command, "--port", "0", *options],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = ""
        while "serving" not in line:
            line = process.stderr.readline()
            assert line or process.poll() is None, "the server exited before serving"
        # what decides each token, and how each step runs, is said at start
        assert "decoding: greedy, eager decode step;" in line
        yield process, line.split(" on ", 1)[1].split()[0]
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)


def test_serve_command_outlives_idle_sockets_and_ends_gracefully_on_sigterm(tiny_model_dirs, shots):
    key = {"Authorization": "Bearer s3cret"}
    model = tiny_model_dirs["qwen2.5"]
    options = ("--max-concurrency", "1", "--max-queue", "3")
    with serve_process(model, *options, key="s3cret") as (process, url):
        host, port = httpx.URL(url).host, httpx.URL(url).port
        idle = [socket.create_connection((host, port)) for _ in range(100)]
        try:
            body = payload("hi", data_url(shots[0])) | {"model": str(model)}
            answered = post(url, body, headers=key)
            assert answered.status_code == 200, answered.text  # 100 idle sockets hold nothing
            assert_error(post(url, body), 401, "authentication_error", "invalid_api_key")
            long = body | {"max_tokens": 4096}
            pending = []
            for n in range(3):
                pending.append(in_thread(lambda: post(url, long, headers=key)))
                wait_until(lambda n=n: held_with(url, key) == n + 1)
            process.send_signal(signal.SIGTERM)
            answers = [join() for join in pending]
            stderr = process.stderr.read()
            assert process.wait(60) == 0, stderr
        finally:
            for sock in idle:
                sock.close()
    refused = [a for a in answers if a.status_code != 200]
    assert refused, "a waiting request must have been refused"
    for answer in refused:
        assert_error(answer, 503, "server_error", "shutting_down")
    assert "Traceback" not in stderr


def held_with(url: str, headers: dict[str, str]) -> int:
    stats = httpx.get(f"{url}/health", headers=headers, timeout=10).json()["queue"]
    return stats["running"] + stats["waiting"]


def test_the_soak_mode_mixes_good_and_bad_requests_and_loses_none(
    engine, shots, capsys, monkeypatch
):
    from agent.server import runner

    for module in (runner, load_server):  # a 2 s head deadline, so slow heads fit the soak
        monkeypatch.setattr(module, "HEADER_SECONDS", 2.0)
    monkeypatch.setattr(load_server, "TRICKLE_SECONDS", 0.5)
    args = argparse.Namespace(agents=3, soak=3.0, max_tokens=1, max_seconds=60, api_key=None)
    images = [data_url(shot) for shot in shots[:3]]
    with running_server(create_app(engine, settings())) as server:
        verdict = load_server.run_soak(args, server.url, MODEL_ID, images, os.getpid())
    out = capsys.readouterr().out
    assert verdict == 0, out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert "lost 0" in rows["good"] and "answered 0," not in rows["good"]
    assert "refused 0" not in rows["malformed"] and "refused 0" not in rows["oversized"]
    assert "refused 0" not in rows["slow-header"] and "lost 0" in rows["slow-header"]
    assert "MiB at start" in out and "healthy: True" in out


def test_the_host_names_a_server_answers_to():
    from agent.commands.serve import allowed_hosts
    from agent.server.app import host_name

    assert allowed_hosts("127.0.0.1", None) == {"127.0.0.1", "localhost", "::1"}
    assert allowed_hosts("::1", None) == {"127.0.0.1", "localhost", "::1"}
    assert allowed_hosts("192.168.1.5", None) == {"192.168.1.5"}
    assert allowed_hosts("0.0.0.0", None) is None  # any name reaches a wildcard address
    assert allowed_hosts("0.0.0.0", ["GPU-Box", "gpu-box.lan"]) == {"gpu-box", "gpu-box.lan"}
    for header, name in [
        (b"localhost:8000", "localhost"),
        (b"[::1]:8000", "::1"),
        (b"[::1]", "::1"),
        (b"Example.COM", "example.com"),
        (b"", ""),
    ]:
        assert host_name(header) == name
