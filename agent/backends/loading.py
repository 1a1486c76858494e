"""Find, check and load a local Qwen2-VL / Qwen2.5-VL / Qwen3-VL model, optionally quantized.

A model is a folder (or a hub id already in the local Hugging Face cache, found by
`agent.backends.model_dir`, which commands also ask before importing this module; nothing is
downloaded here). Before transformers sees it, the folder is checked so that a missing model, a
half-copied one or one of another architecture gives an error that says what to do, never a
traceback from deep inside transformers. The processor is assembled from its two parts (PIL
image processor and tokenizer): the stock processor classes also build a video processor that
needs torchvision, which this project does not install.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoTokenizer,
    BitsAndBytesConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2VLForConditionalGeneration,
    Qwen3VLForConditionalGeneration,
)
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from agent.backends.model_dir import SUPPORTED_HELP, resolve_model_dir
from agent.backends.vision_attention import enable_one_call_attention
from agent.errors import IncompleteModelError, UnsupportedModelError
from agent.models import DEFAULT_MODEL
from agent.settings import QUANTIZATIONS, Quantization

__all__ = [
    "SUPPORTED",
    "LoadedModel",
    "ModelConfig",
    "load_model",
    "load_tokenizer",
]


# config.json model_type → (PixelPrune family, model class)
SUPPORTED: dict[str, tuple[str, type[PreTrainedModel]]] = {
    "qwen2_vl": ("qwen2", Qwen2VLForConditionalGeneration),
    "qwen2_5_vl": ("qwen2.5", Qwen2_5_VLForConditionalGeneration),
    "qwen3_vl": ("qwen3", Qwen3VLForConditionalGeneration),
}
UNQUANTIZED = ("lm_head",)  # kept in the float dtype whatever the quantization
VISION_MODULES = ("model.visual",)  # the vision tower with its merger


@dataclass(frozen=True)
class ModelConfig:
    """Which model to load and how; built by main.py or a task file and passed down whole.

    path: a model folder, or a hub id ("org/name") already in the Hugging Face cache.
    quantization: "4bit" (nf4, bf16 compute), "8bit" or None (bf16 on GPU, float32 on CPU).
    device_map: as transformers takes it ("auto", "cpu", "cuda:0", ...).
    cache_dir: the Hugging Face cache to look ids up in (None: the user's default cache).
    attn_implementation: passed to transformers ("sdpa", "flash_attention_2", ...; None: its
        default). With sdpa or eager, the vision tower still makes one attention call per layer
        (`one_call_attention`); a flash implementation does so by itself.
    quantize_vision: with 4bit/8bit, quantize the vision tower and its merger too. Off by
        default: quantized, every vision linear layer dequantizes its weights on each call,
        which made the pruned tower barely faster than the full one; unquantized, the 7B's
        tower costs about 1 GiB more (docs/benchmarks.md, "Faster agent steps").
    one_call_attention: run each vision layer's attention windows in one call
        (`agent.backends.vision_attention`) instead of one call per window.
    """

    path: str = DEFAULT_MODEL
    quantization: Quantization | None = "4bit"
    device_map: str | dict[str, Any] = "auto"
    cache_dir: str | None = None
    attn_implementation: str | None = None
    quantize_vision: bool = False
    one_call_attention: bool = True

    def __post_init__(self) -> None:
        if self.quantization == "none":  # as the command line and task files spell it
            object.__setattr__(self, "quantization", None)


@dataclass(frozen=True)
class LoadedModel:
    """A checked, loaded model with what it needs to read images and text."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    image_processor: Qwen2VLImageProcessorPil
    family: str
    folder: Path


def load_model(config: ModelConfig) -> LoadedModel:
    """Check and load the model `config` names; raises a `ModelError` subclass when it can't."""
    if config.quantization is not None and config.quantization not in QUANTIZATIONS:
        raise ValueError(
            f"quantization must be '4bit', '8bit' or 'none', got {config.quantization!r}"
        )
    folder = resolve_model_dir(config.path, cache_dir=config.cache_dir)
    model_type = check_model_dir(folder)
    family, model_class = SUPPORTED[model_type]
    model = model_class.from_pretrained(
        folder,
        quantization_config=_quantization(config.quantization, config.quantize_vision),
        device_map=config.device_map,
        dtype=_dtype(config),
        attn_implementation=config.attn_implementation,
        local_files_only=True,
    ).eval()
    if config.one_call_attention:
        enable_one_call_attention(model)
    tokenizer = load_tokenizer(folder)
    image_processor = Qwen2VLImageProcessorPil.from_pretrained(folder, local_files_only=True)
    return LoadedModel(model, tokenizer, image_processor, family, folder)


def load_tokenizer(folder: Path) -> PreTrainedTokenizerBase:
    """The folder's tokenizer with the image-aware chat template the model was trained with.

    Qwen-VL folders keep that template in `chat_template.json` (or `.jinja`) beside a text-only
    one in `tokenizer_config.json`; the processor's wins, as in `AutoProcessor`.
    """
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    tokenizer.chat_template = _chat_template(folder) or tokenizer.chat_template
    if tokenizer.chat_template is None:
        raise IncompleteModelError(f"{folder} has no chat template; download the model again")
    return tokenizer


def check_model_dir(folder: Path) -> str:
    """The folder's model_type, after checking it holds everything loading will read."""
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise IncompleteModelError(f"{folder} has no config.json: not a (complete) model folder")
    try:
        model_type = json.loads(config_file.read_text()).get("model_type")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
        raise IncompleteModelError(f"{config_file} is not valid JSON ({exc})") from None
    if model_type not in SUPPORTED:
        raise UnsupportedModelError(f"{folder} holds a {model_type!r} model; {SUPPORTED_HELP}")
    missing = _missing_weights(folder)
    if not (folder / "preprocessor_config.json").is_file():
        missing.append("preprocessor_config.json")
    if not any((folder / name).is_file() for name in ("tokenizer.json", "vocab.json")):
        missing.append("tokenizer.json")
    if missing:
        raise IncompleteModelError(
            f"{folder} is incomplete, missing: {', '.join(missing)}; download the model again"
        )
    return str(model_type)


def _missing_weights(folder: Path) -> list[str]:
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = folder / index_name
        if index.is_file():
            try:
                shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
                return [f"{index_name} (unreadable)"]
            return [shard for shard in shards if not (folder / shard).is_file()]
    if (folder / "model.safetensors").is_file() or (folder / "pytorch_model.bin").is_file():
        return []
    return ["model.safetensors (or its shards)"]


def _chat_template(folder: Path) -> str | None:
    """The processor's chat template (Qwen-VL checkpoints keep the image-aware one there)."""
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text()
    json_file = folder / "chat_template.json"
    if json_file.is_file():
        try:
            template = json.loads(json_file.read_text())["chat_template"]
            if not isinstance(template, str):
                raise TypeError(f"chat_template is a {type(template).__name__}, not text")
            return template
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise IncompleteModelError(f"{json_file} is unreadable ({exc})") from None
    return None


def _quantization(quantization: str | None, quantize_vision: bool) -> BitsAndBytesConfig | None:
    """bitsandbytes settings; the output head always, and the vision tower unless asked, stay
    in the float dtype (a skip list replaces transformers' default one, which names lm_head)."""
    skip = list(UNQUANTIZED) if quantize_vision else [*UNQUANTIZED, *VISION_MODULES]
    if quantization == "4bit":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=torch.bfloat16,
            bnb_4bit_use_double_quant=True,
            llm_int8_skip_modules=skip,
        )
    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
    return None


def _dtype(config: ModelConfig) -> torch.dtype:
    """bf16 where a GPU runs the model, float32 on CPU (bf16 matmuls are slow on most CPUs)."""
    on_cpu = config.device_map == "cpu" or not torch.cuda.is_available()
    return torch.float32 if on_cpu and config.quantization is None else torch.bfloat16
