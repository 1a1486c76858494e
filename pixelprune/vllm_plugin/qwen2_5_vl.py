"""Qwen2.5-VL (UI-TARS-1.5, the default model) with PixelPrune in vLLM.

Its tower attends in 112 px windows on most layers and over each whole image on the others; the
patches go through it window by window (window order) and come back to raster order after the
merger. For the kept cells: their rows of the rotary table in window order, the window order
renumbered by kept rank, windows bounded by their kept cells (a window with none vanishes, as
padding windows do), one full-attention segment per image, as the project's own path builds
them (agent/backends/pruned_vision.py) with the tower's own helpers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from vllm.model_executor.layers.attention import MMEncoderAttention
from vllm.model_executor.models.qwen2_5_vl import (
    Qwen2_5_VLDummyInputsBuilder,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLMultiModalProcessor,
    Qwen2_5_VLProcessingInfo,
)
from vllm.multimodal import MULTIMODAL_REGISTRY

from pixelprune.vllm_plugin.model import PrunedModel
from pixelprune.vllm_plugin.processor import PrunedProcessor

__all__ = ["PrunedQwen2_5VL", "PrunedQwen2_5VLProcessor"]


class PrunedQwen2_5VLProcessor(PrunedProcessor, Qwen2_5_VLMultiModalProcessor):
    family = "qwen2.5"


@MULTIMODAL_REGISTRY.register_processor(
    PrunedQwen2_5VLProcessor,
    info=Qwen2_5_VLProcessingInfo,
    dummy_inputs=Qwen2_5_VLDummyInputsBuilder,
)
class PrunedQwen2_5VL(PrunedModel, Qwen2_5_VLForConditionalGeneration):
    def _pruned_metadata(self, grid: list[list[int]], keep: list[torch.Tensor]) -> dict[str, Any]:
        visual = self.visual
        unit = visual.spatial_merge_unit
        device = visual.device
        cos_parts, sin_parts, order_parts, window_parts = [], [], [], [torch.zeros(1)]
        kept_before, windows_end = 0, 0
        for (t, h, w), image_keep in zip(grid, keep, strict=True):
            full_index, full_cu = visual.get_window_index_thw(t, h, w)  # cells, window order
            cos, sin = visual.rotary_pos_emb_thw(t, h, w)  # (cells, unit, dim), raster order
            kept = image_keep[full_index]
            cells = full_index[kept]  # kept cells, window order
            rank = image_keep.long().cumsum(0) - 1
            order_parts.append(rank[cells] + kept_before)
            cos_parts.append(cos[cells.to(cos.device)].flatten(0, 1))
            sin_parts.append(sin[cells.to(sin.device)].flatten(0, 1))
            bounds = F.pad(full_cu.long() // unit, (1, 0))
            window_of = torch.searchsorted(bounds, torch.arange(len(full_index)), right=True) - 1
            counts = torch.bincount(window_of[kept], minlength=len(bounds) - 1)
            window_parts.append((counts * unit).cumsum(0) + windows_end)
            windows_end = int(window_parts[-1][-1])
            kept_before += int(image_keep.sum())
        window_index = torch.cat(order_parts)
        cu_window = torch.unique_consecutive(torch.cat(window_parts).to(torch.int32))
        counts = torch.tensor([int(k.sum()) for k in keep])
        cu_full = F.pad(counts.cumsum(0) * unit, (1, 0)).to(torch.int32)
        backend = visual.attn_backend
        full_np, window_np = cu_full.numpy(), cu_window.numpy()

        def offsets(cu: np.ndarray) -> torch.Tensor:
            return MMEncoderAttention.maybe_recompute_cu_seqlens(
                backend, cu, visual.hidden_size, visual.tp_size, device,
                fp8_padded_hidden_size=visual.fp8_padded_hidden_size,
            )  # fmt: skip

        return {
            "rotary_pos_emb_cos": torch.cat(cos_parts).to(device),
            "rotary_pos_emb_sin": torch.cat(sin_parts).to(device),
            "window_index": window_index.to(device),
            "reverse_indices": visual.invert_permutation(window_index).to(device),
            "cu_seqlens": offsets(full_np),
            "cu_window_seqlens": offsets(window_np),
            "max_seqlen_full": torch.tensor(
                MMEncoderAttention.compute_max_seqlen(backend, full_np), dtype=torch.int32
            ),
            "max_seqlen_window": torch.tensor(
                MMEncoderAttention.compute_max_seqlen(backend, window_np), dtype=torch.int32
            ),
            "sequence_lengths_full": MMEncoderAttention.maybe_compute_seq_lens(
                backend, full_np, device
            ),
            "sequence_lengths_window": MMEncoderAttention.maybe_compute_seq_lens(
                backend, window_np, device
            ),
        }
