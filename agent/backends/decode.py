"""Prefill and greedy decoding on a stock model's language tower, with pruned image features.

We drive `model.model.language_model` and `model.lm_head` directly (both stock) rather than the
model's `generate`, because the pruned prompt has fewer image tokens than the model's own
bookkeeping expects (it would re-derive positions and image features from the full grid) and
because we time prefill and each decode step ourselves.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import DynamicCache, PreTrainedModel

from agent.backends.prompt import PromptInputs
from agent.backends.pruned_vision import VisionFeatures

__all__ = ["Generation", "generate", "prefill"]


@dataclass(frozen=True)
class Generation:
    """Generated token ids and where the time went."""

    tokens: list[int]
    prefill_seconds: float  # prompt forward incl. the first token: time to first token
    decode_seconds: float  # the remaining tokens


@torch.no_grad()
def prefill(
    model: PreTrainedModel,
    inputs: PromptInputs,
    features: VisionFeatures,
    *,
    all_logits: bool = False,
) -> tuple[torch.Tensor, DynamicCache]:
    """Logits of the prompt's last position (1, 1, vocab), or of every position with
    `all_logits` (1, L, vocab), and the KV cache to continue from."""
    language = model.model.language_model
    embeds = model.get_input_embeddings()(inputs.input_ids)
    image_mask = inputs.input_ids == model.config.image_token_id
    image_embeds = torch.cat(features.embeds).to(embeds.device, embeds.dtype)
    if int(image_mask.sum()) != len(image_embeds):
        raise ValueError(
            f"{int(image_mask.sum())} image tokens in the prompt for {len(image_embeds)} features"
        )
    embeds = embeds.masked_scatter(image_mask[..., None].expand_as(embeds), image_embeds)
    extra = {}
    if features.deepstack is not None:
        extra = {
            "visual_pos_masks": image_mask,
            "deepstack_visual_embeds": [torch.cat(layer) for layer in features.deepstack],
        }
    cache = DynamicCache(config=language.config)
    out = language(
        inputs_embeds=embeds,
        position_ids=inputs.position_ids,
        use_cache=True,
        **{_cache_keyword(language): cache},
        **extra,
    )
    hidden = out.last_hidden_state if all_logits else out.last_hidden_state[:, -1:]
    return model.lm_head(hidden), cache


@torch.no_grad()
def generate(
    model: PreTrainedModel,
    inputs: PromptInputs,
    features: VisionFeatures,
    *,
    max_new_tokens: int,
    stop_ids: Sequence[int],
) -> Generation:
    """Greedy decoding until a stop id or `max_new_tokens`; positions continue from the full
    (unpruned) prompt's max + 1 on all three M-RoPE axes."""
    language = model.model.language_model
    start = time.perf_counter()
    logits, cache = prefill(model, inputs, features)
    token = int(logits[0, -1].argmax())
    tokens = [token]
    first = time.perf_counter()
    position = inputs.next_position
    while token not in stop_ids and len(tokens) < max_new_tokens:
        ids = torch.tensor([[token]], device=inputs.input_ids.device)
        positions = torch.full((3, 1, 1), position, device=ids.device, dtype=torch.long)
        out = language(
            inputs_embeds=model.get_input_embeddings()(ids),
            position_ids=positions,
            use_cache=True,
            **{_cache_keyword(language): cache},
        )
        token = int(model.lm_head(out.last_hidden_state)[0, -1].argmax())
        tokens.append(token)
        position += 1
    if _is_cuda(model):
        torch.cuda.synchronize()
    end = time.perf_counter()
    return Generation(tokens, first - start, end - first)


def _cache_keyword(language: torch.nn.Module) -> str:
    """transformers renamed `past_key_values` to `cache` (5.2x); take whichever this one has."""
    names = inspect.signature(language.forward).parameters
    return "cache" if "cache" in names else "past_key_values"


def _is_cuda(model: PreTrainedModel) -> bool:
    return model.device.type == "cuda"
