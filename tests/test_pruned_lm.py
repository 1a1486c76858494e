"""Prompt, M-RoPE positions, prefill and decoding with pruned images, against the stock model."""

from __future__ import annotations

import pytest
import torch
from conftest import TINY_FAMILIES
from vlm_helpers import keep_all, process, screenshots, selections_for

from agent.backends.decode import generate, prefill
from agent.backends.prompt import IMAGE_PLACEHOLDER, PromptError, build_inputs
from agent.backends.pruned_vision import encode_images

PROMPT = (
    f"<|im_start|>user\n{IMAGE_PLACEHOLDER}{IMAGE_PLACEHOLDER}Click the Save button."
    "<|im_end|>\n<|im_start|>assistant\n"
)


def run(loaded, pixel_values, grid, selections):
    features = encode_images(loaded.model, pixel_values, grid, selections)
    inputs = build_inputs(loaded.model, loaded.tokenizer, PROMPT, grid, features.kept_cells)
    return features, inputs


def stock_logits(loaded, pixel_values, grid):
    full = build_inputs(
        loaded.model,
        loaded.tokenizer,
        PROMPT,
        grid,
        [torch.arange(int(n)) for n in grid.prod(-1) // 4],
    )
    with torch.no_grad():
        out = loaded.model(
            input_ids=full.input_ids,
            mm_token_type_ids=full.mm_token_type_ids,
            pixel_values=pixel_values,
            image_grid_thw=grid,
        )
    return full, out.logits


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_unpruned_and_keep_all_match_the_stock_model(tiny_models, screenshot_paths, family):
    loaded = tiny_models[family]
    pixel_values, grid = process(loaded, screenshots(screenshot_paths))
    full, want = stock_logits(loaded, pixel_values, grid)
    every = [keep_all(s) for s in selections_for(loaded, pixel_values, grid)]
    for selections in (None, every):
        features, inputs = run(loaded, pixel_values, grid, selections)
        torch.testing.assert_close(inputs.input_ids, full.input_ids, rtol=0, atol=0)
        torch.testing.assert_close(inputs.position_ids, full.position_ids, rtol=0, atol=0)
        logits, _ = prefill(loaded.model, inputs, features, all_logits=True)
        torch.testing.assert_close(logits, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_pruned_prompt_keeps_true_positions(tiny_models, screenshot_paths, family):
    loaded = tiny_models[family]
    pixel_values, grid = process(loaded, screenshots(screenshot_paths))
    selections = selections_for(loaded, pixel_values, grid)
    full, _ = stock_logits(loaded, pixel_values, grid)
    features, inputs = run(loaded, pixel_values, grid, selections)
    image_id = loaded.model.config.image_token_id
    assert int((inputs.input_ids == image_id).sum()) == sum(s.n_kept for s in selections)
    assert inputs.image_tokens_kept == sum(s.n_kept for s in selections)
    assert inputs.image_tokens_full == full.image_tokens_full > inputs.image_tokens_kept
    # The pruned positions are the full prompt's columns at the kept tokens, in order:
    is_image = full.input_ids[0] == image_id
    columns = torch.ones_like(is_image)
    image_columns = is_image.nonzero().flatten()
    kept = torch.cat(
        [
            cells + offset
            for cells, offset in zip(
                features.kept_cells,
                [0, *torch.cumsum(grid.prod(-1) // 4, 0).tolist()[:-1]],
                strict=True,
            )
        ]
    )
    columns[image_columns] = False
    columns[image_columns[kept]] = True
    torch.testing.assert_close(inputs.position_ids, full.position_ids[:, :, columns])
    # ... so text after the images continues from the full images' max + 1, as unpruned.
    assert inputs.position_ids[0, 0, -1] == full.position_ids[0, 0, -1]
    assert int(inputs.next_position) == int(full.next_position) == int(full.position_ids.max()) + 1
    logits, _ = prefill(loaded.model, inputs, features, all_logits=True)
    assert logits.shape[1] == inputs.input_ids.shape[1] and torch.isfinite(logits).all()


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_greedy_decoding_matches_stock_generate_when_unpruned(
    tiny_models, screenshot_paths, family
):
    loaded = tiny_models[family]
    pixel_values, grid = process(loaded, screenshots(screenshot_paths))
    full, _ = stock_logits(loaded, pixel_values, grid)
    with torch.no_grad():
        stock = loaded.model.generate(
            input_ids=full.input_ids,
            mm_token_type_ids=full.mm_token_type_ids,
            pixel_values=pixel_values,
            image_grid_thw=grid,
            max_new_tokens=6,
            do_sample=False,
            eos_token_id=[],
            pad_token_id=loaded.tokenizer.pad_token_id,
        )
    features, inputs = run(loaded, pixel_values, grid, None)
    ours = generate(loaded.model, inputs, features, max_new_tokens=6, stop_ids=[])
    assert ours.tokens == [stock[0, full.input_ids.shape[1] :].tolist()]
    assert ours.prefill_seconds > 0 and ours.decode_seconds > 0
    pruned_features, pruned_inputs = run(
        loaded, pixel_values, grid, selections_for(loaded, pixel_values, grid)
    )
    pruned = generate(
        loaded.model,
        pruned_inputs,
        pruned_features,
        max_new_tokens=6,
        stop_ids=[loaded.tokenizer.eos_token_id],
    )
    assert 1 <= len(pruned.tokens[0]) <= 6


def test_prompt_and_images_must_agree(tiny_models, screenshot_paths):
    loaded = tiny_models["qwen2.5"]
    pixel_values, grid = process(loaded, screenshots(screenshot_paths))
    features = encode_images(loaded.model, pixel_values, grid)
    with pytest.raises(PromptError, match="2 images"):
        build_inputs(loaded.model, loaded.tokenizer, "no image here", grid, features.kept_cells)
