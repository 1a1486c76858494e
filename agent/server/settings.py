"""`ServerSettings`: what one server accepts, in one frozen object the routes read.

The limits exist so that a request can only cost a bounded amount of memory and time before it
is refused: a capped body read within a time limit, capped images (bytes, pixels each and
together), a prompt that fits the model's context, and callers that name this server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pixelprune import PruneConfig

__all__ = ["ServerSettings"]

MIB = 1024 * 1024


@dataclass(frozen=True)
class ServerSettings:
    """Limits, defaults and access rules of one server.

    model_id: the one id /v1/models lists and requests must name.
    api_key: when set, every request needs `Authorization: Bearer <api_key>`.
    default_prune: pruning for requests without a `pixelprune` object (None: off).
    max_images: image parts per request, all messages together.
    max_image_bytes: encoded size of one image (after base64 decoding).
    max_image_pixels: width x height of one image, checked before it is decoded.
    max_batch_pixels: image pixels of one request, and of one batch of requests together.
    max_prompt_tokens: prompt length cap (None: the model's context minus the answer's room).
    file_root: folder that `file://` image URLs may point into (None: no file URLs).
    default_max_tokens / max_tokens_limit: completion length when not asked, and its ceiling.
    allowed_hosts: `Host` header names accepted (None: any); stops DNS rebinding to loopback.
    body_seconds: time a client has to send its whole request body (a slow client is cut off).
    """

    model_id: str
    api_key: str | None = None
    default_prune: PruneConfig | None = field(default_factory=PruneConfig)
    max_images: int = 6
    max_image_bytes: int = 10 * MIB
    max_image_pixels: int = 40_000_000
    max_batch_pixels: int = 64_000_000
    max_prompt_tokens: int | None = None
    file_root: Path | None = None
    default_max_tokens: int = 256
    max_tokens_limit: int = 4096
    allowed_hosts: frozenset[str] | None = None
    body_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.max_images < 1 or self.max_image_bytes < 1 or self.max_image_pixels < 1:
            raise ValueError("max_images, max_image_bytes and max_image_pixels must be >= 1")
        if self.max_batch_pixels < self.max_image_pixels:
            raise ValueError("max_batch_pixels must be at least max_image_pixels")
        if self.max_prompt_tokens is not None and self.max_prompt_tokens < 1:
            raise ValueError("max_prompt_tokens must be >= 1")
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("the API key is empty: give a key, or none for no key")
        if not 1 <= self.default_max_tokens <= self.max_tokens_limit:
            raise ValueError("default_max_tokens must be between 1 and max_tokens_limit")

    @property
    def max_body_bytes(self) -> int:
        """Largest request body: every image at its limit as base64, plus 1 MiB of text."""
        base64_image = -(-self.max_image_bytes // 3) * 4 + 256  # data URL prefix and JSON
        return self.max_images * base64_image + MIB
