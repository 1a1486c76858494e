"""The processor half of the plugin, for every Qwen-VL family: masks, fields, placeholders.

    class PrunedQwen2VLProcessor(PrunedProcessor, Qwen2VLMultiModalProcessor):
        family = "qwen2"

The request's `pixelprune` kwarg is taken out before vLLM's own processor runs; each image's keep
mask is made from the processed pixels, registered as a per-image field (so vLLM's processor
and encoder caches, which key on the image and the request's kwargs, keep it with the image),
and each image's placeholder run gets as many tokens as it keeps cells.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from vllm.multimodal.inputs import MultiModalFieldConfig
from vllm.multimodal.processing import PromptReplacement

from pixelprune.vllm_plugin.masks import (
    MASK_KEY,
    OFF,
    SPEC_KEY,
    keep_masks,
    processor_scaling,
    spec_of,
)

__all__ = ["PrunedProcessor"]


class PrunedProcessor:
    """Mixed in before a vLLM Qwen-VL multimodal processor class."""

    family: str  # the pixelprune family whose geometry the processor's pixels have
    info: Any

    def _apply_hf_processor_main(self, mm_items: Any, hf_kwargs: Mapping[str, object]) -> Any:
        """vLLM's own processing (every family goes through here) without our kwarg, then the
        masks from what it produced."""
        # the request's kwargs over the engine's own (`--mm-processor-kwargs`: the default)
        spec = spec_of(self.info.ctx.get_merged_mm_kwargs(hf_kwargs))
        if spec.lower() != OFF:
            self._check_engine()
        stock = {key: value for key, value in hf_kwargs.items() if key != SPEC_KEY}
        processed = super()._apply_hf_processor_main(mm_items, stock)  # type: ignore[misc]
        if "pixel_values" in processed:
            effective = self.info.ctx.get_merged_mm_kwargs(stock)  # as the processor ran
            scaling = processor_scaling(self.info.get_image_processor(**stock), effective)
            processed[MASK_KEY] = keep_masks(
                processed["pixel_values"], processed["image_grid_thw"], spec,
                family=self.family, scaling=scaling, merge_unit=self._merge_unit(),
            )  # fmt: skip
        return processed

    def _get_mm_fields_config(
        self, hf_inputs: Any, hf_processor_mm_kwargs: Mapping[str, object]
    ) -> dict[str, Any]:
        fields = dict(super()._get_mm_fields_config(hf_inputs, hf_processor_mm_kwargs))  # type: ignore[misc]
        grid = hf_inputs.get("image_grid_thw", torch.empty((0, 3)))
        fields[MASK_KEY] = MultiModalFieldConfig.flat_from_sizes(
            "image", grid.prod(-1) // self._merge_unit()
        )
        return fields

    def _get_prompt_updates(
        self, mm_items: Any, hf_processor_mm_kwargs: Any, out_mm_kwargs: Any
    ) -> list[Any]:
        updates = list(super()._get_prompt_updates(mm_items, hf_processor_mm_kwargs, out_mm_kwargs))  # type: ignore[misc]
        image_update = next(u for u in updates if u.modality == "image")
        token = image_update.target[0]

        def kept(item_index: int) -> list[int]:
            keep = out_mm_kwargs["image"][item_index][MASK_KEY].data
            return [token] * int(keep.sum())

        pruned = PromptReplacement(modality="image", target=[token], replacement=kept)
        return [pruned if u is image_update else u for u in updates]

    def _check_engine(self) -> None:
        """Refuse the request (vLLM answers 400) where this engine cannot prune, rather than
        run it unpruned or stop the engine later."""
        config = self.info.ctx.get_mm_config()
        if getattr(config, "mm_encoder_tp_mode", None) == "data":
            raise ValueError(
                "PixelPrune cannot prune on an engine with mm_encoder_tp_mode='data' (its "
                "data-parallel vision path takes no kept-cell metadata): restart it without "
                "that option, or send pixelprune 'off'"
            )
        if getattr(config, "video_pruning_rate", None):
            raise ValueError(
                "PixelPrune and vLLM's video pruning (--video-pruning-rate) do not run "
                "together: restart the engine without it, or send pixelprune 'off'"
            )

    def _merge_unit(self) -> int:
        merge = int(self.info.get_hf_config().vision_config.spatial_merge_size)
        return merge * merge
