"""The remote backend against real HTTP servers on loopback playing vLLM and this project's server.

`FakeServer` is a small Chat Completions server: it decodes every data URL back to pixels, keeps
each request, and answers as told. As "vLLM" it lists its model under another owner and reports
no `usage.pixelprune`; as "pixelprune" it lists it as owned by pixelprune-agent and prunes the
images it received with `pixelprune.select` on the model's resize, as protocol.md says.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import DATA
from desktop import require_display
from fakes import FakeScreen, StillCapture
from main_process import run_main
from PIL import Image

from agent.actions import Click, Point, Space
from agent.backends.remote import (
    AuthenticationError,
    BadRequestError,
    ImageTooLargeError,
    OpenAICompatibleBackend,
    RemoteModelError,
    ServerUnavailableError,
    UnknownModelError,
)
from agent.backends.scripted import ScriptedBackend
from agent.coords import Monitor
from agent.errors import ModelError
from agent.loop import Agent
from agent.messages import PastStep, Prompt
from agent.models import family_for_model
from agent.parsers.uitars import UITarsParser
from agent.settings import ModelSpec
from agent.trajectory import load_run
from pixelprune import PruneConfig, resize_for_model, select

ROOT = Path(__file__).resolve().parents[1]
MODEL = "ByteDance-Seed/UI-TARS-1.5-7B"
SCREEN = Image.open(DATA / "desktop-xterm-1920x1080.png").convert("RGB")
OTHER = Image.open(DATA / "window-chromium-1920x1080.png").convert("RGB")
CLICK = "Thought: open it\nAction: click(start_box='(966,546)')"  # centre of 1932x1092
FINISH = "Thought: all done\nAction: finished(content='done')"
KEY = "sk-test-9f8e7d6c5b4a"


@dataclass
class Reply:
    """What the fake server answers to one chat request."""

    text: str = FINISH
    status: int = 200  # 0: close the connection without answering
    error: str = ""  # the message of an error body
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    images: list[Image.Image]  # the decoded image_url parts, in order


class FakeServer:
    """A Chat Completions server on 127.0.0.1 that plays vLLM or this project's server."""

    def __init__(self, kind: str = "vllm", *, models: tuple[str, ...] = (MODEL,)) -> None:
        self.kind = kind
        self.models = models
        self.replies: list[Reply] = []  # answered in order; then FINISH
        self.api_key: str | None = None  # when set, requests need it as Bearer
        self.received: list[Received] = []
        self.broken = False  # when set, answers 200 with a body that is not a completion
        self.max_pixels: int | None = None  # the processor bound it resizes with; None: stock
        self.masks: list[list[np.ndarray]] = []  # per pruned request, the keep masks it sent
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._handle(self, "GET")

            def do_POST(self) -> None:
                server._handle(self, "POST")

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/v1"
        self.thread = threading.Thread(
            target=self.http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def chats(self) -> list[Received]:
        return [r for r in self.received if r.path == "/v1/chat/completions"]

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        images = decode_images(body) if body else []
        self.received.append(
            Received(method, handler.path, dict(handler.headers.items()), body, images)
        )
        if self.api_key is not None and handler.headers.get("Authorization") != (
            f"Bearer {self.api_key}"
        ):
            sent = handler.headers.get("Authorization", "")
            return send(handler, 401, error_body(f"Invalid API key: {sent}"))
        if method == "GET" and handler.path == "/v1/models":
            owner = "pixelprune-agent" if self.kind == "pixelprune" else "vllm"
            data = [{"id": m, "object": "model", "owned_by": owner} for m in self.models]
            return send(handler, 200, {"object": "list", "data": data})
        if method != "POST" or handler.path != "/v1/chat/completions":
            return send(handler, 404, {"detail": "Not Found"})
        reply = self.replies.pop(0) if self.replies else Reply()
        time.sleep(reply.delay)
        if reply.status == 0:  # hang up without an answer
            handler.close_connection = True
            return None
        if reply.status != 200:
            return send(handler, reply.status, error_body(reply.error), reply.headers)
        if body["model"] not in self.models:
            return send(handler, 404, error_body(f"The model `{body['model']}` does not exist."))
        if self.broken:
            return send(handler, 200, {"choices": []})
        send(handler, 200, self._completion(body, images, reply.text))

    def _completion(
        self, body: dict[str, Any], images: list[Image.Image], text: str
    ) -> dict[str, Any]:
        usage: dict[str, Any] = {"prompt_tokens": 1000 + len(images), "completion_tokens": 9}
        usage["total_tokens"] = usage["prompt_tokens"] + 9
        if self.kind == "pixelprune":
            usage["pixelprune"] = self._prune(body.get("pixelprune") or {}, images)
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }

    def _prune(self, config: dict[str, Any], images: list[Image.Image]) -> dict[str, Any]:
        """What this project's server reports: real selections on the model's resize."""
        resized = [
            resize_for_model(image, "qwen2.5", max_pixels=self.max_pixels) for image in images
        ]
        full = sum((a.shape[0] // 28) * (a.shape[1] // 28) for a in resized)
        timings = {"queue": 1.0, "preprocess": 2.0, "prune": 3.0, "vision": 40.0}
        timings |= {"prefill": 50.0, "decode": 60.0, "total": 170.0}
        if config.get("enabled") is False:
            return {
                "pruned": False,
                "method": None,
                "tau": None,
                "image_tokens_full": full,
                "image_tokens_kept": full,
                "timings_ms": timings,
            }
        method, tau = config.get("method", "pred_2d"), config.get("tau", 0.0)
        selections = [select(a, cell=28, method=method, tau=tau, seed=0) for a in resized]
        self.masks.append([s.keep for s in selections])
        entries = []
        for s in selections:
            rows, cols = s.grid
            packed = np.packbits(s.keep.ravel()).tobytes()
            entries.append(
                {
                    "rows": rows,
                    "cols": cols,
                    "cell": 28,
                    "keep": base64.b64encode(packed).decode(),
                }
            )
        return {
            "pruned": True,
            "method": method,
            "tau": tau,
            "image_tokens_full": full,
            "image_tokens_kept": sum(s.n_kept for s in selections),
            "images": entries,
            "timings_ms": timings,
        }


def decode_images(body: dict[str, Any]) -> list[Image.Image]:
    images = []
    for message in body.get("messages", []):
        content = message.get("content")
        for part in content if isinstance(content, list) else []:
            if part["type"] == "image_url":
                header, payload = part["image_url"]["url"].split(",", 1)
                assert header == "data:image/png;base64"
                images.append(Image.open(io.BytesIO(base64.b64decode(payload))))
    return images


def error_body(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": None}}


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)


@contextmanager
def serving(kind: str = "vllm", **options: Any) -> Iterator[FakeServer]:
    server = FakeServer(kind, **options)
    server.thread.start()
    try:
        yield server
    finally:
        server.http.shutdown()
        server.http.server_close()


@contextmanager
def remote(server: FakeServer, **options: Any) -> Iterator[OpenAICompatibleBackend]:
    settings: dict[str, Any] = {"retries": 0, "backoff": 0.01, **options}
    url, model = settings.pop("url", server.url), settings.pop("model", MODEL)
    backend = OpenAICompatibleBackend(url, model, **settings)
    try:
        yield backend
    finally:
        backend.close()


def uitars_prompt() -> Prompt:
    """A real parser's prompt: one earlier step with its screenshot, then the current one."""
    history = [PastStep(CLICK, None, OTHER)]
    return UITarsParser().build_prompt("open the terminal", history, SCREEN, (1932, 1092))


def ask(backend: OpenAICompatibleBackend, prune: PruneConfig | None = None, **kw: Any):
    return backend.complete(uitars_prompt(), prune=prune, max_new_tokens=kw.get("tokens", 64))


# --- prompts, replies and pruning -----------------------------------------------------------


def test_messages_and_images_arrive_intact():
    prompt = uitars_prompt()
    with serving() as server, remote(server) as backend:
        backend.complete(prompt, prune=None, max_new_tokens=77)
    [chat] = server.chats()
    body = chat.body
    assert (body["model"], body["max_tokens"], body["temperature"]) == (MODEL, 77, 0)
    assert "pixelprune" not in body  # vLLM does not take the extension
    assert [m["role"] for m in body["messages"]] == [m["role"] for m in prompt.messages]
    for sent, original in zip(body["messages"], prompt.messages, strict=True):
        parts = original["content"]
        if all(p["type"] == "text" for p in parts):
            assert sent["content"] == "".join(p["text"] for p in parts)
        else:
            assert [p["type"] for p in sent["content"]] == [
                "image_url" if p["type"] == "image" else "text" for p in parts
            ]
    assert len(chat.images) == 2
    for received, original in zip(chat.images, prompt.images, strict=True):
        assert np.array_equal(np.asarray(received.convert("RGB")), np.asarray(original))
    assert np.array_equal(np.asarray(chat.images[1]), np.asarray(SCREEN))  # current one last


def test_a_server_without_pixelprune_leaves_pruning_unknown(caplog):
    with serving() as server, remote(server) as backend, caplog.at_level(logging.WARNING):
        first = ask(backend, PruneConfig())
        second = ask(backend, PruneConfig())
    assert first.text == FINISH and first.prompt_tokens == 1002
    for reply in (first, second):
        assert reply.image_tokens_full is None and reply.image_tokens_kept is None
        assert reply.selections is None
        assert set(reply.timings) == {"total"} and reply.timings["total"] > 0
    assert all("pixelprune" not in chat.body for chat in server.chats())
    warnings = [r for r in caplog.records if "does not report PixelPrune" in r.message]
    assert len(warnings) == 1 and "127.0.0.1" in warnings[0].message


def test_pixelprune_server_gets_the_request_and_its_masks_come_back_as_selections():
    prune = PruneConfig(method="pred_2d", tau=0.0, metric="max", anchored=True)
    with serving("pixelprune") as server, remote(server) as backend:
        reply = ask(backend, prune)
        unpruned = ask(backend, None)
    sent = [chat.body["pixelprune"] for chat in server.chats()]
    assert sent == [
        {"method": "pred_2d", "tau": 0.0, "metric": "max", "anchored": True},
        {"enabled": False},
    ]
    [masks] = server.masks
    assert len(reply.selections) == 2
    for selection, mask, image in zip(reply.selections, masks, uitars_prompt().images, strict=True):
        assert np.array_equal(selection.keep, mask) and selection.keep.shape == (39, 69)
        assert (selection.method, selection.tau, selection.cell) == ("pred_2d", 0.0, 28)
        assert selection.source is None and math.isnan(selection.seconds)
        local = select(resize_for_model(image, "qwen2.5"), cell=28, seed=0)
        assert np.array_equal(selection.keep, local.keep)  # same pixels, same decision
    assert reply.image_tokens_full == 2 * 39 * 69
    assert reply.image_tokens_kept == sum(s.n_kept for s in reply.selections)
    assert reply.image_tokens_kept < reply.image_tokens_full
    assert reply.timings["vision"] == pytest.approx(0.04)
    assert reply.timings["server"] == pytest.approx(0.17) and reply.timings["total"] > 0
    assert reply.vision_cache_hits is None and reply.vision_tokens_encoded is None  # unreported
    assert unpruned.selections is None
    assert unpruned.image_tokens_kept == unpruned.image_tokens_full == 2 * 39 * 69


def test_a_server_resizing_otherwise_is_an_error_until_the_client_knows_its_bounds():
    bounds = 1280 * 28 * 28
    with serving("pixelprune") as server:
        server.max_pixels = bounds
        with remote(server) as backend, pytest.raises(RemoteModelError) as error:
            ask(backend, PruneConfig())
        with remote(server, max_pixels=bounds) as backend:
            reply = ask(backend, PruneConfig())
    assert "max pixels" in str(error.value) and "39x69" in str(error.value)
    assert reply.selections[0].grid == (26, 47)
    assert backend.input_size(1920, 1080) == (47 * 28, 26 * 28)


def test_the_extension_can_be_forced_or_withheld():
    with serving() as server:
        with remote(server, prune_extension=True) as backend:
            ask(backend, PruneConfig(tau=0.2))
        with remote(server, prune_extension=False) as backend:
            ask(backend, PruneConfig())
    forced, withheld = server.chats()
    assert forced.body["pixelprune"]["tau"] == 0.2 and "pixelprune" not in withheld.body
    assert not [r for r in server.received if r.path == "/v1/models"]  # no need to ask


# --- model, family and input size ------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("ByteDance-Seed/UI-TARS-1.5-7B", "qwen2.5"),
        ("bytedance-research/UI-TARS-7B-DPO", "qwen2"),
        ("Qwen/Qwen2.5-VL-7B-Instruct", "qwen2.5"),
        ("qwen2.5vl:7b", "qwen2.5"),
        ("Qwen/Qwen3-VL-8B-Instruct", "qwen3"),
        ("Qwen/Qwen2-VL-2B-Instruct", "qwen2"),
        ("showlab/ShowUI-2B", "qwen2"),
        ("OS-Copilot/OS-Atlas-Pro-7B", "qwen2"),
        ("my-finetune", None),
    ],
)
def test_the_family_comes_from_the_model_id(model, family):
    assert family_for_model(model) == family


def test_input_size_is_the_model_resize_and_an_unknown_family_is_asked_for():
    with serving(models=("my-finetune", MODEL)) as server:
        with pytest.raises(ModelError, match="--family"):
            OpenAICompatibleBackend(server.url, "my-finetune")
        with remote(server, model="my-finetune", family="qwen2.5") as backend:
            assert backend.input_size(1920, 1080) == (1932, 1092)
            assert backend.model_type == "qwen2_5_vl"
        with remote(server) as backend:
            scripted = ScriptedBackend([], family="qwen2.5")
            assert backend.input_size(4480, 1440) == scripted.input_size(4480, 1440)
        with remote(server, family="qwen2.5", max_pixels=1280 * 28 * 28) as backend:
            width, height = backend.input_size(1920, 1080)
            assert width * height <= 1280 * 28 * 28 < 1932 * 1092


def test_the_only_served_model_is_used_and_several_must_be_chosen():
    with serving() as server, remote(server, model=None) as backend:
        assert backend.name == MODEL and backend.family.name == "qwen2.5"
    two = serving(models=(MODEL, "Qwen/Qwen2.5-VL-7B-Instruct"))
    with two as server, pytest.raises(UnknownModelError, match="serves 2 models") as error:
        OpenAICompatibleBackend(server.url)
    assert "Qwen/Qwen2.5-VL-7B-Instruct" in str(error.value)


def test_a_bare_host_gets_v1_and_a_bad_url_is_refused():
    with serving() as server, remote(server, url=server.url.removesuffix("/v1")) as backend:
        assert backend.base_url == server.url and ask(backend).text == FINISH
    for url in ("localhost:8000", "ftp://host/v1", "http://:8000/v1", "http://host:99999/v1"):
        with pytest.raises(ModelError, match="must look like"):
            OpenAICompatibleBackend(url, MODEL)


# --- failures: retries, refusals, timeouts, keys -----------------------------------------------


def test_server_errors_are_retried_with_backoff_then_succeed():
    with serving() as server, remote(server, retries=3, backoff=0.05) as backend:
        server.replies = [Reply(status=500), Reply(status=502), Reply(status=503), Reply(CLICK)]
        start = time.perf_counter()
        reply = ask(backend)
        waited = time.perf_counter() - start
    assert reply.text == CLICK and len(server.chats()) == 4
    assert waited >= 0.05 + 0.1 + 0.2  # backoff doubles


def test_a_dropped_connection_is_retried():
    with serving() as server, remote(server, retries=1) as backend:
        server.replies = [Reply(status=0), Reply(CLICK)]
        assert ask(backend).text == CLICK
    assert len(server.chats()) == 2


def test_the_backend_gives_up_after_its_retries_with_the_servers_reason():
    with serving() as server, remote(server, retries=2) as backend:
        server.replies = [Reply(status=503, error="queue is full")] * 5
        with pytest.raises(ServerUnavailableError) as error:
            ask(backend)
    assert len(server.chats()) == 3
    message = str(error.value)
    assert "HTTP 503: queue is full" in message and "gave up after 3 attempt(s)" in message


def test_a_servers_retry_after_is_honoured():
    with serving() as server, remote(server, retries=1, backoff=0.0) as backend:
        server.replies = [Reply(status=429, headers={"Retry-After": "0.3"}), Reply(CLICK)]
        start = time.perf_counter()
        assert ask(backend).text == CLICK
    assert time.perf_counter() - start >= 0.3


@pytest.mark.parametrize(
    ("reply", "error", "message"),
    [
        (Reply(status=400, error="too many images: 3 > 2"), BadRequestError, "too many images"),
        (Reply(status=413, error="image too big"), ImageTooLargeError, "too large"),
        (Reply(status=422, error="cannot decode image 1"), BadRequestError, "HTTP 422"),
    ],
)
def test_client_errors_are_not_retried_and_say_why(reply, error, message):
    with serving() as server, remote(server, retries=3) as backend:
        server.replies = [reply]
        with pytest.raises(error, match=message):
            ask(backend)
    assert len(server.chats()) == 1


def test_an_unknown_model_lists_the_served_ones():
    with (
        serving(models=(MODEL, "Qwen/Qwen2.5-VL-7B-Instruct")) as server,
        remote(server, model="Qwen/Qwen2.5-VL-72B-Instruct", retries=3) as backend,
        pytest.raises(UnknownModelError) as error,
    ):
        ask(backend)
    assert len(server.chats()) == 1
    assert "no model 'Qwen/Qwen2.5-VL-72B-Instruct'" in str(error.value)
    assert MODEL in str(error.value) and "--server-model" in str(error.value)


def test_a_url_without_the_api_is_a_404_that_says_so():
    with (
        serving() as server,
        remote(server, url=server.url + "/nothing-here") as backend,
        pytest.raises(UnknownModelError, match="no OpenAI-compatible API"),
    ):
        ask(backend)


def test_the_api_key_goes_as_bearer_and_never_into_messages(caplog):
    with serving() as server, caplog.at_level(logging.DEBUG):
        server.api_key = KEY
        with remote(server, api_key=KEY) as backend:
            assert ask(backend).text == FINISH
        assert all(r.headers["Authorization"] == f"Bearer {KEY}" for r in server.received)
        with (
            remote(server, api_key="sk-wrong-0000", retries=3) as backend,
            pytest.raises(AuthenticationError, match="API key rejected") as wrong,
        ):
            ask(backend, PruneConfig())
        with remote(server) as backend, pytest.raises(AuthenticationError) as missing:
            ask(backend)
    wrong_key = [
        r for r in server.received if "sk-wrong-0000" in r.headers.get("Authorization", "")
    ]
    assert len(wrong_key) == 1  # a rejected key is not retried
    assert "sk-wrong-0000" not in str(wrong.value)  # the server echoed it: masked
    assert "••••••" in str(wrong.value)
    assert "needs an API key" in str(missing.value) and "--api-key-env" in str(missing.value)
    assert KEY not in caplog.text and "sk-wrong-0000" not in caplog.text
    spec = ModelSpec(server=server.url, api_key=KEY)
    assert KEY not in repr(spec)


def test_a_slow_server_times_out_with_a_clear_error():
    with serving() as server, remote(server, timeout=0.3, retries=1) as backend:
        server.replies = [Reply(delay=5.0), Reply(delay=5.0)]
        start = time.perf_counter()
        with pytest.raises(ServerUnavailableError, match=r"no answer within 0.3 s") as error:
            ask(backend)
        assert time.perf_counter() - start < 4.0  # it did not wait for the slow answers
    assert "gave up after 2 attempt(s)" in str(error.value)


def test_no_server_at_the_address_is_a_clear_error():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = OpenAICompatibleBackend(f"http://127.0.0.1:{port}/v1", MODEL, retries=1, backoff=0.01)
    with pytest.raises(ServerUnavailableError, match="cannot connect") as error:
        ask(backend)
    backend.close()
    assert f"127.0.0.1:{port}" in str(error.value)


def test_a_reply_that_is_not_chat_completions_is_a_protocol_error():
    with serving() as server, remote(server) as backend:
        server.broken = True
        with pytest.raises(RemoteModelError, match=r"without choices\[0\].message"):
            ask(backend)


# --- the agent loop and the CLI ------------------------------------------------------------------


def loop_agent(backend, **settings) -> tuple[Agent, FakeScreen]:
    screen = FakeScreen()
    settings = {"mode": "dry-run", "kill_hotkey": None, **settings}
    capture = StillCapture(SCREEN, Monitor(0, 0, 1920, 1080))
    return Agent(backend, screen_capture=capture, screen=screen, **settings), screen


def test_the_agent_runs_through_a_vllm_like_server_with_pruning_unknown(tmp_path):
    with serving() as server, remote(server) as backend:
        server.replies = [Reply(CLICK), Reply(FINISH)]
        agent, screen = loop_agent(backend, prune=PruneConfig(), record_to=str(tmp_path))
        result = agent.run("open the terminal")
    assert result.status == "finished" and agent.parser.name == "uitars"
    first = result.steps[0]
    assert first.outcome == "dry-run" and screen.calls == []
    assert isinstance(first.action, Click)
    assert first.action.point == Point(960, 540, Space.SCREEN)  # mapped through input_size
    assert first.image_tokens == (None, None) and first.selection is None
    assert first.attempts[0].prompt_tokens == 1001 and first.latency is None
    assert "vision" not in first.timings and first.timings["model"] > 0
    assert len(server.chats()) == 2  # no unpruned calibration call: nothing to compare
    run = load_run(result.run_dir)
    step = run.steps[0]
    assert step.image_tokens == (None, None)
    assert step.selection is None and run.header.model == MODEL


def test_the_agent_through_a_pruning_server_shows_its_selection_and_calibrates():
    with serving("pixelprune") as server, remote(server) as backend:
        server.replies = [Reply(CLICK), Reply("x"), Reply(FINISH)]
        agent, _ = loop_agent(backend, prune=PruneConfig())
        result = agent.run("open the terminal")
    first = result.steps[0]
    full, kept = first.image_tokens
    assert full == 39 * 69 and kept == first.selection.n_kept < full
    assert np.array_equal(first.selection.keep, server.masks[0][-1])
    sent = [chat.body["pixelprune"] for chat in server.chats()]
    assert sent[1] == {"enabled": False}  # the loop's unpruned baseline call
    assert first.latency is not None and first.latency.measured


def test_cli_run_against_a_server_in_dry_run():
    require_display()
    with serving() as server:
        server.replies = [Reply(CLICK), Reply(FINISH)]
        done = run_main(
            "run", "open the terminal", "--server", server.url, "--mode", "dry-run",
            "--no-kill-hotkey", "--no-record",
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "model: ByteDance-Seed/UI-TARS-1.5-7B (uitars)" in done.stdout
    assert "[dry-run]" in done.stdout and "tokens ?" in done.stdout
    assert "finished: done" in done.stdout
    assert "does not report PixelPrune" in done.stderr
    first = server.chats()[0]
    assert len(first.images) == 1 and first.images[0].size == (4480, 1440)  # the Xvfb screen


def test_eval_grounding_asks_a_server_and_shows_unknown_kept_share(tmp_path):
    with serving() as server:
        server.replies = [Reply(CLICK)] * 4  # 2 samples, pruning off and pred_2d:0
        done = run_main(
            "eval-grounding", str(DATA / "grounding"), "--server", server.url, "--limit", "2",
            "--out", str(tmp_path),
        )  # fmt: skip
        chats = server.chats()
    assert done.returncode == 0, done.stderr
    assert len(chats) == 4 and all(len(chat.images) == 1 for chat in chats)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["model"] == MODEL
    rows = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(row["kept_share"] is None for row in rows)  # never invented
    assert summary["not_pruned"] == {"pred_2d:0": 2}
    assert "pred_2d:0: 2 answer(s) came back unpruned" in done.stdout


def test_cli_task_file_with_a_server_and_a_key_from_the_environment(tmp_path):
    require_display()
    with serving("pixelprune") as server:
        server.api_key = KEY
        (tmp_path / "task.toml").write_text(
            f'task = "open the terminal"\n[model]\nserver = "{server.url}"\n'
            'api_key_env = "REMOTE_TEST_KEY"\n'
            '[run]\nmode = "dry-run"\nkill_hotkey = false\nrecord_to = "runs"\n'
        )
        done = run_main("run", str(tmp_path / "task.toml"), env={"REMOTE_TEST_KEY": KEY})
        unset = run_main("run", str(tmp_path / "task.toml"), env={"REMOTE_TEST_KEY": ""})
    assert done.returncode == 0, done.stderr
    assert "finished: done" in done.stdout and "tokens ?" not in done.stdout
    assert KEY not in done.stdout + done.stderr
    [run_dir] = (tmp_path / "runs").iterdir()
    for path in run_dir.iterdir():
        if path.suffix in (".json", ".jsonl"):
            assert KEY not in path.read_text()
    assert all(r.headers["Authorization"] == f"Bearer {KEY}" for r in server.received)
    assert unset.returncode == 2 and "REMOTE_TEST_KEY" in unset.stderr
    assert "not set" in unset.stderr and "Traceback" not in unset.stderr


def test_cli_server_mistakes_are_messages_not_tracebacks():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cases = [
        (["--server", f"http://127.0.0.1:{port}/v1"], "cannot connect"),
        (["--server", "http://x/v1", "--api-key-env", "NO_SUCH_VARIABLE_SET"], "not set"),
        (["--model", "m", "--server-model", "x"], "only apply to a model server"),
        (["--server", "http://x/v1", "--scripted", "s.json"], "exactly one of"),
    ]
    for args, message in cases:
        done = run_main("run", "x", "--mode", "dry-run", "--no-record", *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr


# --- end to end: this project's server (`main.py serve`) with a tiny random model --------------


def test_end_to_end_with_the_projects_server_answers_what_the_local_model_answers(
    tiny_model_dirs, screenshot_paths
):
    from agent.backends.local import LocalVLM
    from agent.server.app import create_app
    from agent.server.engine import Engine
    from agent.server.runner import running_server
    from agent.server.settings import ServerSettings

    vlm = LocalVLM.from_pretrained(
        str(tiny_model_dirs["qwen2.5"]), quantization=None, device_map="cpu"
    )
    shots = [Image.open(p).convert("RGB").crop((0, 0, 336, 224)) for p in screenshot_paths[:2]]
    prompt = UITarsParser().build_prompt(
        "open the terminal", [PastStep(CLICK, None, shots[0])], shots[1], (336, 224)
    )
    engine = Engine(vlm, max_concurrency=2, max_queue=4)
    settings = ServerSettings(model_id="tiny-qwen2.5", api_key=KEY)
    try:
        with running_server(create_app(engine, settings)) as server:
            backend = OpenAICompatibleBackend(
                server.url + "/v1", api_key=KEY, family="qwen2.5", retries=0
            )
            try:
                pruned = backend.complete(prompt, prune=PruneConfig(), max_new_tokens=6)
                whole = backend.complete(prompt, prune=None, max_new_tokens=6)
            finally:
                backend.close()
    finally:
        engine.close()
    local = vlm.complete(prompt, prune=PruneConfig(), max_new_tokens=6)
    assert backend.name == "tiny-qwen2.5"  # the server's only model
    assert pruned.text == local.text and pruned.prompt_tokens == local.prompt_tokens
    assert (pruned.image_tokens_full, pruned.image_tokens_kept) == (
        local.image_tokens_full,
        local.image_tokens_kept,
    )
    for remote_selection, local_selection in zip(pruned.selections, local.selections, strict=True):
        assert np.array_equal(remote_selection.keep, local_selection.keep)
        assert remote_selection.method == local_selection.method == "pred_2d"
    assert {"vision", "prefill", "server", "total"} <= set(pruned.timings)
    assert pruned.vision_cache_hits == 0 and pruned.vision_cache_seconds == 0
    assert pruned.vision_tokens_encoded == pruned.image_tokens_kept
    assert local.vision_cache_hits == 2  # the server's model encoded both already
    assert whole.selections is None and whole.image_tokens_kept == whole.image_tokens_full
    assert whole.text == vlm.complete(prompt, prune=None, max_new_tokens=6).text
