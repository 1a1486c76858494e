"""Decoding: greedy by default; the folder's generation_config.json settings when asked, with
transformers' rules, seeded."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from transformers.generation.logits_process import (
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from agent.backends.sampling import Decoding, decoding_for
from agent.errors import ModelError
from agent.settings import ModelSpec, Settings

# Qwen3-VL-Instruct's model card settings for its VL tasks
QWEN3_CARD = {"do_sample": True, "temperature": 0.7, "top_k": 20, "top_p": 0.8}


def folder_with(tmp_path: Path, config: dict | str | None) -> Path:
    if config is not None:
        text = config if isinstance(config, str) else json.dumps(config)
        (tmp_path / "generation_config.json").write_text(text)
    return tmp_path


def test_greedy_unless_the_folder_asks_for_sampling(tmp_path):
    assert decoding_for("greedy", folder_with(tmp_path, QWEN3_CARD)) == Decoding()
    assert Decoding.from_folder(tmp_path / "no-such-folder") == Decoding()
    plain = folder_with(
        tmp_path, {"do_sample": False, "temperature": 0.1, "repetition_penalty": 1.05}
    )
    assert Decoding.from_folder(plain) == Decoding(repetition_penalty=1.05)
    card = decoding_for("folder", folder_with(tmp_path, QWEN3_CARD))
    assert card == Decoding(sample=True, temperature=0.7, top_k=20, top_p=0.8)
    assert card.describe().startswith("sampled: temperature 0.7, top_k 20, top_p 0.8")
    assert Decoding().describe() == "greedy"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("{not json", "unreadable"),
        ({"do_sample": True, "temperature": 0}, "temperature"),
        ({"do_sample": True, "top_p": 1.5}, "top_p"),
    ],
)
def test_unusable_settings_are_a_clear_error(tmp_path, config, message):
    with pytest.raises(ModelError, match=message):
        Decoding.from_folder(folder_with(tmp_path, config))


def test_decoding_is_a_checked_model_setting(tmp_path):
    assert ModelSpec(path="m").decoding == "greedy"
    with pytest.raises(ModelError, match="decoding must be one of greedy, folder"):
        ModelSpec(path="m", decoding="beam")
    task = tmp_path / "task.toml"
    task.write_text('task = "t"\n[model]\npath = "m"\ndecoding = "folder"\n')
    assert Settings.from_toml(task).model.decoding == "folder"


def test_greedy_and_the_penalty_follow_transformers():
    torch.manual_seed(0)
    logits = torch.randn(3, 50) * 4
    seen = torch.randint(0, 50, (3, 7))
    assert torch.equal(Decoding().next_tokens(logits, seen), logits.argmax(-1))
    penalised = RepetitionPenaltyLogitsProcessor(1.3)(seen, logits.clone())
    assert torch.equal(
        Decoding(repetition_penalty=1.3).next_tokens(logits, seen), penalised.argmax(-1)
    )


def allowed_by_transformers(logits: torch.Tensor, decoding: Decoding) -> torch.Tensor:
    scores = TemperatureLogitsWarper(decoding.temperature)(None, logits.clone())
    scores = TopKLogitsWarper(decoding.top_k)(None, scores)
    scores = TopPLogitsWarper(decoding.top_p)(None, scores)
    return scores > float("-inf")


def test_sampling_draws_only_what_transformers_keeps_and_repeats_with_its_seed():
    torch.manual_seed(1)
    logits = torch.randn(4, 300) * 3
    seen = torch.zeros(4, 1, dtype=torch.long)
    decoding = Decoding(sample=True, temperature=0.7, top_k=20, top_p=0.8, seed=5)
    allowed = allowed_by_transformers(logits, decoding)
    draws = [
        decoding.next_tokens(logits, seen, decoding.generator(logits.device)) for _ in range(3)
    ]
    assert all(torch.equal(draws[0], again) for again in draws)  # same seed, same tokens
    generator = decoding.generator(logits.device)
    many = torch.stack([decoding.next_tokens(logits, seen, generator) for _ in range(200)])
    assert all(bool(allowed[row, many[:, row]].all()) for row in range(4))
    assert len(set(many[:, 0].tolist())) > 1  # it does sample
    other = dataclasses.replace(decoding, seed=6)
    generator = other.generator(logits.device)
    assert not torch.equal(
        torch.stack([other.next_tokens(logits, seen, generator) for _ in range(200)]), many
    )


def test_a_local_model_samples_only_when_asked(tiny_model_dirs):
    from PIL import Image

    from agent.backends.local import LocalVLM

    folder = tiny_model_dirs["qwen2.5"]
    config = (
        json.loads((folder / "generation_config.json").read_text())
        if (folder / "generation_config.json").exists()
        else {}
    )
    (folder / "generation_config.json").write_text(
        json.dumps({**config, "do_sample": True, "temperature": 1.5, "top_k": 0, "top_p": 1.0})
    )
    shot = Image.new("RGB", (56, 56), "white")
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}]
    greedy = LocalVLM.from_pretrained(str(folder), quantization=None, device_map="cpu")
    sampled = LocalVLM.from_pretrained(
        str(folder), quantization=None, device_map="cpu", decoding="folder"
    )
    assert greedy.decoding == Decoding() and sampled.decoding.sample
    first = sampled.generate([shot], messages, max_new_tokens=12).token_ids
    assert sampled.generate([shot], messages, max_new_tokens=12).token_ids == first  # seeded
    answers = {
        tuple(greedy.generate([shot], messages, max_new_tokens=12).token_ids) for _ in range(2)
    }
    assert len(answers) == 1 and tuple(first) not in answers


def test_the_command_line_sets_the_decoding():
    from agent.commands.run import settings_from
    from tests.test_cli_run import run_args

    assert (
        settings_from(run_args("x", "--model", "m", "--decoding", "folder")).model.decoding
        == "folder"
    )
    assert settings_from(run_args("x", "--model", "m")).model.decoding == "greedy"
