"""Reading a chat-completions request body into a `ChatRequest`, or a 4xx `ApiError` saying why.

Checked by hand rather than with pydantic models so that each refusal names the exact field and
what was wrong in one sentence, in OpenAI's error format. The messages come out in the chat
format the local model's template reads: each `image_url` part becomes an `{"type": "image"}`
placeholder, and its URL goes, in order, to `image_urls`, which the server decodes separately.

Decoding is the server's (`serve --decoding`: greedy by default), never the request's:
`temperature`, `top_p`, `seed`, `user`, `presence_penalty` and `frequency_penalty` are accepted
and ignored (IGNORED); `n` other than 1, `stream: true` and `stop` are refused rather than
ignored, because they would change what the answer means. Other unknown top-level fields are
ignored, as OpenAI-compatible servers do.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from agent.server.errors import ApiError
from agent.server.settings import ServerSettings
from pixelprune import PruneConfig, PruneInputError

__all__ = ["IGNORED", "ChatRequest", "parse_chat_request", "parse_prune"]

IGNORED = ("temperature", "top_p", "seed", "user", "presence_penalty", "frequency_penalty")
ROLES = ("system", "user", "assistant")
PRUNE_FIELDS = ("enabled", "method", "tau", "metric", "anchored")
# Tokens that stand for an image in the prompt: text carrying one would not match the images.
RESERVED_TEXT = ("<|image_pad|>", "<|video_pad|>")


@dataclass(frozen=True)
class ChatRequest:
    """A checked request: the model's chat messages, the image URLs in order, the options."""

    messages: list[dict[str, Any]]
    image_urls: list[str]
    max_tokens: int
    prune: PruneConfig | None


def parse_chat_request(payload: Any, settings: ServerSettings) -> ChatRequest:
    """The request in `payload` (decoded JSON), checked against the server's settings."""
    if not isinstance(payload, dict):
        raise ApiError(400, "the request body must be a JSON object", "invalid_body")
    model = payload.get("model")
    if model is None:
        raise ApiError(400, "missing required field 'model'", "missing_field")
    if model != settings.model_id:
        raise ApiError(
            404,
            f"the model {model!r} does not exist; this server serves {settings.model_id!r}",
            "model_not_found",
        )
    _refuse_unsupported(payload)
    messages, image_urls = _messages(payload.get("messages"))
    if len(image_urls) > settings.max_images:
        raise ApiError(
            400,
            f"{len(image_urls)} images in the request; this server takes at most "
            f"{settings.max_images}",
            "too_many_images",
        )
    return ChatRequest(
        messages=messages,
        image_urls=image_urls,
        max_tokens=_max_tokens(payload, settings),
        prune=parse_prune(payload.get("pixelprune"), settings.default_prune),
    )


def parse_prune(value: Any, default: PruneConfig | None) -> PruneConfig | None:
    """The request's `pixelprune` object as a config (None: no pruning).

    Absent or null: the server default. `{"enabled": false}`: off. Otherwise the given fields
    replace those of the server default (of `PruneConfig()` when the server default is off).
    """
    if value is None:
        return default
    if not isinstance(value, dict):
        raise ApiError(400, "'pixelprune' must be an object or null", "invalid_pixelprune")
    unknown = sorted(set(value) - set(PRUNE_FIELDS))
    if unknown:
        raise ApiError(
            400,
            f"unknown 'pixelprune' fields {unknown}; known: {', '.join(PRUNE_FIELDS)}",
            "invalid_pixelprune",
        )
    enabled = value.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ApiError(400, "'pixelprune.enabled' must be true or false", "invalid_pixelprune")
    if not enabled:
        if len(value) > 1:
            raise ApiError(
                400,
                "'pixelprune' with enabled=false takes no other fields",
                "invalid_pixelprune",
            )
        return None
    fields = {name: value[name] for name in PRUNE_FIELDS[1:] if name in value}
    for name, kinds, what in (
        ("method", str, "a string"),
        ("metric", str, "a string"),
        ("anchored", bool, "true or false"),
    ):
        if name in fields and not isinstance(fields[name], kinds):
            raise ApiError(400, f"'pixelprune.{name}' must be {what}", "invalid_pixelprune")
    if "tau" in fields and not _is_number(fields["tau"]):
        raise ApiError(400, "'pixelprune.tau' must be a number", "invalid_pixelprune")
    try:
        return dataclasses.replace(default or PruneConfig(), **fields)
    except PruneInputError as error:
        raise ApiError(400, f"bad 'pixelprune': {error}", "invalid_pixelprune") from None


def _refuse_unsupported(payload: dict[str, Any]) -> None:
    if payload.get("stream") not in (None, False):
        raise ApiError(400, "streaming is not supported; send stream=false", "unsupported")
    if payload.get("n") not in (None, 1):
        raise ApiError(400, "only n=1 is supported (one answer per request)", "unsupported")
    if payload.get("stop") not in (None, [], ""):
        raise ApiError(400, "stop sequences are not supported", "unsupported")
    temperature = payload.get("temperature")
    if temperature is not None and not (_is_number(temperature) and 0 <= temperature <= 2):
        raise ApiError(400, "'temperature' must be a number from 0 to 2", "invalid_value")


def _messages(value: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """The messages in the model's chat format, and the image URLs in order."""
    if value is None:
        raise ApiError(400, "missing required field 'messages'", "missing_field")
    if not isinstance(value, list) or not value:
        raise ApiError(400, "'messages' must be a non-empty list", "invalid_messages")
    messages: list[dict[str, Any]] = []
    urls: list[str] = []
    for index, message in enumerate(value):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise ApiError(400, f"{where} must be an object", "invalid_messages")
        role = message.get("role")
        if role not in ROLES:
            raise ApiError(
                400, f"{where}.role must be one of {', '.join(ROLES)}", "invalid_messages"
            )
        content = message.get("content")
        if isinstance(content, str):
            _check_text(content, f"{where}.content")
            messages.append({"role": role, "content": content})
        elif isinstance(content, list):
            parts = [_part(part, f"{where}.content[{i}]", urls) for i, part in enumerate(content)]
            messages.append({"role": role, "content": parts})
        else:
            raise ApiError(
                400, f"{where}.content must be a string or a list of parts", "invalid_messages"
            )
    return messages, urls


def _part(part: Any, where: str, urls: list[str]) -> dict[str, Any]:
    """One content part in the model's format; an image part's URL is appended to `urls`."""
    if not isinstance(part, dict):
        raise ApiError(400, f"{where} must be an object", "invalid_messages")
    kind = part.get("type")
    if kind == "text":
        text = part.get("text")
        if not isinstance(text, str):
            raise ApiError(400, f"{where}.text must be a string", "invalid_messages")
        _check_text(text, f"{where}.text")
        return {"type": "text", "text": text}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str) or not url:
            raise ApiError(400, f"{where}.image_url.url must be a string", "invalid_messages")
        urls.append(url)
        return {"type": "image"}
    raise ApiError(
        400, f"{where}.type must be 'text' or 'image_url', got {kind!r}", "invalid_messages"
    )


def _check_text(text: str, where: str) -> None:
    for token in RESERVED_TEXT:
        if token in text:
            raise ApiError(
                400,
                f"{where} contains {token}, which stands for an image; send images as "
                "image_url parts",
                "invalid_messages",
            )


def _max_tokens(payload: dict[str, Any], settings: ServerSettings) -> int:
    name = "max_completion_tokens" if "max_completion_tokens" in payload else "max_tokens"
    value = payload.get(name)
    if value is None:
        return settings.default_max_tokens
    if not isinstance(value, int) or isinstance(value, bool):
        raise ApiError(400, f"'{name}' must be an integer", "invalid_value")
    if not 1 <= value <= settings.max_tokens_limit:
        raise ApiError(
            400,
            f"'{name}' must be between 1 and {settings.max_tokens_limit}, got {value}",
            "invalid_value",
        )
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
