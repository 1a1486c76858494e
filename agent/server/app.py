"""`create_app`: the OpenAI-compatible HTTP face of an `Engine`, with its error format and key.

    POST /v1/chat/completions   chat with images, optional `pixelprune` object
    GET  /v1/models             the one model id
    GET  /health                status and queue occupancy

A request is checked in this order, each step refusing with its own status before the costlier
next one: `Host` (421), key (401), content type (415), room in the server (503), body size and
time (413/408), JSON (400), fields and model (400/404), images (400/403/413), prompt length
(400), then the model. Parsing and decoding run off the event loop. While a request waits or
runs the handler polls the connection: a client that went away frees its place in the queue, or
ends its answer at the next decode step.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Iterator
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from agent.backends.local import Request as ModelRequest
from agent.server.engine import Answer, Engine, Job
from agent.server.errors import ApiError, error_body
from agent.server.images import decode_images
from agent.server.responses import completion_body
from agent.server.schemas import ChatRequest, parse_chat_request
from agent.server.settings import ServerSettings
from pixelprune import PruneInputError

log = logging.getLogger(__name__)

__all__ = ["OWNER", "create_app"]

OWNER = "pixelprune-agent"
POLL_SECONDS = 0.1  # how often a waiting request checks that its client is still there


def create_app(engine: Engine, settings: ServerSettings) -> FastAPI:
    """The app serving `engine` under `settings`; the caller starts and closes the engine."""
    app = FastAPI(title=OWNER, docs_url=None, redoc_url=None, openapi_url=None)
    if settings.api_key is not None:
        app.add_middleware(BearerAuth, key=settings.api_key)
    if settings.allowed_hosts is not None:  # added last: it runs first, before the key check
        app.add_middleware(HostCheck, hosts=settings.allowed_hosts)
    room = Room(engine.max_concurrency + engine.max_queue)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": settings.model_id, "queue": engine.stats()}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        model = {"id": settings.model_id, "object": "model", "created": 0, "owned_by": OWNER}
        return {"object": "list", "data": [model]}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> JSONResponse:
        arrived = time.perf_counter()
        _check_content_type(request)
        with room.taken():  # a place in the server from here until the answer is sent
            body = await read_body(request, settings.max_body_bytes, settings.body_seconds)
            chat = await anyio.to_thread.run_sync(parse_body, body, settings)
            if engine.full():  # refuse before decoding images; submit() checks again after
                raise ApiError(503, "the server is busy (queue full); retry later", "queue_full")
            model_request = await anyio.to_thread.run_sync(prepare, chat, settings, engine)
            job = engine.submit(model_request, chat.prune, chat.max_tokens)
            answer = await wait_for_answer(job, request, engine)
        return JSONResponse(completion_body(answer, chat.prune, settings.model_id, arrived))

    return app


class Room:
    """How many chat requests the server holds at once, from their first byte to their answer
    (the engine's running and waiting places); one more is refused (503) before its body is
    read, so a crowd of large bodies cannot fill the memory."""

    def __init__(self, places: int) -> None:
        self.places, self.held = places, 0

    @contextlib.contextmanager
    def taken(self) -> Iterator[None]:
        if self.held >= self.places:
            raise ApiError(503, "the server is busy (queue full); retry later", "queue_full")
        self.held += 1  # the event loop's thread only: no lock needed
        try:
            yield
        finally:
            self.held -= 1


async def read_body(request: Request, limit: int, seconds: float) -> bytes:
    """The body, refused (413) as soon as it is known to exceed `limit` bytes, and (408) when
    it has not all come within `seconds`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, _body_too_big(limit), "body_too_large")
    chunks, size = [], 0
    try:
        with anyio.fail_after(seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, _body_too_big(limit), "body_too_large")
                chunks.append(chunk)
    except ClientDisconnect:
        raise ApiError(499, "the client closed the connection", "client_closed") from None
    except TimeoutError:
        message = f"the request body did not arrive within {seconds:g} s"
        raise ApiError(408, message, "request_timeout") from None
    return b"".join(chunks)


def parse_body(body: bytes, settings: ServerSettings) -> ChatRequest:
    """The body as a checked chat request (run off the event loop: a large body takes time)."""
    try:
        data = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:
        raise ApiError(400, f"the body is not valid JSON ({error})", "invalid_json") from None
    return parse_chat_request(data, settings)


def prepare(chat: ChatRequest, settings: ServerSettings, engine: Engine) -> ModelRequest:
    """The model request: images decoded and checked against the model's resize rule, and the
    prompt checked against the room the context leaves for the answer."""
    images = decode_images(chat.image_urls, settings)
    for index, image in enumerate(images):
        try:
            engine.vlm.input_size(*image.size)
        except PruneInputError as error:
            raise ApiError(400, f"image {index + 1}: {error}", "invalid_image") from None
    request = ModelRequest(images, chat.messages)
    limit = engine.vlm.context_length - chat.max_tokens
    if settings.max_prompt_tokens is not None:
        limit = min(limit, settings.max_prompt_tokens)
    tokens = engine.vlm.prompt_tokens(request)
    if tokens > limit:
        raise ApiError(
            400,
            f"the prompt has {tokens} tokens (images unpruned); this server takes at most "
            f"{limit} with max_tokens {chat.max_tokens}",
            "context_length_exceeded",
        )
    return request


async def wait_for_answer(job: Job, request: Request, engine: Engine) -> Answer:
    """The job's answer; if the client disconnects first, the job leaves the queue or, when it
    runs, ends at its next decode step."""
    answer = asyncio.wrap_future(job.future)
    try:
        while True:
            done, _ = await asyncio.wait({answer}, timeout=POLL_SECONDS)
            if done:
                return answer.result()
            if await request.is_disconnected():
                log.warning(
                    "request cancelled: the client closed the connection after %.1f s",
                    time.perf_counter() - job.queued_at,
                )
                raise ApiError(499, "the client closed the connection", "client_closed")
    finally:
        if not job.future.done():
            engine.cancel(job)
        # no one reads the answer now: the engine's later 499 for a cancelled running job
        # would otherwise be logged as an asyncio "exception was never retrieved"
        answer.cancel()


class HostCheck:
    """Refuse (421) an HTTP request whose `Host` names none of `hosts` (port aside).

    A web page in the user's browser can send requests to a loopback server under its own
    domain name (DNS rebinding); those carry that name, never the server's own.
    """

    def __init__(self, app: ASGIApp, hosts: frozenset[str]) -> None:
        self.app = app
        self.hosts = frozenset(host.lower() for host in hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and host_name(_header(scope, b"host")) not in self.hosts:
            message = "this server does not answer to that Host name (see --allow-host)"
            response = JSONResponse(error_body(421, message, "misdirected_request"), 421)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def host_name(header: bytes) -> str:
    """The host of a `Host` header, without its port or IPv6 brackets, lower case."""
    text = header.decode("latin-1").strip().lower()
    if text.startswith("["):
        return text[1:].partition("]")[0]
    return text.rpartition(":")[0] if text.count(":") == 1 else text


class BearerAuth:
    """Refuse (401) every HTTP request without `Authorization: Bearer <key>`.

    Plain ASGI rather than a route dependency so that it also guards unknown paths (no 404
    telling a stranger which paths exist) and so the connection's receive channel reaches the
    routes untouched (the disconnect polling reads it). Compared in constant time.
    """

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self.expected = key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._authorized(scope):
            message = "missing or wrong API key: send 'Authorization: Bearer <key>'"
            response = JSONResponse(
                error_body(401, message, "invalid_api_key"),
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        scheme, _, token = _header(scope, b"authorization").partition(b" ")
        return scheme.lower() == b"bearer" and secrets.compare_digest(token.strip(), self.expected)


async def _api_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return JSONResponse(error.body(), status_code=error.status)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    """Routing errors (unknown path 404, wrong method 405) in OpenAI's error format."""
    assert isinstance(error, HTTPException)
    if error.status_code == 404:
        message = f"no route {request.url.path}"
    else:
        message = f"{request.method} {request.url.path}: {error.detail}"
    return JSONResponse(
        error_body(error.status_code, message), status_code=error.status_code, headers=error.headers
    )


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422 validation format replaced by OpenAI's 400 body."""
    assert isinstance(error, RequestValidationError)
    first = error.errors()[0] if error.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()))
    message = f"invalid request: {where}: {first.get('msg', 'invalid value')}"
    return JSONResponse(error_body(400, message, "invalid_request"), status_code=400)


def _header(scope: Scope, wanted: bytes) -> bytes:
    """The (last) value of one request header, b"" when absent."""
    found = b""
    for name, value in scope["headers"]:
        if name == wanted:
            found = value
    return found


def _check_content_type(request: Request) -> None:
    """Only JSON bodies: a browser can send a text/plain POST to any site without asking."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != "application/json":
        message = f"send the body as application/json, not {media or 'no content type'}"
        raise ApiError(415, message, "unsupported_media_type")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _body_too_big(limit: int) -> str:
    return f"the request body exceeds {limit} bytes"
