"""Qwen2-VL in vLLM with PixelPrune: the processor makes the masks, the model uses them.

`PrunedQwen2VLProcessor` computes each image's keep mask from the processed pixel_values (the
request's `pixelprune` spec), registers it as a per-image field (cached with the image and the
request's kwargs) and gives each image as many placeholder tokens as it keeps cells.
`PrunedQwen2VL` runs the vision tower on the kept cells' patches only, with the tower's own
rotary table index-selected and one attention segment per image of its kept patches, and gives
the kept tokens their original M-RoPE positions. With every cell kept ("off") both are vLLM's
own code paths.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from vllm.multimodal.inputs import MultiModalFieldConfig
from vllm.multimodal.processing import PromptReplacement

from pixelprune.vllm_plugin.masks import (
    MASK_KEY,
    SPEC_KEY,
    keep_masks,
    kept_patches,
    processor_scaling,
    pruned_positions,
    spec_of,
)

__all__ = ["PrunedQwen2VL", "PrunedQwen2VLProcessor"]

FAMILY = "qwen2"


class PrunedQwen2VLProcessor(Qwen2VLMultiModalProcessor):
    """Qwen2-VL's processor, with each image's keep mask and its kept count of placeholders."""

    family = FAMILY

    def _call_hf_processor(
        self, hf_data: Mapping[str, object], hf_kwargs: Mapping[str, object]
    ) -> Any:
        spec = spec_of(hf_kwargs)
        stock = {key: value for key, value in hf_kwargs.items() if key != SPEC_KEY}
        processed = super()._call_hf_processor(hf_data, stock)
        if "pixel_values" in processed:
            merge = self.info.get_hf_config().vision_config.spatial_merge_size
            effective = self.info.ctx.get_merged_mm_kwargs(stock)  # as the processor ran
            scaling = processor_scaling(self.info.get_image_processor(**stock), effective)
            processed[MASK_KEY] = keep_masks(
                processed["pixel_values"], processed["image_grid_thw"], spec,
                family=self.family, scaling=scaling, merge_unit=merge * merge,
            )  # fmt: skip
        return processed

    def _get_mm_fields_config(
        self, hf_inputs: Any, hf_processor_mm_kwargs: Mapping[str, object]
    ) -> dict[str, Any]:
        fields = dict(super()._get_mm_fields_config(hf_inputs, hf_processor_mm_kwargs))
        merge = self.info.get_hf_config().vision_config.spatial_merge_size
        grid = hf_inputs.get("image_grid_thw", torch.empty((0, 3)))
        fields[MASK_KEY] = MultiModalFieldConfig.flat_from_sizes(
            "image", grid.prod(-1) // (merge * merge)
        )
        return fields

    def _get_prompt_updates(
        self, mm_items: Any, hf_processor_mm_kwargs: Any, out_mm_kwargs: Any
    ) -> list[Any]:
        updates = list(super()._get_prompt_updates(mm_items, hf_processor_mm_kwargs, out_mm_kwargs))
        image_update = next(u for u in updates if u.modality == "image")
        token = image_update.target[0]

        def kept(item_index: int) -> list[int]:
            keep = out_mm_kwargs["image"][item_index][MASK_KEY].data
            return [token] * int(keep.sum())

        pruned = PromptReplacement(modality="image", target=[token], replacement=kept)
        return [pruned if u is image_update else u for u in updates]


@MULTIMODAL_REGISTRY.register_processor(
    PrunedQwen2VLProcessor, info=Qwen2VLProcessingInfo, dummy_inputs=Qwen2VLDummyInputsBuilder
)
class PrunedQwen2VL(Qwen2VLForConditionalGeneration):
    """Qwen2-VL whose vision tower and M-RoPE positions follow the processor's keep masks."""

    def embed_multimodal(self, **kwargs: object) -> Any:
        keep = kwargs.pop(MASK_KEY, None)
        if keep is None or bool(torch.as_tensor(keep).all()):
            return super().embed_multimodal(**kwargs)
        if self.use_data_parallel:
            raise ValueError(
                "PixelPrune does not run with mm_encoder_tp_mode='data' (the data-parallel "
                "vision path takes no kept-cell metadata): serve without it"
            )
        modalities = self._parse_and_validate_multimodal_inputs(**kwargs)
        embeddings: tuple[torch.Tensor, ...] = ()
        for modality, given in modalities.items():
            if modality == "images":
                embeddings += self._pruned_images(given, torch.as_tensor(keep))
            else:
                embeddings += tuple(self._process_video_input(given))
        return embeddings

    def _pruned_images(self, image_input: Any, keep: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if image_input["type"] == "image_embeds":
            raise ValueError("PixelPrune prunes pixel inputs, not precomputed image embeddings")
        grid_thw = image_input["image_grid_thw"]
        visual = self.visual
        merge_unit = visual.spatial_merge_size**2
        cells = (grid_thw.prod(-1) // merge_unit).tolist()
        kept_counts = [int(part.sum()) for part in keep.split(cells)]
        patches = kept_patches(keep.cpu(), merge_unit)
        full = visual.prepare_encoder_metadata(grid_thw.tolist())
        cu_seqlens = F.pad(torch.tensor(kept_counts).cumsum(0) * merge_unit, (1, 0))
        cu_seqlens = cu_seqlens.to(torch.int32)
        metadata = {
            "rotary_pos_emb_cos": full["rotary_pos_emb_cos"][
                patches.to(full["rotary_pos_emb_cos"].device)
            ],
            "rotary_pos_emb_sin": full["rotary_pos_emb_sin"][
                patches.to(full["rotary_pos_emb_sin"].device)
            ],
            "cu_seqlens": cu_seqlens.to(visual.device),
            "max_seqlen": visual.compute_attn_mask_seqlen(cu_seqlens),
        }
        pixel_values = image_input["pixel_values"]
        embeds = visual(
            pixel_values[patches.to(pixel_values.device)], grid_thw=grid_thw,
            encoder_metadata=metadata,
        )  # fmt: skip
        return tuple(embeds.split(kept_counts))

    def get_mrope_input_positions(
        self, input_tokens: list[int], mm_features: Sequence[Any]
    ) -> tuple[torch.Tensor, int]:
        merge = self.config.vision_config.spatial_merge_size
        if any(f.modality != "image" for f in mm_features):
            return super().get_mrope_input_positions(input_tokens, list(mm_features))
        images = []
        for feature in sorted(mm_features, key=lambda f: f.mm_position.offset):
            t, h, w = feature.data["image_grid_thw"].data.tolist()
            keep = feature.data.get(MASK_KEY)
            images.append(
                (
                    feature.mm_position.offset,
                    (t, h // merge, w // merge),
                    None if keep is None else keep.data.numpy(),
                )
            )
        return pruned_positions(len(input_tokens), images)
