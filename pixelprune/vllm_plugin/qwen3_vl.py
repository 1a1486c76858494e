"""Qwen3-VL with PixelPrune in vLLM.

Its tower adds an interpolated absolute position embedding to every patch and feeds some of its
layers' features to the language model (deepstack): the kept patches' rows of the position
embedding and of the rotary table, one attention segment per image of its kept patches; the
deepstack features come out per kept cell like the main ones.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from vllm.model_executor.layers.attention import MMEncoderAttention
from vllm.model_executor.models.qwen3_vl import (
    Qwen3VLDummyInputsBuilder,
    Qwen3VLForConditionalGeneration,
    Qwen3VLMultiModalProcessor,
    Qwen3VLProcessingInfo,
)
from vllm.multimodal import MULTIMODAL_REGISTRY

from pixelprune.vllm_plugin.masks import kept_patches
from pixelprune.vllm_plugin.model import PrunedModel
from pixelprune.vllm_plugin.processor import PrunedProcessor

__all__ = ["PrunedQwen3VL", "PrunedQwen3VLProcessor"]


class PrunedQwen3VLProcessor(PrunedProcessor, Qwen3VLMultiModalProcessor):
    family = "qwen3"


@MULTIMODAL_REGISTRY.register_processor(
    PrunedQwen3VLProcessor, info=Qwen3VLProcessingInfo, dummy_inputs=Qwen3VLDummyInputsBuilder
)
class PrunedQwen3VL(PrunedModel, Qwen3VLForConditionalGeneration):
    def _pruned_metadata(self, grid: list[list[int]], keep: list[torch.Tensor]) -> dict[str, Any]:
        visual = self.visual
        unit = visual.spatial_merge_size**2
        full = visual.prepare_encoder_metadata(grid)
        rows = kept_patches(torch.cat(keep), unit)
        counts = torch.tensor([int(k.sum()) for k in keep])
        cu = F.pad(counts.cumsum(0) * unit, (1, 0)).to(torch.int32).numpy()
        backend, device = visual.attn_backend, visual.device

        def kept(name: str) -> torch.Tensor:
            return full[name][rows.to(full[name].device)]

        return {
            "pos_embeds": kept("pos_embeds"),
            "rotary_pos_emb_cos": kept("rotary_pos_emb_cos"),
            "rotary_pos_emb_sin": kept("rotary_pos_emb_sin"),
            "sequence_lengths": MMEncoderAttention.maybe_compute_seq_lens(backend, cu, device),
            "max_seqlen": torch.tensor(
                MMEncoderAttention.compute_max_seqlen(backend, cu), dtype=torch.int32
            ),
            "cu_seqlens": MMEncoderAttention.maybe_recompute_cu_seqlens(
                backend,
                cu,
                visual.hidden_size,
                visual.tp_size,
                device,
                fp8_padded_hidden_size=visual.fp8_padded_hidden_size,
            ),
        }
