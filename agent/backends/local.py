"""`LocalVLM`: the local (optionally quantized) Qwen-VL backend, with PixelPrune opt-in per call.

    vlm = LocalVLM.from_pretrained("ByteDance-Seed/UI-TARS-1.5-7B", quantization="4bit")
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": task}]}]
    result = vlm.generate([screenshot], messages, prune=PruneConfig(tau=0.0))
    result.text, result.image_tokens_kept, result.timings.prefill

Each call resizes the images as the model's processor does, selects the kept cells with
`pixelprune.select` on exactly those pixels, runs the stock vision tower on the kept patches only
and the stock language tower on a prompt with one image token per kept cell. `prune=None` runs
the plain model. Pruning never silently falls back: an input that cannot be pruned raises.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from PIL import Image
from transformers import PreTrainedModel

from agent.backends.base import Backend, ModelReply, SelectionCache, input_size, select_cells
from agent.backends.decode import generate
from agent.backends.decode_step import DecodeSteps
from agent.backends.loading import LoadedModel, ModelConfig, load_model
from agent.backends.preprocess import ImagePreprocessor
from agent.backends.prompt import build_inputs, stack_inputs
from agent.backends.pruned_vision import VisionFeatures, encode_images
from agent.backends.sampling import decoding_for
from agent.backends.vision_cache import CachedImage, VisionCache
from agent.errors import ModelError
from agent.messages import Prompt
from agent.models import DEFAULT_MODEL, card_pixel_bounds
from agent.settings import DecodeStepName, DecodingName, Quantization
from pixelprune import PruneConfig, Selection, get_family

__all__ = ["GenerationResult", "LocalVLM", "PruneConfig", "Request", "Timings"]


@dataclass(frozen=True)
class Timings:
    """Seconds per stage of one call (a batch shares its stages)."""

    preprocess: float  # resize, normalise, patchify (cached resizes of resent images)
    prune: float  # cell selection, all images
    vision: float  # vision tower
    prefill: float  # prompt forward up to the first token (time to first token after vision)
    decode: float  # the remaining tokens
    total: float


@dataclass(frozen=True)
class GenerationResult:
    """One prompt's answer and what it cost."""

    text: str
    token_ids: list[int]
    prompt_tokens: int  # tokens the language model read (kept image tokens included)
    image_tokens_full: int
    image_tokens_kept: int
    selections: tuple[Selection, ...] | None  # None when not pruned
    timings: Timings
    stopped: bool  # the model ended its answer (a stop token), rather than max_new_tokens
    # this prompt's images in the vision tower: cells encoded by this call (its own images
    # only), images served from the vision cache, and what those had cost to encode
    vision_tokens_encoded: int = 0
    vision_cache_hits: int = 0
    vision_cache_seconds: float = 0.0


@dataclass(frozen=True)
class Request:
    """One prompt of a batch: its images, in the order of the image parts of `messages`.

    Setting `cancelled` (from any thread) ends its answer at the next decode step, with the
    tokens so far: the server does so when the client has gone.
    """

    images: Sequence[Image.Image]
    messages: list[dict[str, Any]]
    cancelled: threading.Event = field(default_factory=threading.Event, compare=False)


class LocalVLM(Backend):
    """A loaded Qwen2/2.5/3-VL model that answers chat prompts with screenshots."""

    def __init__(
        self,
        loaded: LoadedModel,
        name: str | None = None,
        *,
        vision_cache: bool = True,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        decoding: DecodingName = "greedy",
        decode_step: DecodeStepName = "eager",
    ) -> None:
        """`vision_cache`: reuse the features of images encoded before (`VisionCache`).
        `min_pixels`/`max_pixels`: resize bounds instead of those the model's card runs it at
        (`agent.models.card_pixel_bounds`), else its folder's preprocessor config.
        `decoding`: "greedy", or "folder" for the folder's generation_config.json settings.
        `decode_step`: "eager", "static" (KV cache) or "compiled" (`DecodeSteps`)."""
        self.loaded = loaded
        self.decoding = decoding_for(decoding, loaded.folder)
        self.decode_steps = DecodeSteps(decode_step)
        self.family = get_family(loaded.family)
        self.name = name or str(loaded.folder)
        self.model_type = loaded.model.config.model_type
        self.pixel_bounds = _pixel_bounds(
            loaded, card_pixel_bounds(self.model_type, self.name), min_pixels, max_pixels
        )
        self._selections = SelectionCache()  # the agent resends its last screenshots
        self._preprocess = ImagePreprocessor(
            loaded.image_processor, self.family, bounds=self.pixel_bounds
        )
        self.vision_cache = VisionCache() if vision_cache else None

    @classmethod
    def from_pretrained(
        cls,
        path_or_id: str = DEFAULT_MODEL,
        *,
        quantization: Quantization | None = "4bit",
        device_map: str | dict[str, Any] = "auto",
        cache_dir: str | None = None,
        attn_implementation: str | None = None,
        quantize_vision: bool = False,
        vision_cache: bool = True,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        decoding: DecodingName = "greedy",
        decode_step: DecodeStepName = "eager",
    ) -> LocalVLM:
        """Load a local folder or an id from the local Hugging Face cache (never downloads).

        See `ModelConfig` for the loading options, `LocalVLM` for the others.
        """
        config = ModelConfig(
            path_or_id,
            quantization,
            device_map,
            cache_dir,
            attn_implementation,
            quantize_vision=quantize_vision,
        )
        return cls(
            load_model(config),
            name=path_or_id,
            vision_cache=vision_cache,
            min_pixels=min_pixels,
            max_pixels=max_pixels,
            decoding=decoding,
            decode_step=decode_step,
        )

    @property
    def context_length(self) -> int:
        """Tokens the language model's positions cover: prompt and answer together."""
        config = self.loaded.model.config
        text = getattr(config, "text_config", None) or config
        return int(text.max_position_embeddings)

    def prompt_tokens(self, request: Request) -> int:
        """The prompt's length in tokens with every image unpruned (pruning only shortens it),
        without running the model: what a server checks against the context before the work."""
        tokenizer = self.loaded.tokenizer
        text = str(
            tokenizer.apply_chat_template(
                request.messages, add_generation_prompt=True, tokenize=False
            )
        )
        text_tokens = len(tokenizer(text, add_special_tokens=False).input_ids)
        cell = self.family.cell
        image_tokens = 0
        for image in request.images:
            width, height = self.input_size(*image.size)
            image_tokens += (width // cell) * (height // cell) - 1  # replaces its placeholder
        return text_tokens + image_tokens

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) this model resizes a screenshot to (within `pixel_bounds`)."""
        low, high = self.pixel_bounds
        return input_size(width, height, self.family, min_pixels=low, max_pixels=high)

    def complete(
        self, prompt: Prompt, *, prune: PruneConfig | None, max_new_tokens: int = 256
    ) -> ModelReply:
        """The agent-loop view of `generate`: the reply with its tokens and timings."""
        result = self.generate(
            prompt.images, prompt.messages, prune=prune, max_new_tokens=max_new_tokens
        )
        return ModelReply(
            text=result.text,
            prompt_tokens=result.prompt_tokens,
            image_tokens_full=result.image_tokens_full,
            image_tokens_kept=result.image_tokens_kept,
            selections=result.selections,
            timings=asdict(result.timings),
            vision_tokens_encoded=result.vision_tokens_encoded,
            vision_cache_hits=result.vision_cache_hits,
            vision_cache_seconds=result.vision_cache_seconds,
        )

    def generate(
        self,
        images: Sequence[Image.Image],
        messages: list[dict[str, Any]],
        *,
        prune: PruneConfig | None = None,
        max_new_tokens: int = 256,
    ) -> GenerationResult:
        """Answer one chat prompt whose image parts are `images`, in order."""
        (result,) = self.generate_batch(
            [Request(images, messages)], prune=prune, max_new_tokens=max_new_tokens
        )
        return result

    def generate_batch(
        self,
        requests: Sequence[Request],
        *,
        prune: PruneConfig | None = None,
        max_new_tokens: int = 256,
    ) -> list[GenerationResult]:
        """Answer several prompts in one batch (left-padded), decoded as `decoding` says."""
        model, tokenizer = self.loaded.model, self.loaded.tokenizer
        start = time.perf_counter()
        all_images = [_rgb(image) for request in requests for image in request.images]
        encoded = self._encode(all_images, prune)
        features, grid = encoded.features, encoded.grid
        prompts, first_image = [], 0
        for request in requests:
            count = len(request.images)
            text = str(
                tokenizer.apply_chat_template(
                    request.messages, add_generation_prompt=True, tokenize=False
                )
            )
            prompts.append(
                build_inputs(
                    model,
                    tokenizer,
                    text,
                    grid[first_image : first_image + count],
                    features.kept_cells[first_image : first_image + count],
                )
            )
            first_image += count
        batch = stack_inputs(prompts, tokenizer.pad_token_id)
        stop_ids = sorted({tokenizer.eos_token_id, *_stop_ids(model)})
        generation = generate(
            model,
            batch,
            features,
            max_new_tokens=max_new_tokens,
            stop_ids=stop_ids,
            cancelled=[request.cancelled for request in requests],
            decoding=self.decoding,
            steps=self.decode_steps,
        )
        timings = Timings(
            preprocess=encoded.preprocess_seconds,
            prune=encoded.prune_seconds,
            vision=encoded.vision_seconds,
            prefill=generation.prefill_seconds,
            decode=generation.decode_seconds,
            total=time.perf_counter() - start,
        )
        results, first_image = [], 0
        for request, prompt, tokens in zip(requests, prompts, generation.tokens, strict=True):
            count = len(request.images)
            images = range(first_image, first_image + count)
            text_tokens = [t for t in tokens if t not in stop_ids]
            results.append(
                GenerationResult(
                    text=str(tokenizer.decode(text_tokens, skip_special_tokens=True)),
                    token_ids=tokens,
                    prompt_tokens=int(prompt.input_ids.shape[1]),
                    image_tokens_full=prompt.image_tokens_full,
                    image_tokens_kept=prompt.image_tokens_kept,
                    selections=None if prune is None else encoded.selections(images),
                    timings=timings,
                    stopped=any(t in stop_ids for t in tokens),
                    **encoded.usage(images),
                )
            )
            first_image += count
        return results

    def _encode(self, images: Sequence[Image.Image], prune: PruneConfig | None) -> _Encoded:
        """Vision features of `images`, from the cache where it has them, else from the tower
        (only the images not cached are resized, selected and encoded)."""
        model = self.loaded.model
        start = time.perf_counter()
        cache = self.vision_cache
        keys = [] if cache is None else [cache.key(image, prune) for image in images]
        entries: list[CachedImage | None] = (
            [None] * len(images) if cache is None else [cache.get(key) for key in keys]
        )
        missing = [i for i, entry in enumerate(entries) if entry is None]
        new_images = [images[i] for i in missing]
        processed = self._preprocess(new_images, model.device)
        preprocessed = time.perf_counter()
        selections = None if prune is None else self._select(new_images, prune)
        pruned = time.perf_counter()
        features = encode_images(
            model, processed.pixel_values, processed.grid.to(model.device), selections
        )
        _sync(model)
        vision_seconds = time.perf_counter() - pruned
        encoded_tokens = sum(len(cells) for cells in features.kept_cells)
        for n, i in enumerate(missing):
            entry = entries[i] = CachedImage(
                embeds=features.embeds[n],
                deepstack=None
                if features.deepstack is None
                else tuple(layer[n] for layer in features.deepstack),
                kept_cells=features.kept_cells[n],
                grid=tuple(processed.grid[n].tolist()),
                selection=None if selections is None else selections[n],
                seconds=vision_seconds * len(features.kept_cells[n]) / max(encoded_tokens, 1),
            )
            if cache is not None:
                cache.put(keys[i], entry)
        return _Encoded(
            entries=[entry for entry in entries if entry is not None],  # all of them by now
            encoded={i: len(features.kept_cells[n]) for n, i in enumerate(missing)},
            preprocess_seconds=preprocessed - start,
            prune_seconds=pruned - preprocessed,
            vision_seconds=vision_seconds,
        )

    def _select(self, images: Sequence[Image.Image], prune: PruneConfig) -> list[Selection]:
        """Cells to keep, chosen on the processor's own resize of each uint8 image."""
        bounds = self.loaded.image_processor.size
        return select_cells(
            images,
            self.family,
            prune,
            min_pixels=bounds["shortest_edge"],
            max_pixels=bounds["longest_edge"],
            cache=self._selections,
            resize=self._preprocess.resize,
        )


@dataclass(frozen=True)
class _Encoded:
    """The vision side of one call: every image's features (cached or new), and the cost."""

    entries: list[CachedImage]  # one per image of the call, in order
    encoded: dict[int, int]  # image index → cells it sent through the tower in this call
    preprocess_seconds: float
    prune_seconds: float
    vision_seconds: float

    @property
    def features(self) -> VisionFeatures:
        deepstack = None
        if self.entries and self.entries[0].deepstack is not None:
            layers = zip(*(entry.deepstack for entry in self.entries), strict=True)
            deepstack = tuple(tuple(layer) for layer in layers)
        return VisionFeatures(
            embeds=tuple(entry.embeds for entry in self.entries),
            deepstack=deepstack,
            kept_cells=tuple(entry.kept_cells for entry in self.entries),
        )

    @property
    def grid(self) -> torch.Tensor:
        """(images, 3) int64 on the CPU: temporal, height, width in patches."""
        return torch.tensor([entry.grid for entry in self.entries], dtype=torch.int64).reshape(
            len(self.entries), 3
        )

    def selections(self, images: range) -> tuple[Selection, ...]:
        """The selections of the given images of a pruned call."""
        chosen = [self.entries[i].selection for i in images]
        return tuple(selection for selection in chosen if selection is not None)

    def usage(self, images: range) -> dict[str, Any]:
        """GenerationResult's vision fields for the images of one prompt."""
        hits = [i for i in images if i not in self.encoded]
        return {
            "vision_tokens_encoded": sum(self.encoded.get(i, 0) for i in images),
            "vision_cache_hits": len(hits),
            "vision_cache_seconds": sum(self.entries[i].seconds for i in hits),
        }


def _pixel_bounds(
    loaded: LoadedModel,
    card: tuple[int, int] | None,
    min_pixels: int | None,
    max_pixels: int | None,
) -> tuple[int, int]:
    """(min, max) resize pixels: the given ones, else the card's, else the folder's."""
    size = loaded.image_processor.size
    low, high = card or (size["shortest_edge"], size["longest_edge"])
    low, high = min_pixels or low, max_pixels or high
    if not 0 < low <= high:
        raise ModelError(f"min_pixels {low} must be positive and at most max_pixels {high}")
    return low, high


def _rgb(image: Image.Image) -> Image.Image:
    """The image itself when already RGB, so per-image caches see the object the agent resends."""
    return image if image.mode == "RGB" else image.convert("RGB")


def _stop_ids(model: PreTrainedModel) -> list[int]:
    eos = model.generation_config.eos_token_id if model.generation_config else None
    if eos is None:
        return []
    return list(eos) if isinstance(eos, (list, tuple)) else [eos]


def _sync(model: PreTrainedModel) -> None:
    if model.device.type == "cuda":
        torch.cuda.synchronize()
