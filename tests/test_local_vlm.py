"""`LocalVLM`: one call and a batch, pruned and not, on tiny models of the three classes."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import TINY_FAMILIES
from vlm_helpers import screenshots

from agent.backends.loading import ModelConfig, load_model
from agent.backends.local import LocalVLM, Request
from agent.errors import IncompleteModelError
from pixelprune import PruneConfig


def ask(text: str, images: int = 1) -> list[dict]:
    parts = [{"type": "image"}] * images + [{"type": "text", "text": text}]
    return [{"role": "user", "content": parts}]


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_generate_reports_tokens_selections_and_timings(tiny_models, screenshot_paths, family):
    vlm = LocalVLM(tiny_models[family])
    shots = screenshots(screenshot_paths)
    plain = vlm.generate(shots, ask("Click Save.", 2), max_new_tokens=4)
    pruned = vlm.generate(shots, ask("Click Save.", 2), prune=PruneConfig(), max_new_tokens=4)
    assert plain.selections is None and plain.image_tokens_kept == plain.image_tokens_full
    assert len(pruned.selections) == 2
    assert pruned.image_tokens_kept == sum(s.n_kept for s in pruned.selections)
    assert pruned.image_tokens_full == plain.image_tokens_full > pruned.image_tokens_kept
    assert pruned.prompt_tokens == plain.prompt_tokens - (
        plain.image_tokens_full - pruned.image_tokens_kept
    )
    for result in (plain, pruned):
        assert 1 <= len(result.token_ids) <= 4 and isinstance(result.text, str)
        t = result.timings
        assert min(t.preprocess, t.vision, t.prefill) > 0 and t.total >= t.vision + t.prefill
    assert pruned.timings.prune > 0


@pytest.mark.parametrize("family", TINY_FAMILIES)
@pytest.mark.parametrize("prune", [None, PruneConfig(tau=0.02)])
def test_a_batch_answers_like_single_calls(tiny_models, screenshot_paths, family, prune):
    vlm = LocalVLM(tiny_models[family])
    shots = screenshots(screenshot_paths)
    requests = [
        Request(shots, ask("Open the settings menu please.", 2)),
        Request(shots[1:], ask("Type hello.")),
    ]
    batch = vlm.generate_batch(requests, prune=prune, max_new_tokens=5)
    singles = [vlm.generate(r.images, r.messages, prune=prune, max_new_tokens=5) for r in requests]
    for together, alone in zip(batch, singles, strict=True):
        assert together.token_ids == alone.token_ids
        assert together.image_tokens_kept == alone.image_tokens_kept
        assert together.prompt_tokens == alone.prompt_tokens


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_a_text_only_prompt_is_answered_alone_and_in_a_batch(tiny_models, screenshot_paths, family):
    vlm = LocalVLM(tiny_models[family])
    shots = screenshots(screenshot_paths)[:1]
    text = ask("Say hello.", images=0)
    alone = vlm.generate([], text, max_new_tokens=4)
    assert alone.image_tokens_full == alone.image_tokens_kept == 0 and alone.prompt_tokens > 0
    assert vlm.generate([], text, prune=PruneConfig(), max_new_tokens=4).selections == ()
    mixed = vlm.generate_batch(
        [Request([], text), Request(shots, ask("Click Save."))],
        prune=PruneConfig(),
        max_new_tokens=4,
    )
    single = vlm.generate(shots, ask("Click Save."), prune=PruneConfig(), max_new_tokens=4)
    assert mixed[0].token_ids == alone.token_ids and mixed[1].token_ids == single.token_ids


def test_chat_template_comes_from_the_processor_file(tiny_model_dirs, tmp_path):
    folder = shutil.copytree(tiny_model_dirs["qwen2.5"], tmp_path / "m")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    template = config.pop("chat_template", None) or (folder / "chat_template.jinja").read_text()
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    with pytest.raises(IncompleteModelError, match="chat template"):
        load_model(ModelConfig(str(folder), None, "cpu"))
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": template + " "}))
    assert load_model(ModelConfig(str(folder), None, "cpu")).tokenizer.chat_template.endswith(" ")


def test_showui_runs_at_its_cards_pixel_bounds_and_bounds_can_be_given(tiny_models):
    from PIL import Image

    from agent.errors import ModelError

    loaded = tiny_models["qwen2"]
    showui = LocalVLM(loaded, name="showlab/ShowUI-2B")
    assert showui.pixel_bounds == (256 * 28 * 28, 1344 * 28 * 28)
    assert showui.input_size(1920, 1080) == (1344, 756)  # ~1,300 tokens, not the folder's 12.8 MP
    plain = LocalVLM(loaded)
    folder = loaded.image_processor.size
    assert plain.pixel_bounds == (folder["shortest_edge"], folder["longest_edge"])
    given = LocalVLM(loaded, min_pixels=56 * 56, max_pixels=200 * 28 * 28)
    width, height = given.input_size(1920, 1080)
    assert width * height <= 200 * 28 * 28
    shot = Image.new("RGB", (1920, 1080), "white")
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}]
    reply = given.generate([shot], messages, max_new_tokens=1)
    assert reply.image_tokens_full == (width // 28) * (height // 28)  # what the tower was given
    with pytest.raises(ModelError, match="min_pixels"):
        LocalVLM(loaded, min_pixels=10**7, max_pixels=10**6)


def test_showui_text_parts_join_as_its_card_writes_them(tiny_models):
    from PIL import Image

    from agent.parsers import PastStep, get_parser

    said = "{'action': 'CLICK', 'value': None, 'position': [0.1, 0.2]}"
    past = [PastStep(said, None, None)]
    prompt = get_parser("showui").build_prompt(
        "Open the terminal", past, Image.new("RGB", (10, 10)), (28, 28)
    )
    text = tiny_models["qwen2"].tokenizer.apply_chat_template(
        prompt.messages, tokenize=False, add_generation_prompt=True
    )
    assert f"Task: Open the terminal{said}<|vision_start|>" in text
