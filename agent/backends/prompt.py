"""Token ids, modality types and M-RoPE positions of a prompt whose images were pruned.

Convention (the notes leave it to us): positions are those of the *unpruned* prompt with the
columns of dropped image tokens removed. So every kept image token keeps the (t, h, w) position
of its true cell, and the text after an image continues from the full image's max position + 1,
exactly as if nothing had been dropped; generated tokens continue from the full prompt's max + 1.
The full positions come from the model's own `get_rope_index`, so keep-all pruning reproduces the
stock positions bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from agent.errors import AgentError

__all__ = ["IMAGE_PLACEHOLDER", "PromptError", "PromptInputs", "build_inputs", "stack_inputs"]

IMAGE_PLACEHOLDER = "<|vision_start|><|image_pad|><|vision_end|>"


class PromptError(AgentError):
    """The prompt text and the images do not fit together."""


@dataclass(frozen=True)
class PromptInputs:
    """Prompts ready for the language model: a batch of B (left-padded when B > 1)."""

    input_ids: torch.Tensor  # (B, L)
    mm_token_type_ids: torch.Tensor  # (B, L): 0 text, 1 image
    position_ids: torch.Tensor  # (3, B, L) temporal, height, width
    attention_mask: torch.Tensor  # (B, L): 0 on left padding
    next_position: torch.Tensor  # (B,) position of each row's first generated token
    image_tokens_full: int
    image_tokens_kept: int


def build_inputs(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    text: str,
    image_grid_thw: torch.Tensor,
    kept_cells: Sequence[torch.Tensor],
) -> PromptInputs:
    """Expand each image's single `<|image_pad|>` in `text` to its kept tokens, with positions.

    `kept_cells[i]` lists the raster indices of image i's kept cells (all of them when unpruned).
    """
    image_token_id = model.config.image_token_id
    ids = torch.tensor(tokenizer(text, add_special_tokens=False).input_ids, dtype=torch.long)
    pads = (ids == image_token_id).nonzero().flatten().tolist()
    if len(pads) != len(image_grid_thw) or len(kept_cells) != len(image_grid_thw):
        raise PromptError(
            f"the prompt has {len(pads)} image placeholders for {len(image_grid_thw)} images "
            f"({len(kept_cells)} selections); put one {IMAGE_PLACEHOLDER} per image"
        )
    merge_unit = model.config.vision_config.spatial_merge_size**2
    full_counts = (image_grid_thw.prod(-1) // merge_unit).tolist()
    pieces, types, keep = [], [], []
    start = 0
    for pad, count, cells in zip(pads, full_counts, kept_cells, strict=True):
        pieces += [ids[start:pad], torch.full((count,), image_token_id, dtype=torch.long)]
        types += [torch.zeros(pad - start, dtype=torch.int), torch.ones(count, dtype=torch.int)]
        image_keep = torch.zeros(count, dtype=torch.bool)
        image_keep[cells.cpu()] = True
        keep += [torch.ones(pad - start, dtype=torch.bool), image_keep]
        start = pad + 1
    pieces.append(ids[start:])
    types.append(torch.zeros(len(ids) - start, dtype=torch.int))
    keep.append(torch.ones(len(ids) - start, dtype=torch.bool))
    full_ids, full_types, columns = torch.cat(pieces), torch.cat(types), torch.cat(keep)
    full_positions, _ = model.model.get_rope_index(
        full_ids[None],
        mm_token_type_ids=full_types[None],
        image_grid_thw=image_grid_thw if len(image_grid_thw) else None,
    )
    device = model.device
    input_ids = full_ids[columns][None].to(device)
    return PromptInputs(
        input_ids=input_ids,
        mm_token_type_ids=full_types[columns][None].to(device),
        position_ids=full_positions[:, :, columns].to(device),
        attention_mask=torch.ones_like(input_ids),
        next_position=(full_positions.max() + 1).reshape(1).to(device),
        image_tokens_full=sum(full_counts),
        image_tokens_kept=int(sum(len(cells) for cells in kept_cells)),
    )


def stack_inputs(prompts: Sequence[PromptInputs], pad_token_id: int) -> PromptInputs:
    """Left-pad single prompts into one batch; padded columns are masked out of attention."""
    width = max(p.input_ids.shape[1] for p in prompts)

    def left_pad(tensor: torch.Tensor, value: int) -> torch.Tensor:
        return torch.nn.functional.pad(tensor, (width - tensor.shape[-1], 0), value=value)

    return PromptInputs(
        input_ids=torch.cat([left_pad(p.input_ids, pad_token_id) for p in prompts]),
        mm_token_type_ids=torch.cat([left_pad(p.mm_token_type_ids, 0) for p in prompts]),
        position_ids=torch.cat([left_pad(p.position_ids, 1) for p in prompts], dim=1),
        attention_mask=torch.cat([left_pad(p.attention_mask, 0) for p in prompts]),
        next_position=torch.cat([p.next_position for p in prompts]),
        image_tokens_full=sum(p.image_tokens_full for p in prompts),
        image_tokens_kept=sum(p.image_tokens_kept for p in prompts),
    )
