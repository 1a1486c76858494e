"""`create_app`: the OpenAI-compatible HTTP face of an `Engine`, with its error format and key.

    POST /v1/chat/completions   chat with images, optional `pixelprune` object
    GET  /v1/models             the one model id
    GET  /health                status and queue occupancy

A request is read in this order, each step refusing with its own status before the costlier
next one: key (401), body size (413), JSON (400), fields and model (400/404), room in the queue
(503), images (400/403/413), then the model. While a request waits for the model the handler
polls the connection; a client that went away gets its place in the queue back to the others.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from PIL import Image
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

__all__ = ["OWNER", "create_app"]

OWNER = "pixelprune-agent"
POLL_SECONDS = 0.1  # how often a waiting request checks that its client is still there


def create_app(engine: Engine, settings: ServerSettings) -> FastAPI:
    """The app serving `engine` under `settings`; the caller starts and closes the engine."""
    app = FastAPI(title=OWNER, docs_url=None, redoc_url=None, openapi_url=None)
    if settings.api_key is not None:
        app.add_middleware(BearerAuth, key=settings.api_key)
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
        chat = parse_chat_request(await read_json(request, settings.max_body_bytes), settings)
        if engine.full():  # refuse before decoding images; submit() checks again after
            raise ApiError(503, "the server is busy (queue full); retry later", "queue_full")
        images = await anyio.to_thread.run_sync(load_images, chat, settings, engine)
        job = engine.submit(ModelRequest(images, chat.messages), chat.prune, chat.max_tokens)
        answer = await wait_for_answer(job, request, engine)
        return JSONResponse(completion_body(answer, chat.prune, settings.model_id, arrived))

    return app


async def read_json(request: Request, limit: int) -> Any:
    """The body as JSON, refused (413) as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, _body_too_big(limit), "body_too_large")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, _body_too_big(limit), "body_too_large")
            chunks.append(chunk)
    except ClientDisconnect:
        raise ApiError(499, "the client closed the connection", "client_closed") from None
    try:
        return json.loads(b"".join(chunks), parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:
        raise ApiError(400, f"the body is not valid JSON ({error})", "invalid_json") from None


def load_images(chat: ChatRequest, settings: ServerSettings, engine: Engine) -> list[Image.Image]:
    """The request's images, decoded and checked against the model's resize rule."""
    images = decode_images(chat.image_urls, settings)
    for index, image in enumerate(images):
        try:
            engine.vlm.input_size(*image.size)
        except PruneInputError as error:
            raise ApiError(400, f"image {index + 1}: {error}", "invalid_image") from None
    return images


async def wait_for_answer(job: Job, request: Request, engine: Engine) -> Answer:
    """The job's answer; if the client disconnects first, the job leaves the queue."""
    answer = asyncio.wrap_future(job.future)
    try:
        while True:
            done, _ = await asyncio.wait({answer}, timeout=POLL_SECONDS)
            if done:
                return answer.result()
            if await request.is_disconnected():
                raise ApiError(499, "the client closed the connection", "client_closed")
    finally:
        if not job.future.done():
            engine.cancel(job)


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
        header = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value
        scheme, _, token = header.partition(b" ")
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


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _body_too_big(limit: int) -> str:
    return f"the request body exceeds {limit} bytes"
