"""How each decode step runs: on a growing cache (eager, the default), on a preallocated static
KV cache (static), or as one `torch.compile`d step over that static cache (compiled).

    steps = DecodeSteps("compiled")
    cache = steps.cache(language, batch=1, length=prompt_tokens + max_new_tokens)
    mask = steps.prompt_mask(attention_mask)               # for the prefill
    logits = steps.logits(model, tokens, positions, mask, cache)   # (B, vocab), one step

A compiled step needs shapes that do not change from one token to the next, hence the static
cache: its length is rounded up to `BUCKET` tokens and the cache is reused while a call fits
(on CUDA the graphs `mode="reduce-overhead"` records keep their buffers). A second cache length
compiles the step once more with that length symbolic (torch's automatic dynamic shapes), and
every later length reuses it. Every mode gives the tokens of the eager one (tested on the three
families, greedy and seeded sampling); which is faster on a machine is `tools/bench_step.py`'s
to say.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
from transformers import DynamicCache, PreTrainedModel, StaticCache
from transformers.cache_utils import Cache

from agent.errors import ModelError
from agent.settings import DECODE_STEPS, DecodeStepName

__all__ = ["BUCKET", "DecodeSteps"]

BUCKET = 256  # static cache lengths are multiples of this: prompts of similar length share one


class DecodeSteps:
    """One model's decode steps in one mode; holds the static cache and the compiled step it
    reuses from call to call (one caller at a time: the agent's loop, the server's worker)."""

    def __init__(self, mode: DecodeStepName = "eager") -> None:
        if mode not in DECODE_STEPS:
            raise ModelError(f"decode step must be one of {', '.join(DECODE_STEPS)}, got {mode!r}")
        self.mode = mode
        self._static: StaticCache | None = None
        self._static_shape: tuple[int, int] | None = None  # (batch, length) it was made for
        self._compiled: Callable[..., torch.Tensor] | None = None

    @property
    def static(self) -> bool:
        return self.mode != "eager"

    def cache(self, language: Any, batch: int, length: int) -> Cache:
        """An empty cache for `batch` prompts of up to `length` tokens (prompt and answer)."""
        if not self.static:
            return DynamicCache(config=language.config)
        shape = (batch, math.ceil(length / BUCKET) * BUCKET)
        if self._static is None or self._static_shape != shape:
            self._static = None  # its memory goes before the new one is filled
            self._static = StaticCache(config=language.config, max_cache_len=shape[1])
            self._static_shape = shape
        else:
            self._static.reset()
        return self._static

    def prompt_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """The prefill's 2-D mask (B, L) for the cache `cache` gave last: the prompt's own on a
        growing cache; on a static cache padded with ones to its length, so every step passes
        the same shape (the causal mask keeps each token from the positions after it)."""
        if self._static_shape is None or not self.static:
            return mask
        length = self._static_shape[1]
        padded = torch.ones(mask.shape[0], length, dtype=mask.dtype, device=mask.device)
        padded[:, : mask.shape[1]] = mask
        return padded

    def next_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """The mask for the next token: one more position on a growing cache, the same else."""
        if self.static:
            return mask
        return torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)

    def logits(
        self,
        model: PreTrainedModel,
        tokens: torch.Tensor,
        positions: torch.Tensor,
        mask: torch.Tensor,
        cache: Cache,
    ) -> torch.Tensor:
        """Next-token logits (B, vocab) after `tokens` (B,) at text positions `positions` (B,)."""
        keyword = cache_keyword(model.model.language_model)
        if self.mode != "compiled":
            return _step(model, tokens, positions, mask, cache, keyword)
        if self._compiled is None:
            cuda = tokens.device.type == "cuda"
            self._compiled = torch.compile(_step, mode="reduce-overhead" if cuda else None)
        if tokens.device.type == "cuda":
            torch.compiler.cudagraph_mark_step_begin()  # the last step's outputs are read
        return self._compiled(model, tokens, positions, mask, cache, keyword)


def _step(
    model: PreTrainedModel,
    tokens: torch.Tensor,
    positions: torch.Tensor,
    mask: torch.Tensor,
    cache: Cache,
    keyword: str,
) -> torch.Tensor:
    """One token through the stock language tower and head; the same position on all three
    M-RoPE axes (text after the images)."""
    language: Any = model.model.language_model
    out = language(
        inputs_embeds=model.get_input_embeddings()(tokens[:, None]),
        position_ids=positions.view(1, -1, 1).expand(3, -1, 1),
        attention_mask=mask,
        use_cache=True,
        **{keyword: cache},
    )
    logits: torch.Tensor = model.lm_head(out.last_hidden_state)[:, -1]
    return logits


def cache_keyword(language: Any) -> str:
    """transformers renamed `past_key_values` to `cache` (5.2x); take whichever this one has."""
    language_class: Any = type(language)
    return _cache_keyword_of(language_class)


@functools.cache
def _cache_keyword_of(language_class: Any) -> str:
    """Per class, once: inspecting a signature on every decode step would cost each token."""
    names = inspect.signature(language_class.forward).parameters
    return "cache" if "cache" in names else "past_key_values"
