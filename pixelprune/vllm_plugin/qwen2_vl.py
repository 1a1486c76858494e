"""Qwen2-VL (UI-TARS v1, OS-Atlas, ShowUI's base) with PixelPrune in vLLM.

Its tower attends within each image: the kept patches' rows of the rotary table, and one
attention segment per image of its kept patches.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from vllm.model_executor.models.qwen2_vl import (
    Qwen2VLDummyInputsBuilder,
    Qwen2VLForConditionalGeneration,
    Qwen2VLMultiModalProcessor,
    Qwen2VLProcessingInfo,
)
from vllm.multimodal import MULTIMODAL_REGISTRY

from pixelprune.vllm_plugin.masks import kept_patches
from pixelprune.vllm_plugin.model import PrunedModel
from pixelprune.vllm_plugin.processor import PrunedProcessor

__all__ = ["PrunedQwen2VL", "PrunedQwen2VLProcessor"]


class PrunedQwen2VLProcessor(PrunedProcessor, Qwen2VLMultiModalProcessor):
    family = "qwen2"


@MULTIMODAL_REGISTRY.register_processor(
    PrunedQwen2VLProcessor, info=Qwen2VLProcessingInfo, dummy_inputs=Qwen2VLDummyInputsBuilder
)
class PrunedQwen2VL(PrunedModel, Qwen2VLForConditionalGeneration):
    def _pruned_metadata(self, grid: list[list[int]], keep: list[torch.Tensor]) -> dict[str, Any]:
        visual = self.visual
        merge_unit = visual.spatial_merge_size**2
        full = visual.prepare_encoder_metadata(grid)
        rows = kept_patches(torch.cat(keep), merge_unit)
        counts = torch.tensor([int(k.sum()) for k in keep])
        cu_seqlens = F.pad(counts.cumsum(0) * merge_unit, (1, 0)).to(torch.int32)
        cos, sin = full["rotary_pos_emb_cos"], full["rotary_pos_emb_sin"]
        return {
            "rotary_pos_emb_cos": cos[rows.to(cos.device)],
            "rotary_pos_emb_sin": sin[rows.to(sin.device)],
            "cu_seqlens": cu_seqlens.to(visual.device),
            "max_seqlen": visual.compute_attn_mask_seqlen(cu_seqlens),
        }
