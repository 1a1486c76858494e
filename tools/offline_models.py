"""Random-weight Qwen2-VL / Qwen2.5-VL / Qwen3-VL models built offline, for tests and benchmarks.

No weights can be downloaded here, so tests and benchmarks build the real transformers classes
from configs (tiny ones for tests, the released sizes for benchmarks) with random weights, plus
a small byte-level BPE tokenizer trained on the spot with `tokenizers` that carries the Qwen
special tokens and chat template, and the PIL image processor. `save_random_model` writes all
of it as a model folder that loads exactly like a downloaded checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    PretrainedConfig,
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2VLConfig,
    Qwen3VLConfig,
)
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from agent.backends.loading import SUPPORTED
from pixelprune import get_family

__all__ = [
    "SPECIAL_TOKENS",
    "build_tokenizer",
    "image_processor_for",
    "save_random_model",
    "tiny_config",
]

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<tool_call>",
    "</tool_call>",
]

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

CORPUS = [
    "Thought: the Save button is at the top right. Action: click(start_box='(1812,44)')",
    "Action: type(content='hello world') hotkey(key='ctrl c') scroll(direction='down')",
    '<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", '
    '"coordinate": [640, 360]}}</tool_call>',
    "You are a GUI agent. You are given a task and your action history, with screenshots.",
    "finished(content='done') wait() call_user() left_double right_single drag 0123456789",
]


def build_tokenizer(vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on a small GUI-agent corpus, with Qwen's specials."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,  # its progress lines would land in the benchmarks' stdout
    )
    tok.train_from_iterator(CORPUS * 20, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_config(
    family: str,
    tokenizer: PreTrainedTokenizerFast,
    *,
    width: int = 1,
    initializer_range: float | None = None,
) -> PretrainedConfig:
    """A small config of the family's real class: 2 text layers, a 2-4 layer vision tower.

    `width` multiplies every hidden size (2 gives head_dim 32, the least vLLM's CPU attention
    takes); `initializer_range` draws wider weights (0.3: the greedy answer depends on the
    image, so a wrong mask or position changes the tokens)."""
    w = width
    text: dict[str, Any] = dict(
        hidden_size=64 * w,
        intermediate_size=128 * w,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        rope_scaling={"type": "mrope", "mrope_section": [2 * w, 3 * w, 3 * w]},
    )
    name = get_family(family).name
    if name == "qwen3":
        text.update(
            head_dim=16 * w,
            rope_scaling={
                "rope_type": "default",
                "mrope_section": [2 * w, 3 * w, 3 * w],
                "mrope_interleaved": True,
            },
        )
        vision = dict(
            depth=3,
            hidden_size=32 * w,
            intermediate_size=64 * w,
            num_heads=2,
            out_hidden_size=64 * w,
            patch_size=16,
            spatial_merge_size=2,
            temporal_patch_size=2,
            num_position_embeddings=64,
            deepstack_visual_indexes=[0, 1],
        )
    elif name == "qwen2.5":
        vision = dict(
            depth=4,
            hidden_size=32 * w,
            intermediate_size=64 * w,
            num_heads=2,
            out_hidden_size=64 * w,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            window_size=112,
            fullatt_block_indexes=[1, 3],
        )
    else:
        vision = dict(
            depth=2,
            embed_dim=32 * w,
            hidden_size=64 * w,
            mlp_ratio=2,
            num_heads=2,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
        )
    if initializer_range is not None:
        text["initializer_range"] = vision["initializer_range"] = initializer_range
    config = _config(name, tokenizer, text, vision)
    if initializer_range is not None:
        config.initializer_range = initializer_range
    return config


def _config(
    family: str, tokenizer: PreTrainedTokenizerFast, text: dict[str, Any], vision: dict[str, Any]
) -> PretrainedConfig:
    """The family's config class with the tokenizer's vocabulary and special token ids."""
    ids: dict[str, Any] = {
        name: tokenizer.convert_tokens_to_ids(token)
        for name, token in (
            ("image_token_id", "<|image_pad|>"),
            ("video_token_id", "<|video_pad|>"),
            ("vision_start_token_id", "<|vision_start|>"),
            ("vision_end_token_id", "<|vision_end|>"),
        )
    }
    text = dict(
        text,
        vocab_size=max(text.get("vocab_size", 0), len(tokenizer)),
        max_position_embeddings=32768,
        bos_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    config_class = {"qwen2": Qwen2VLConfig, "qwen2.5": Qwen2_5_VLConfig, "qwen3": Qwen3VLConfig}
    return config_class[family](text_config=text, vision_config=vision, **ids)


# Published sizes (config.json of the released checkpoints), for benchmarks with random weights.
QWEN2_5_VL_VISION: dict[str, Any] = dict(
    depth=32,
    hidden_size=1280,
    intermediate_size=3420,
    num_heads=16,
    patch_size=14,
    spatial_merge_size=2,
    temporal_patch_size=2,
    window_size=112,
    fullatt_block_indexes=[7, 15, 23, 31],
)
REAL_SIZES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "qwen2.5-vl-3b": (
        "qwen2.5",
        dict(
            vocab_size=151936,
            hidden_size=2048,
            intermediate_size=11008,
            num_hidden_layers=36,
            num_attention_heads=16,
            num_key_value_heads=2,
            rope_theta=1e6,
            rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]},
        ),
        {**QWEN2_5_VL_VISION, "out_hidden_size": 2048},
    ),
    "qwen2.5-vl-7b": (
        "qwen2.5",  # also UI-TARS-1.5-7B
        dict(
            vocab_size=152064,
            hidden_size=3584,
            intermediate_size=18944,
            num_hidden_layers=28,
            num_attention_heads=28,
            num_key_value_heads=4,
            rope_theta=1e6,
            rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]},
        ),
        {**QWEN2_5_VL_VISION, "out_hidden_size": 3584},
    ),
    "qwen3-vl-2b": (
        "qwen3",
        dict(
            vocab_size=151936,
            hidden_size=2048,
            intermediate_size=6144,
            num_hidden_layers=28,
            num_attention_heads=16,
            num_key_value_heads=8,
            head_dim=128,
            rope_theta=5e6,
            rope_scaling={
                "rope_type": "default",
                "mrope_section": [24, 20, 20],
                "mrope_interleaved": True,
            },
        ),
        dict(
            depth=24,
            hidden_size=1024,
            intermediate_size=4096,
            num_heads=16,
            out_hidden_size=2048,
            patch_size=16,
            spatial_merge_size=2,
            temporal_patch_size=2,
            num_position_embeddings=2304,
            deepstack_visual_indexes=[5, 11, 17],
        ),
    ),
}


def real_config(
    name: str, tokenizer: PreTrainedTokenizerFast, depth: int | None = None
) -> PretrainedConfig:
    """The published config `name` (see REAL_SIZES) with this tokenizer's special ids.

    `depth` cuts both towers to that many layers (CPU runs), keeping at least one full-attention
    layer (Qwen2.5-VL) and one deepstack layer (Qwen3-VL) inside the cut.
    """
    family, text, vision = REAL_SIZES[name]
    text, vision = dict(text), dict(vision)
    if depth is not None:
        text["num_hidden_layers"] = depth
        vision["depth"] = depth
        if "fullatt_block_indexes" in vision:
            vision["fullatt_block_indexes"] = [depth - 1]
        if "deepstack_visual_indexes" in vision:
            vision["deepstack_visual_indexes"] = [0]
    return _config(family, tokenizer, text, vision)


def image_processor_for(family: str) -> Qwen2VLImageProcessorPil:
    """The PIL image processor configured as the family's released checkpoints configure it."""
    fam = get_family(family)
    return Qwen2VLImageProcessorPil(
        patch_size=fam.patch_size,
        merge_size=fam.merge_size,
        temporal_patch_size=fam.temporal_patch_size,
        image_mean=list(fam.image_mean),
        image_std=list(fam.image_std),
        min_pixels=fam.min_pixels,
        max_pixels=fam.max_pixels,
    )


def save_random_model(
    folder: Path,
    config: PretrainedConfig,
    tokenizer: PreTrainedTokenizerFast,
    *,
    seed: int = 0,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Path:
    """Write a random-weight model of `config` with tokenizer and image processor, as on the hub.

    Weights are drawn on `device` in `dtype` (a GPU draws a 7B model in seconds).
    """
    family, model_class = SUPPORTED[config.model_type]
    torch.manual_seed(seed)
    with torch.device(device):
        model = model_class._from_config(config, dtype=dtype).eval()
    model.save_pretrained(folder)
    del model
    image_processor_for(family).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return Path(folder)
