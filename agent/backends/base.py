"""What the agent loop needs from a model: the `Backend` interface and its reply.

A backend answers one chat prompt with screenshots and says what it cost. The loop does not care
whether the model is local, scripted or remote; it needs the reply text, the token counts (None
where a backend cannot know them: shown as unknown, never invented), the timings it measured,
the per-image selections when it pruned, and the size it resizes a screenshot to (absolute-pixel
output conventions are relative to that size).
"""

from __future__ import annotations

import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np
from PIL import Image

from agent.messages import Prompt
from pixelprune import (
    Family,
    PruneConfig,
    Selection,
    parse_prune_spec,
    resize_for_model,
    select,
    smart_resize,
)

T = TypeVar("T")

__all__ = [
    "MODEL_TYPES",
    "Backend",
    "ImageCache",
    "ModelReply",
    "PruneConfig",
    "SelectionCache",
    "input_size",
    "parse_prune_spec",
    "select_cells",
]


# PixelPrune family → transformers model_type, for backends that know only the family
MODEL_TYPES = {"qwen2": "qwen2_vl", "qwen2.5": "qwen2_5_vl", "qwen3": "qwen3_vl"}


@dataclass(frozen=True)
class ModelReply:
    """One answer of a backend, with what it cost."""

    text: str
    prompt_tokens: int | None = None  # tokens the language model read (kept image tokens)
    image_tokens_full: int | None = None  # image tokens of the unpruned prompt
    image_tokens_kept: int | None = None  # image tokens actually sent
    selections: tuple[Selection, ...] | None = None  # per image, None when not pruned
    # seconds by stage: preprocess, prune, vision, prefill, decode, total (those measured)
    timings: Mapping[str, float] = field(default_factory=dict)
    # the vision tower's work (None where a backend cannot know): cells it encoded for this
    # call, images whose features came from the vision cache, what those had cost to encode
    vision_tokens_encoded: int | None = None
    vision_cache_hits: int | None = None
    vision_cache_seconds: float | None = None


class Backend(ABC):
    """A model the agent can ask for the next action."""

    name: str  # model id or path, for logs and trajectories
    model_type: str  # transformers model_type (qwen2_vl, qwen2_5_vl, qwen3_vl)
    convention: str | None = None  # the output convention it is known to use (else: by model)

    @abstractmethod
    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) the model's processor resizes a width x height screenshot to."""

    @abstractmethod
    def complete(
        self, prompt: Prompt, *, prune: PruneConfig | None, max_new_tokens: int
    ) -> ModelReply:
        """Answer the prompt; prune its images when `prune` is given (never silently not)."""

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Free what the backend holds (connections, GPU memory)."""


def input_size(
    width: int, height: int, family: Family, *, min_pixels: int, max_pixels: int
) -> tuple[int, int]:
    """(width, height) after the Qwen resize rule with the given pixel bounds."""
    resized_height, resized_width = smart_resize(
        height, width, family, min_pixels=min_pixels, max_pixels=max_pixels
    )
    return resized_width, resized_height


def select_cells(
    images: Sequence[Image.Image],
    family: Family,
    prune: PruneConfig,
    *,
    min_pixels: int,
    max_pixels: int,
    cache: ImageCache[Selection] | None = None,
    resize: Callable[[Image.Image], np.ndarray] | None = None,
) -> list[Selection]:
    """Cells to keep per image, chosen on the processor's own resize of each uint8 image.

    With a `cache`, an image object seen before with the same settings (the agent resends its
    last screenshots every step) is not resized and selected again. `resize` gives the resized
    pixels when the caller already has them (the local model's preprocessor does).
    """
    selections = []
    for image in images:
        key = (family.name, prune, min_pixels, max_pixels)
        selection = None if cache is None else cache.get(image, key)
        if selection is None:
            pixels = (
                resize(image)
                if resize is not None
                else resize_for_model(image, family, min_pixels=min_pixels, max_pixels=max_pixels)
            )
            selection = select(
                pixels,
                cell=family.cell,
                method=prune.method,
                tau=prune.tau,
                metric=prune.metric,
                anchored=prune.anchored,
                seed=0,
            )
            if cache is not None:
                cache.put(image, key, selection)
        selections.append(selection)
    return selections


class ImageCache(Generic[T]):
    """Values derived from the last few image objects (screenshots are never changed in place).

    Keyed by object identity, checked through a weak reference so a recycled id never matches
    another image, and by the settings the value was derived with.
    """

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._entries: dict[int, tuple[weakref.ref[Image.Image], object, T]] = {}

    def get(self, image: Image.Image, key: object) -> T | None:
        entry = self._entries.get(id(image))
        if entry is None or entry[0]() is not image or entry[1] != key:
            return None
        return entry[2]

    def put(self, image: Image.Image, key: object, value: T) -> None:
        self._entries.pop(id(image), None)
        self._entries[id(image)] = (weakref.ref(image), key, value)
        while len(self._entries) > self.size:
            self._entries.pop(next(iter(self._entries)))


SelectionCache = ImageCache[Selection]
