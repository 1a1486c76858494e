"""`OpenAICompatibleBackend`: the agent's model behind an OpenAI-compatible HTTP server.

    backend = OpenAICompatibleBackend("http://gpu-box:8000/v1", "ByteDance-Seed/UI-TARS-1.5-7B")

Chat Completions with the local backend's prompts and parsers; image parts become data-URL
`image_url` parts, in order. The `pixelprune` field goes only to this project's server
(`prune_extension="auto"`) or when forced (`True`): older vLLM answers 400 to unknown fields.
Kept/full tokens and masks come only from `usage.pixelprune`, else None (never "pruned"). The
model's resize is computed here; a server grid that disagrees is an error. See docs/serving.md.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx
import numpy as np
from PIL import Image

from agent.backends.base import MODEL_TYPES, Backend, ImageCache, ModelReply, input_size
from agent.errors import AgentError, ModelError
from agent.messages import Prompt
from agent.models import family_for_model
from agent.secrets import redact
from pixelprune import Family, PruneConfig, PruneInputError, Selection, get_family

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ImageTooLargeError",
    "OpenAICompatibleBackend",
    "RemoteModelError",
    "RemoteProtocolError",
    "ServerUnavailableError",
    "UnknownModelError",
    "image_data_url",
    "openai_messages",
]

log = logging.getLogger(__name__)

OWNED_BY = "pixelprune-agent"  # the owner this project's server lists its models under
_RETRY_STATUS = {408, 429}  # besides every 5xx: the server is busy or restarting, not refusing
_MAX_BACKOFF = 30.0  # seconds, also the cap on a server's Retry-After


class RemoteModelError(ModelError):
    """The model server cannot answer; subclasses say why."""


class ServerUnavailableError(RemoteModelError):
    """No usable answer after the retries: unreachable, timed out, or failing (5xx)."""


class AuthenticationError(RemoteModelError):
    """The server wants an API key, or rejected the one given (HTTP 401/403)."""


class UnknownModelError(RemoteModelError):
    """The server does not serve that model, or the URL is not an OpenAI-compatible API (404)."""


class ImageTooLargeError(RemoteModelError):
    """The server refused the request as too large (HTTP 413)."""


class BadRequestError(RemoteModelError):
    """The server refused the request (HTTP 400 and other 4xx); its message says why."""


class RemoteProtocolError(RemoteModelError):
    """The server's reply is not the Chat Completions (+ pixelprune) answer it should be."""


class OpenAICompatibleBackend(Backend):
    """A model served over HTTP with the OpenAI Chat Completions API."""

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        api_key: str | None = None,
        *,
        family: str | Family | None = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        timeout: float = 300.0,
        connect_timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.5,
        prune_extension: bool | Literal["auto"] = "auto",
        image_format: Literal["png", "jpeg"] = "png",
    ) -> None:
        """`model` None: the server's only model. `timeout`: seconds to wait for an answer.

        `retries` more attempts follow a timeout, a failed connection or a 5xx/408/429, after
        `backoff` seconds doubling each time; a 4xx other than 408/429 fails at once. PNG is
        lossless (what τ = 0 pruning needs); JPEG is smaller but changes the pixels.
        """
        if retries < 0 or timeout <= 0 or connect_timeout <= 0 or backoff < 0:
            raise ModelError("retries and backoff must not be negative, timeouts must be positive")
        if image_format not in ("png", "jpeg"):
            raise ModelError(f"image_format must be png or jpeg, got {image_format!r}")
        if prune_extension not in (True, False, "auto"):
            raise ModelError(
                f"prune_extension must be True, False or 'auto', got {prune_extension!r}"
            )
        self.base_url, self.server = _normalise_url(base_url)
        self.timeout, self.connect_timeout = timeout, connect_timeout
        self.retries, self.backoff = retries, backoff
        self.prune_extension = prune_extension
        self.image_format = image_format
        self._api_key = api_key or None
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
        )
        self._extension: bool | None = None if prune_extension == "auto" else prune_extension
        self._warned_unpruned = False
        self._encoded: ImageCache[str] = ImageCache(8)  # the agent resends its screenshots
        try:
            self.model = model or self._only_model()
            self.family = get_family(family or _require_family(self.model))
        except PruneInputError as error:
            self._client.close()
            raise ModelError(str(error)) from None
        except AgentError:
            self._client.close()
            raise
        self.name = self.model
        self.model_type = MODEL_TYPES[self.family.name]
        self.min_pixels = self.family.min_pixels if min_pixels is None else min_pixels
        self.max_pixels = self.family.max_pixels if max_pixels is None else max_pixels
        if not 0 < self.min_pixels <= self.max_pixels:
            self._client.close()
            raise ModelError(
                f"need 0 < min_pixels <= max_pixels, got {self.min_pixels} and {self.max_pixels}"
            )

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """The family's processor resize with this server's pixel bounds."""
        return input_size(
            width, height, self.family, min_pixels=self.min_pixels, max_pixels=self.max_pixels
        )

    def complete(
        self, prompt: Prompt, *, prune: PruneConfig | None, max_new_tokens: int = 256
    ) -> ModelReply:
        """Ask the server once (retrying transient failures); greedy decoding."""
        start = time.perf_counter()
        body: dict[str, Any] = {
            "model": self.model,
            "messages": openai_messages(prompt, self._data_url),
            "max_tokens": max_new_tokens,
            "temperature": 0,
        }
        if self._sends_extension():
            body["pixelprune"] = _prune_request(prune)
        data = self._request("POST", "/chat/completions", body)
        total = time.perf_counter() - start
        return self._reply(data, prompt, prune, body.get("pixelprune"), total)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def _reply(
        self,
        data: Any,
        prompt: Prompt,
        prune: PruneConfig | None,
        sent: Mapping[str, Any] | None,
        total: float,
    ) -> ModelReply:
        """The answer with only what the server reported: nothing is filled in."""
        text = _message_text(data, self.server)
        usage = data.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        block = usage.get("pixelprune")
        timings = {"total": total}
        if not isinstance(block, dict):
            if prune is not None and not self._warned_unpruned:
                self._warned_unpruned = True
                log.warning(
                    "pruning was requested but %s does not report PixelPrune (it runs the stock "
                    "model): the screenshots go whole, image token counts are unknown",
                    self.server,
                )
            return ModelReply(text, _count(usage.get("prompt_tokens")), timings=timings)
        for stage, ms in (block.get("timings_ms") or {}).items():
            if isinstance(ms, int | float) and not isinstance(ms, bool):
                timings["server" if stage == "total" else str(stage)] = ms / 1000
        selections = None
        if block.get("pruned") is True and block.get("images") is not None:
            selections = self._selections(block, prompt, prune if sent else None)
        return ModelReply(
            text=text,
            prompt_tokens=_count(usage.get("prompt_tokens")),
            image_tokens_full=_count(block.get("image_tokens_full")),
            image_tokens_kept=_count(block.get("image_tokens_kept")),
            selections=selections,
            timings=timings,
            vision_tokens_encoded=_count(block.get("vision_tokens_encoded")),
            vision_cache_hits=_count(block.get("vision_cache_hits")),
            vision_cache_seconds=_seconds(block.get("vision_cache_ms")),
        )

    def _selections(
        self, block: Mapping[str, Any], prompt: Prompt, requested: PruneConfig | None
    ) -> tuple[Selection, ...]:
        """The server's keep masks as Selections, checked against the client's own resize."""
        images = block["images"]
        if not isinstance(images, list) or len(images) != len(prompt.images):
            count = len(images) if isinstance(images, list) else "no list of"
            raise RemoteProtocolError(
                f"{self.server} reported {count} keep masks for {len(prompt.images)} images"
            )
        settings = _settings(block, requested)
        selections = []
        for number, (entry, image) in enumerate(zip(images, prompt.images, strict=True), 1):
            keep = _keep_mask(entry, number, self.server)
            width, height = self.input_size(*image.size)
            expected = (height // self.family.cell, width // self.family.cell)
            if keep.shape != expected or entry.get("cell") != self.family.cell:
                raise RemoteModelError(
                    f"{self.server} cut image {number} ({image.width}x{image.height}) into "
                    f"{keep.shape[0]}x{keep.shape[1]} cells of {entry.get('cell')} px, but this "
                    f"client expects {expected[0]}x{expected[1]} cells of {self.family.cell} px "
                    f"(family {self.family.name}, pixels {self.min_pixels}..{self.max_pixels}): "
                    "give the server's family and min/max pixels (--family, --min-pixels, "
                    "--max-pixels), or clicks would land in the wrong place"
                )
            selections.append(
                Selection(
                    **settings,
                    cell=self.family.cell,
                    keep=keep,
                    source=None,
                    seconds=math.nan,  # the server times all images together ("prune")
                )
            )
        return tuple(selections)

    def _sends_extension(self) -> bool:
        """Whether this server takes the `pixelprune` field (asked once when "auto")."""
        if self._extension is None:
            models = self._models()
            self._extension = models is not None and any(
                entry.get("id") == self.model and entry.get("owned_by") == OWNED_BY
                for entry in models
            )
        return self._extension

    def _only_model(self) -> str:
        """The id of the server's model when it serves exactly one."""
        ids = self._model_ids()
        if ids is None:
            raise UnknownModelError(
                f"{self.server}/models does not list the served models: name the model "
                "(--server-model, task file server_model)"
            )
        if len(ids) != 1:
            listed = ", ".join(ids) or "none"
            raise UnknownModelError(
                f"{self.server} serves {len(ids)} models ({listed}): choose one with "
                "--server-model (task file: server_model)"
            )
        return ids[0]

    def _model_ids(self) -> list[str] | None:
        """The ids the server lists, or None when it has no such listing."""
        models = self._models()
        return None if models is None else [str(entry.get("id")) for entry in models]

    def _models(self) -> list[dict[str, Any]] | None:
        """The entries of GET /models, or None when the server has no such listing."""
        try:
            data = self._request("GET", "/models")
        except (UnknownModelError, BadRequestError):
            return None
        entries = data.get("data") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            return None
        return [entry for entry in entries if isinstance(entry, dict)]

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The JSON answer of one call, retrying what may pass; errors say what to do."""
        failure, delay = "", self.backoff  # failure: why the last attempt did not answer
        for attempt in range(1 + self.retries):
            if attempt:
                time.sleep(min(delay, _MAX_BACKOFF))
                delay = self.backoff * 2**attempt
            try:
                response = self._client.request(method, path, json=body)
            except httpx.ConnectTimeout:
                failure = f"could not connect within {self.connect_timeout:g} s"
                continue
            except httpx.TimeoutException:
                failure = f"no answer within {self.timeout:g} s"
                continue
            except httpx.ConnectError as error:
                failure = f"cannot connect ({self._mask(str(error)) or 'refused'})"
                continue
            except httpx.TransportError as error:
                failure = f"connection lost ({self._mask(str(error)) or type(error).__name__})"
                continue
            status = response.status_code
            if status >= 500 or status in _RETRY_STATUS:
                failure = f"HTTP {status}: {self._server_message(response)}"
                delay = max(delay, _retry_after(response))
                continue
            if status >= 400:
                raise self._refusal(response, path)
            try:
                return response.json()
            except ValueError as error:
                raise RemoteProtocolError(
                    f"{self.server}{path} answered HTTP {status} with no JSON body"
                ) from error
        raise ServerUnavailableError(
            f"{self.server}{path}: {failure} (gave up after {1 + self.retries} attempt(s))"
        )

    def _refusal(self, response: httpx.Response, path: str) -> RemoteModelError:
        """The error for a 4xx answer, with the server's own message."""
        status, message = response.status_code, self._server_message(response)
        where = f"{self.server}{path}"
        if status in (401, 403):
            if self._api_key is None:
                return AuthenticationError(
                    f"{where} needs an API key (HTTP {status}: {message}); pass the name of an "
                    "environment variable holding it: --api-key-env NAME (task file: api_key_env)"
                )
            return AuthenticationError(f"API key rejected by {where} (HTTP {status}: {message})")
        if status == 404:
            if path == "/models":
                return UnknownModelError(f"{where}: HTTP 404")
            ids = self._model_ids()
            if ids is None:
                return UnknownModelError(
                    f"no OpenAI-compatible API at {where} (HTTP 404: {message}); the URL "
                    "usually ends in /v1, e.g. http://host:8000/v1"
                )
            if self.model not in ids:
                return UnknownModelError(
                    f"{self.server} has no model {self.model!r}; it serves: "
                    f"{', '.join(ids) or 'none'} (choose with --server-model)"
                )
            return UnknownModelError(f"{where}: HTTP 404: {message}")
        if status == 413:
            return ImageTooLargeError(
                f"{where} refused the request as too large (HTTP 413: {message}); send smaller "
                "screenshots (fewer history images, a smaller monitor) or raise the server's limit"
            )
        return BadRequestError(f"{where} refused the request (HTTP {status}): {message}")

    def _server_message(self, response: httpx.Response) -> str:
        """The error text of an OpenAI-, vLLM- or FastAPI-style error body, key masked."""
        try:
            data = response.json()
        except ValueError:
            data = None
        message: Any = None
        if isinstance(data, dict):
            error = data.get("error")
            message = error.get("message") if isinstance(error, dict) else error
            message = message or data.get("message") or data.get("detail")
        if not message:
            message = response.text.strip() or response.reason_phrase
        text = " ".join(str(message).split())
        return self._mask(text if len(text) <= 500 else text[:499] + "…")

    def _mask(self, text: str) -> str:
        return redact(text, [self._api_key] if self._api_key else [])

    def _data_url(self, image: Image.Image) -> str:
        """The image as a data URL, encoded once per image object."""
        url = self._encoded.get(image, self.image_format)
        if url is None:
            url = image_data_url(image, self.image_format)
            self._encoded.put(image, self.image_format, url)
        return url


def openai_messages(
    prompt: Prompt, image_url: Callable[[Image.Image], str]
) -> list[dict[str, Any]]:
    """The prompt's messages with `image_url` parts (from `image_url(image)`) in image order.

    A message of text parts only is sent as one string (what every server accepts for system
    and assistant turns); the parts are joined as the Qwen chat templates join them.
    """
    images = iter(prompt.images)
    messages, used = [], 0
    for number, message in enumerate(prompt.messages, 1):
        content = message.get("content")
        if isinstance(content, str):
            messages.append({"role": message["role"], "content": content})
            continue
        parts = []
        for part in content or []:
            kind = part.get("type")
            if kind == "text":
                parts.append({"type": "text", "text": part["text"]})
            elif kind == "image":
                image = next(images, None)
                if image is None:
                    raise ModelError(
                        f"the prompt has more image parts than its {len(prompt.images)} images"
                    )
                used += 1
                parts.append({"type": "image_url", "image_url": {"url": image_url(image)}})
            else:
                raise ModelError(f"message {number} has a {kind!r} part, which cannot be sent")
        if all(part["type"] == "text" for part in parts):
            messages.append({"role": message["role"], "content": "".join(p["text"] for p in parts)})
        else:
            messages.append({"role": message["role"], "content": parts})
    if used != len(prompt.images):
        raise ModelError(f"the prompt has {used} image parts for {len(prompt.images)} images")
    return messages


def image_data_url(image: Image.Image, image_format: str = "png") -> str:
    """The image as an OpenAI `image_url` data URL: PNG (lossless) or JPEG (quality 95)."""
    buffer = io.BytesIO()
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    if image_format == "png":
        rgb.save(buffer, format="PNG", compress_level=3)  # fast; screenshots compress well
    else:
        rgb.save(buffer, format="JPEG", quality=95)
    payload = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:image/{image_format};base64,{payload}"


def _prune_request(prune: PruneConfig | None) -> dict[str, Any]:
    if prune is None:
        return {"enabled": False}
    return {
        "method": prune.method,
        "tau": prune.tau,
        "metric": prune.metric,
        "anchored": prune.anchored,
    }


def _settings(block: Mapping[str, Any], requested: PruneConfig | None) -> dict[str, Any]:
    """Method, τ, metric and anchoring as the server reports them, else as they were sent.

    What neither says (the server chose by its own defaults and did not report it) is marked
    unknown ("unknown", NaN); anchoring then takes PixelPrune's default.
    """
    tau = block.get("tau")
    anchored = block.get("anchored")
    return {
        "method": str(block.get("method") or (requested.method if requested else "unknown")),
        "tau": float(tau)
        if isinstance(tau, int | float) and not isinstance(tau, bool)
        else (requested.tau if requested else math.nan),
        "metric": str(block.get("metric") or (requested.metric if requested else "unknown")),
        "anchored": anchored
        if isinstance(anchored, bool)
        else (requested.anchored if requested else PruneConfig.anchored),
    }


def _keep_mask(entry: Any, number: int, server: str) -> np.ndarray:
    """One image's (rows, cols) keep mask from its packed, base64 form."""
    try:
        rows, cols = int(entry["rows"]), int(entry["cols"])
        packed = np.frombuffer(base64.b64decode(entry["keep"], validate=True), dtype=np.uint8)
    except (KeyError, TypeError, ValueError, binascii.Error) as error:
        raise RemoteProtocolError(f"{server}: keep mask {number} is malformed ({error})") from error
    if rows <= 0 or cols <= 0 or packed.size != math.ceil(rows * cols / 8):
        raise RemoteProtocolError(
            f"{server}: keep mask {number} has {packed.size} bytes for {rows}x{cols} cells"
        )
    return np.unpackbits(packed, count=rows * cols).astype(bool).reshape(rows, cols)


def _message_text(data: Any, server: str) -> str:
    try:
        content = data["choices"][0]["message"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise RemoteProtocolError(f"{server} answered without choices[0].message") from None
    if isinstance(content, list):  # some servers answer in parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str):
        raise RemoteProtocolError(f"{server} answered with no text (content {content!r})")
    return content


def _seconds(milliseconds: Any) -> float | None:
    """A reported duration in ms as seconds, or None when absent or not a number."""
    if isinstance(milliseconds, int | float) and not isinstance(milliseconds, bool):
        return milliseconds / 1000 if milliseconds >= 0 else None
    return None


def _count(value: Any) -> int | None:
    """A token count as reported, or None: never a guess."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", 0)))
    except ValueError:
        return 0.0


def _require_family(model: str) -> str:
    family = family_for_model(model)
    if family is None:
        raise ModelError(
            f"cannot tell the model family of {model!r} from its name: give it "
            "(--family qwen2|qwen2.5|qwen3, task file family, or family=...)"
        )
    return family


def _normalise_url(url: str) -> tuple[str, str]:
    """(base URL for requests, the same without credentials for messages).

    A bare host gets /v1 (where every OpenAI-compatible server puts it); any other path is kept.
    """
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise ModelError(f"the server URL must look like http://host:8000/v1, got {url!r}")
    path = parts.path.rstrip("/") or "/v1"
    base = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host if port is None else f"{host}:{port}"
    return base, urlunsplit((parts.scheme, netloc, path, "", ""))
