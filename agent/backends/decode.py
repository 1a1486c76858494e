"""Prefill and decoding (greedy unless asked) on a stock language tower, with pruned image features.

We drive `model.model.language_model` and `model.lm_head` directly (both stock) rather than the
model's `generate`, because the pruned prompt has fewer image tokens than the model's own
bookkeeping expects (it would re-derive positions and image features from the full grid) and
because we time prefill and each decode step ourselves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel
from transformers.cache_utils import Cache

from agent.backends.decode_step import DecodeSteps, cache_keyword
from agent.backends.prompt import PromptInputs
from agent.backends.pruned_vision import VisionFeatures
from agent.backends.sampling import Decoding

__all__ = ["Generation", "generate", "prefill"]

GREEDY = Decoding()
EAGER = DecodeSteps()


@dataclass(frozen=True)
class Generation:
    """Generated token ids per prompt (up to and including its stop id) and where time went."""

    tokens: list[list[int]]
    prefill_seconds: float  # prompt forward incl. the first token: time to first token
    decode_seconds: float  # the remaining tokens


@torch.no_grad()
def prefill(
    model: PreTrainedModel,
    inputs: PromptInputs,
    features: VisionFeatures,
    *,
    all_logits: bool = False,
    cache: Cache | None = None,
    attention_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, Cache]:
    """Logits of each prompt's last position (B, 1, vocab), or of every position with
    `all_logits` (B, L, vocab), and the KV cache to continue from: `cache` when given (empty,
    e.g. a static one, with its `attention_mask`), else a new growing one."""
    language = model.model.language_model
    embeds = model.get_input_embeddings()(inputs.input_ids)
    image_mask = inputs.input_ids == model.config.image_token_id
    count = sum(len(image) for image in features.embeds)
    if int(image_mask.sum()) != count:
        raise ValueError(f"{int(image_mask.sum())} image tokens in the prompt for {count} features")
    extra = {}
    if features.embeds:  # else a text-only prompt
        image_embeds = torch.cat(features.embeds).to(embeds.device, embeds.dtype)
        embeds = embeds.masked_scatter(image_mask[..., None].expand_as(embeds), image_embeds)
    if features.deepstack is not None:
        extra = {
            "visual_pos_masks": image_mask,
            "deepstack_visual_embeds": [torch.cat(layer) for layer in features.deepstack],
        }
    if cache is None:
        cache = EAGER.cache(language, *inputs.input_ids.shape)
    out = language(
        inputs_embeds=embeds,
        position_ids=inputs.position_ids,
        attention_mask=inputs.attention_mask if attention_mask is None else attention_mask,
        use_cache=True,
        **{cache_keyword(language): cache},
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
    cancelled: Sequence[threading.Event] = (),
    decoding: Decoding = GREEDY,
    steps: DecodeSteps = EAGER,
) -> Generation:
    """Decoding of every prompt in the batch (greedy unless `decoding` samples) until its stop
    id or `max_new_tokens`, each step as `steps` runs it (eager, static or compiled: the same
    tokens); positions continue from each full (unpruned) prompt's max + 1 on all three M-RoPE
    axes.

    A prompt whose `cancelled` event is set gets no more tokens from the next step on (the
    batch ends early when every prompt is done or cancelled)."""
    start = time.perf_counter()
    batch, length = inputs.input_ids.shape
    cache = steps.cache(model.model.language_model, batch, length + max_new_tokens)
    mask = steps.prompt_mask(inputs.attention_mask)
    logits, cache = prefill(model, inputs, features, cache=cache, attention_mask=mask)
    generator = decoding.generator(logits.device)
    seen = inputs.input_ids
    step = decoding.next_tokens(logits[:, -1], seen, generator)  # (B,)
    first = time.perf_counter()
    generated = [step]
    stops = torch.tensor(list(stop_ids), device=step.device, dtype=step.dtype)
    done = torch.isin(step, stops)
    positions = inputs.next_position.clone()
    cut: dict[int, int] = {}  # row → tokens it had when it was cancelled
    while len(generated) < max_new_tokens:
        for row, event in enumerate(cancelled):
            if row not in cut and event.is_set():
                cut[row] = len(generated)
                done[row] = True
        if bool(done.all()):
            break
        mask = steps.next_mask(mask)
        next_logits = steps.logits(model, step, positions, mask, cache)
        seen = torch.cat([seen, step[:, None]], dim=1)
        step = decoding.next_tokens(next_logits, seen, generator)
        generated.append(step)
        done |= torch.isin(step, stops)
        positions += 1
    tokens = torch.stack(generated, dim=1).tolist()  # syncs the device
    end = time.perf_counter()
    rows = [_until_stop(row[: cut.get(index)], stop_ids) for index, row in enumerate(tokens)]
    return Generation(rows, first - start, end - first)


def _until_stop(row: list[int], stop_ids: Sequence[int]) -> list[int]:
    for index, token in enumerate(row):
        if token in stop_ids:
            return row[: index + 1]
    return row
