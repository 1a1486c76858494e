"""PixelPrune inside vLLM: pruned Qwen-VL serving through vLLM's plugin and registry API.

    vllm serve MODEL --mm-processor-kwargs '{"pixelprune": "pred_2d"}'    # the engine default
    llm.generate({..., "mm_processor_kwargs": {"pixelprune": "pred_2d:0.02"}})   # per request

vLLM loads `register` in each of its processes (the `vllm.general_plugins` entry point of this
project). It registers subclasses of vLLM's own Qwen-VL classes under their architecture names,
so a checkpoint of that architecture loads the pruning class; nothing of vLLM is patched. A
request's `mm_processor_kwargs` choose pruning (`pixelprune`: a `--prune` spec, or "off"); the
processor computes the keep masks, the placeholders shrink to the kept count, the vision tower
runs on the kept cells only, and the kept tokens keep their original M-RoPE positions.
"""

from __future__ import annotations

__all__ = ["register"]


def register() -> None:
    """Register the pruning model classes with vLLM (idempotent)."""
    from vllm import ModelRegistry

    from pixelprune.vllm_plugin.qwen2_5_vl import PrunedQwen2_5VL
    from pixelprune.vllm_plugin.qwen2_vl import PrunedQwen2VL
    from pixelprune.vllm_plugin.qwen3_vl import PrunedQwen3VL

    ModelRegistry.register_model("Qwen2VLForConditionalGeneration", PrunedQwen2VL)
    ModelRegistry.register_model("Qwen2_5_VLForConditionalGeneration", PrunedQwen2_5VL)
    ModelRegistry.register_model("Qwen3VLForConditionalGeneration", PrunedQwen3VL)
