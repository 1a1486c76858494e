"""Loading tiny random-weight models of the three real classes: plain, 4-bit and 8-bit on CPU,
from a folder or the Hugging Face cache, and clear errors for everything that can be wrong."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import TINY_FAMILIES

from agent.backends.loading import ModelConfig, load_model
from agent.backends.model_dir import resolve_model_dir
from agent.errors import IncompleteModelError, ModelNotFoundError, UnsupportedModelError


def copy_model(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("family", TINY_FAMILIES)
@pytest.mark.parametrize("quantization", [None, "4bit", "8bit"])
def test_load_each_family_plain_and_quantized_on_cpu(tiny_model_dirs, family, quantization):
    loaded = load_model(ModelConfig(str(tiny_model_dirs[family]), quantization, device_map="cpu"))
    assert loaded.family == family
    layers = [type(m).__name__ for m in loaded.model.modules()]
    want = {None: "Linear", "4bit": "Linear4bit", "8bit": "Linear8bitLt"}[quantization]
    assert want in layers
    ids = loaded.tokenizer("Action: click", return_tensors="pt").input_ids
    with torch.no_grad():
        logits = loaded.model(input_ids=ids).logits
    assert logits.shape[:2] == ids.shape and torch.isfinite(logits).all()
    assert loaded.image_processor.patch_size in (14, 16)


@pytest.mark.parametrize("quantization", ["4bit", "8bit"])
def test_the_vision_tower_stays_unquantized_unless_asked(tiny_model_dirs, quantization):
    folder = str(tiny_model_dirs["qwen2.5"])
    for quantize_vision in (False, True):
        model = load_model(
            ModelConfig(folder, quantization, "cpu", quantize_vision=quantize_vision)
        ).model
        linear = torch.nn.Linear  # the bitsandbytes layers are Linear subclasses
        vision = {type(m).__name__ for m in model.model.visual.modules() if isinstance(m, linear)}
        language = {type(m).__name__ for m in model.model.language_model.modules()}
        quantized = {"4bit": "Linear4bit", "8bit": "Linear8bitLt"}[quantization]
        assert quantized in language and type(model.lm_head).__name__ == "Linear"
        assert vision == ({quantized} if quantize_vision else {"Linear"})
        if not quantize_vision:  # the merger too, in the float dtype
            assert model.model.visual.merger.mlp[0].weight.dtype == torch.bfloat16


def test_hub_id_is_found_in_the_local_cache_only(tiny_model_dirs, tmp_path):
    cache = tmp_path / "hub"
    repo = cache / "models--acme--tiny-vl"
    snapshot = repo / "snapshots" / "0123abcd"
    shutil.copytree(tiny_model_dirs["qwen2.5"], snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    assert resolve_model_dir("acme/tiny-vl", cache_dir=str(cache)) == snapshot
    loaded = load_model(ModelConfig("acme/tiny-vl", None, "cpu", cache_dir=str(cache)))
    assert loaded.family == "qwen2.5"
    with pytest.raises(ModelNotFoundError, match="not in the local Hugging Face cache"):
        resolve_model_dir("acme/other-vl", cache_dir=str(cache))


def test_missing_model_says_how_to_get_one(tmp_path):
    with pytest.raises(ModelNotFoundError, match="hf download acme/absent-vl") as hub_id:
        load_model(ModelConfig("acme/absent-vl", device_map="cpu", cache_dir=str(tmp_path)))
    assert "main.py pull acme/absent-vl" in str(hub_id.value)
    with pytest.raises(ModelNotFoundError, match="no such folder") as folder:
        load_model(ModelConfig(str(tmp_path / "nowhere"), device_map="cpu"))
    assert "config.json" in str(folder.value) and "pull" not in str(folder.value)  # no default
    (tmp_path / "file.bin").write_bytes(b"x")
    with pytest.raises(ModelNotFoundError, match="is a file"):
        resolve_model_dir(str(tmp_path / "file.bin"))
    with pytest.raises(ModelNotFoundError, match="no such folder") as typo:  # not a repo name
        resolve_model_dir("acme/tiny vl!", cache_dir=str(tmp_path))
    assert "pull" not in str(typo.value)


def test_incomplete_folders_name_what_is_missing(tiny_model_dirs, tmp_path):
    no_config = copy_model(tiny_model_dirs["qwen2"], tmp_path / "a")
    (no_config / "config.json").unlink()
    with pytest.raises(IncompleteModelError, match=r"no config\.json"):
        load_model(ModelConfig(str(no_config), device_map="cpu"))

    no_weights = copy_model(tiny_model_dirs["qwen2"], tmp_path / "b")
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(IncompleteModelError, match=r"model\.safetensors"):
        load_model(ModelConfig(str(no_weights), device_map="cpu"))

    sharded = copy_model(tiny_model_dirs["qwen2"], tmp_path / "c")
    index = {
        "weight_map": {
            "a.weight": "model-00001-of-00002.safetensors",
            "b.weight": "model-00002-of-00002.safetensors",
        }
    }
    (sharded / "model.safetensors").rename(sharded / "model-00001-of-00002.safetensors")
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(IncompleteModelError, match=r"model-00002-of-00002\.safetensors"):
        load_model(ModelConfig(str(sharded), device_map="cpu"))

    no_processor = copy_model(tiny_model_dirs["qwen3"], tmp_path / "d")
    (no_processor / "preprocessor_config.json").unlink()
    (no_processor / "tokenizer.json").unlink()
    with pytest.raises(IncompleteModelError, match=r"preprocessor_config\.json, tokenizer\.json"):
        load_model(ModelConfig(str(no_processor), device_map="cpu"))

    broken = copy_model(tiny_model_dirs["qwen3"], tmp_path / "e")
    (broken / "config.json").write_text("{not json")
    with pytest.raises(IncompleteModelError, match="not valid JSON"):
        load_model(ModelConfig(str(broken), device_map="cpu"))


def test_other_architectures_are_refused_with_the_supported_list(tiny_model_dirs, tmp_path):
    llama = copy_model(tiny_model_dirs["qwen2"], tmp_path / "llama")
    (llama / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(UnsupportedModelError, match=r"'llama'.*Qwen2\.5-VL"):
        load_model(ModelConfig(str(llama), device_map="cpu"))


def test_bad_quantization_is_refused(tiny_model_dirs):
    with pytest.raises(ValueError, match="quantization"):
        load_model(
            ModelConfig(str(tiny_model_dirs["qwen2"]), quantization="3bit", device_map="cpu")
        )


def test_none_is_spelled_as_on_the_command_line(tiny_model_dirs):
    from agent.backends.local import LocalVLM

    vlm = LocalVLM.from_pretrained(
        str(tiny_model_dirs["qwen2"]), quantization="none", device_map="cpu"
    )
    assert getattr(vlm.loaded.model, "quantization_method", None) is None
    assert ModelConfig("m", quantization="none").quantization is None
