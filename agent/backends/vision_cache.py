"""`VisionCache`: vision-tower features of screenshots already encoded, reused exactly.

    cache = VisionCache(max_images=32, max_bytes=512 * 2**20)
    key = cache.key(image, prune)          # content digest + pruning setting
    entry = cache.get(key)                 # None: encode it, then cache.put(key, entry)

An agent step shows the model its last few screenshots again; a chat sent to the server repeats
the conversation's earlier images. Their features (the merger's rows for the kept cells, and
Qwen3-VL's deepstack rows) depend only on the pixels, the model and the pruning setting, so the
tensors computed the first time are handed out again: bit for bit what a new encode of that
image alone gives. Keys are content digests (SHA-256 of the RGB bytes, computed once per image
object), so a screenshot decoded anew from a request still hits. The cache belongs to one loaded
model (a new model starts empty), is bounded in images and bytes (least recently used first
out), and keeps the entries of the two settings used last (the agent asks pruned, and unpruned
once per prompt shape to measure the saving); a third setting drops the oldest one's entries.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import torch
from PIL import Image

from agent.backends.base import ImageCache
from pixelprune import Selection

__all__ = ["CachedImage", "VisionCache", "image_digest"]

SETTINGS_KEPT = 2


@dataclass(frozen=True)
class CachedImage:
    """One image's vision features as the tower gave them, and what computing them cost."""

    embeds: torch.Tensor  # (kept cells, hidden)
    deepstack: tuple[torch.Tensor, ...] | None  # Qwen3-VL: one (kept cells, hidden) per layer
    kept_cells: torch.Tensor  # raster indices of the cells the rows stand for
    grid: tuple[int, int, int]  # temporal, height, width in patches
    selection: Selection | None  # None when not pruned
    seconds: float  # this image's share of the vision call that encoded it

    @property
    def nbytes(self) -> int:
        tensors = [self.embeds, self.kept_cells, *(self.deepstack or ())]
        return sum(t.numel() * t.element_size() for t in tensors)


Key = tuple[bytes, object]


class VisionCache:
    """Encoded images by (content digest, setting), bounded in count and bytes."""

    def __init__(self, max_images: int = 32, max_bytes: int = 512 * 2**20) -> None:
        if max_images < 1 or max_bytes < 1:
            raise ValueError("a vision cache needs room for at least one image")
        self.max_images = max_images
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Key, CachedImage] = OrderedDict()
        self._settings: list[object] = []  # most recent last
        self._digests: ImageCache[bytes] = ImageCache(max_images)
        self.nbytes = 0

    def key(self, image: Image.Image, setting: object) -> Key:
        """The key of `image` (RGB) under `setting` (a hashable pruning setting, None: unpruned)."""
        digest = self._digests.get(image, None)
        if digest is None:
            digest = image_digest(image)
            self._digests.put(image, None, digest)
        return digest, setting

    def get(self, key: Key) -> CachedImage | None:
        self._use_setting(key[1])
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: Key, entry: CachedImage) -> None:
        """Keep `entry` (its tensors are copied out of any larger batch tensor first)."""
        self._use_setting(key[1])
        entry = _standalone(entry)
        if entry.nbytes > self.max_bytes:
            return  # larger than the whole cache: not kept
        self._drop(key)
        self._entries[key] = entry
        self.nbytes += entry.nbytes
        while len(self._entries) > self.max_images or self.nbytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def clear(self) -> None:
        self._entries.clear()
        self._settings.clear()
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _use_setting(self, setting: object) -> None:
        if setting in self._settings:
            self._settings.remove(setting)
        self._settings.append(setting)
        if len(self._settings) > SETTINGS_KEPT:
            dropped = self._settings.pop(0)
            for key in [key for key in self._entries if key[1] == dropped]:
                self._drop(key)

    def _drop(self, key: Key) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.nbytes -= entry.nbytes


def image_digest(image: Image.Image) -> bytes:
    """SHA-256 of the image's mode, size and pixel bytes."""
    digest = hashlib.sha256(f"{image.mode}:{image.width}x{image.height}:".encode())
    digest.update(image.tobytes())
    return digest.digest()


def _standalone(entry: CachedImage) -> CachedImage:
    """The entry with tensors that own their memory: a row slice of a batch's output would keep
    the whole batch alive (and the byte count would lie)."""

    def own(tensor: torch.Tensor) -> torch.Tensor:
        whole = tensor.untyped_storage().nbytes()
        return tensor.clone() if whole > tensor.numel() * tensor.element_size() else tensor

    return CachedImage(
        embeds=own(entry.embeds),
        deepstack=None if entry.deepstack is None else tuple(own(t) for t in entry.deepstack),
        kept_cells=own(entry.kept_cells),
        grid=entry.grid,
        selection=entry.selection,
        seconds=entry.seconds,
    )
