"""`ServerSettings`: what one server accepts, in one frozen object the routes read.

The limits exist so that a request can only cost a bounded amount of memory and time before it
is refused: a capped body, a capped number of images, capped bytes and pixels per image.
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
    file_root: folder that `file://` image URLs may point into (None: no file URLs).
    default_max_tokens / max_tokens_limit: completion length when not asked, and its ceiling.
    """

    model_id: str
    api_key: str | None = None
    default_prune: PruneConfig | None = field(default_factory=PruneConfig)
    max_images: int = 6
    max_image_bytes: int = 10 * MIB
    max_image_pixels: int = 40_000_000
    file_root: Path | None = None
    default_max_tokens: int = 256
    max_tokens_limit: int = 4096

    def __post_init__(self) -> None:
        if self.max_images < 1 or self.max_image_bytes < 1 or self.max_image_pixels < 1:
            raise ValueError("max_images, max_image_bytes and max_image_pixels must be >= 1")
        if not 1 <= self.default_max_tokens <= self.max_tokens_limit:
            raise ValueError("default_max_tokens must be between 1 and max_tokens_limit")

    @property
    def max_body_bytes(self) -> int:
        """Largest request body: every image at its limit as base64, plus 1 MiB of text."""
        base64_image = -(-self.max_image_bytes // 3) * 4 + 256  # data URL prefix and JSON
        return self.max_images * base64_image + MIB
