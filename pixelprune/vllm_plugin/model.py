"""The model half of the plugin, for every Qwen-VL family: the pruned vision tower call and the
kept tokens' M-RoPE positions.

    class PrunedQwen2VL(PrunedModel, Qwen2VLForConditionalGeneration):
        def _pruned_metadata(self, grid, keep): ...   # the tower's own metadata, kept cells only

With every cell kept (pruning off) the stock code paths run unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from pixelprune.vllm_plugin.masks import MASK_KEY, kept_patches, pruned_positions

__all__ = ["PrunedModel"]


class PrunedModel:
    """Mixed in before a vLLM Qwen-VL model class."""

    visual: Any
    config: Any
    use_data_parallel: bool

    def embed_multimodal(self, **kwargs: object) -> Any:
        keep = kwargs.pop(MASK_KEY, None)
        if keep is None or bool(torch.as_tensor(keep).all()):
            return super().embed_multimodal(**kwargs)  # type: ignore[misc]
        if self.use_data_parallel:
            raise ValueError(
                "PixelPrune does not run with mm_encoder_tp_mode='data' (the data-parallel "
                "vision path takes no kept-cell metadata): serve without it"
            )
        if getattr(self, "is_multimodal_pruning_enabled", False):
            raise ValueError("PixelPrune and vLLM's video pruning (EVS) do not run together")
        modalities = self._parse_and_validate_multimodal_inputs(**kwargs)  # type: ignore[attr-defined]
        embeddings: tuple[torch.Tensor, ...] = ()
        for modality, given in modalities.items():
            if modality in ("image", "images"):
                embeddings += self._pruned_images(given, torch.as_tensor(keep).cpu())
            elif given is not None:
                embeddings += tuple(self._process_video_input(given))  # type: ignore[attr-defined]
        return embeddings

    def _pruned_images(self, image_input: Any, keep: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if image_input["type"] == "image_embeds":
            raise ValueError("PixelPrune prunes pixel inputs, not precomputed image embeddings")
        grid = [[int(v) for v in row] for row in image_input["image_grid_thw"].tolist()]
        merge_unit = self.visual.spatial_merge_size**2
        cells = [t * h * w // merge_unit for t, h, w in grid]
        per_image = list(keep.split(cells))
        pixel_values = image_input["pixel_values"]
        patches = kept_patches(keep, merge_unit).to(pixel_values.device)
        embeds = self.visual(
            pixel_values[patches], grid_thw=grid,
            encoder_metadata=self._pruned_metadata(grid, per_image),
        )  # fmt: skip
        return tuple(embeds.split([int(k.sum()) for k in per_image]))

    def _pruned_metadata(self, grid: list[list[int]], keep: list[torch.Tensor]) -> dict[str, Any]:
        """The vision tower's `encoder_metadata` for the kept cells' patches only."""
        raise NotImplementedError

    def get_mrope_input_positions(
        self, input_tokens: list[int], mm_features: Sequence[Any]
    ) -> tuple[torch.Tensor, int]:
        if any(f.modality != "image" for f in mm_features):
            return super().get_mrope_input_positions(input_tokens, list(mm_features))  # type: ignore[misc]
        merge = self.config.vision_config.spatial_merge_size
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
