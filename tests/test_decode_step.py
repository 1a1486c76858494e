"""Static KV cache and compiled decode steps give the eager path's tokens, on tiny models of the
three classes: greedy (with a repetition penalty, so the tokens vary) and seeded sampling, one
prompt and a left-padded batch, and prompts of other lengths on the cache they reuse."""

from __future__ import annotations

import pytest
import torch
from conftest import TINY_FAMILIES
from vlm_helpers import screenshots

from agent.backends.decode_step import BUCKET, DecodeSteps
from agent.backends.local import LocalVLM, Request
from agent.backends.sampling import Decoding
from agent.errors import ModelError
from agent.settings import ModelSpec
from pixelprune import PruneConfig

DECODINGS = {
    "greedy": Decoding(repetition_penalty=1.5),
    "sampled": Decoding(sample=True, temperature=1.5, top_k=50, top_p=0.95, seed=7),
}


def ask(text: str, images: int) -> list[dict]:
    parts = [{"type": "image"}] * images + [{"type": "text", "text": text}]
    return [{"role": "user", "content": parts}]


def answers(vlm: LocalVLM, shots, decoding: Decoding) -> list[list[int]]:
    """One prompt, a left-padded batch of two, then a prompt of another length."""
    vlm.decoding = decoding
    one = vlm.generate(shots, ask("Click Save.", 2), prune=PruneConfig(), max_new_tokens=12)
    batch = vlm.generate_batch(
        [
            Request(shots, ask("Open the settings menu, please.", 2)),
            Request(shots[1:], ask("Hi", 1)),
        ],
        prune=PruneConfig(),
        max_new_tokens=12,
    )
    other = vlm.generate(shots[:1], ask("Type hello", 1), max_new_tokens=12)
    return [one.token_ids, *(r.token_ids for r in batch), other.token_ids]


@pytest.fixture(scope="module")
def eager_answers(tiny_models, screenshot_paths) -> dict[tuple[str, str], list[list[int]]]:
    shots = screenshots(screenshot_paths)
    return {
        (family, name): answers(LocalVLM(tiny_models[family]), shots, decoding)
        for family in TINY_FAMILIES
        for name, decoding in DECODINGS.items()
    }


@pytest.mark.parametrize("mode", ["static", "compiled"])
@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_static_and_compiled_steps_give_the_eager_tokens(
    tiny_models, screenshot_paths, eager_answers, family, mode
):
    if mode == "compiled":
        torch._dynamo.reset()  # this model's compilation, not an earlier test's cached one
    vlm = LocalVLM(tiny_models[family], decode_step=mode)
    shots = screenshots(screenshot_paths)
    for name, decoding in DECODINGS.items():
        got = answers(vlm, shots, decoding)
        assert got == eager_answers[family, name], (family, mode, name)
        assert len(set(got[0])) > 1  # tokens that vary: a test a wrong cache could fail
    if mode == "compiled":  # the step really was compiled, not run eagerly
        assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1


def test_the_static_cache_is_reused_while_a_call_fits_and_remade_when_it_does_not(tiny_models):
    language = tiny_models["qwen2.5"].model.model.language_model
    steps = DecodeSteps("static")
    first = steps.cache(language, 1, 100)
    assert steps.cache(language, 1, BUCKET) is first  # the same bucket: reused, emptied
    assert steps.cache(language, 1, BUCKET + 1) is not first  # a longer one
    assert steps.cache(language, 2, BUCKET + 1) is not steps.cache(language, 1, BUCKET + 1)
    mask = torch.tensor([[0, 1, 1]])
    padded = steps.prompt_mask(mask)
    assert padded.shape == (1, 2 * BUCKET) and padded[0, :3].tolist() == [0, 1, 1]
    assert bool(padded[0, 3:].all()) and steps.next_mask(padded) is padded
    eager = DecodeSteps()
    assert eager.prompt_mask(mask) is mask and eager.next_mask(mask).tolist() == [[0, 1, 1, 1]]


def test_an_unknown_decode_step_is_a_clear_error():
    with pytest.raises(ModelError, match="decode step must be one of eager, static, compiled"):
        DecodeSteps("fast")  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="decode_step must be one of eager, static, compiled"):
        ModelSpec(path="m", decode_step="fast")  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="decode_step only apply to a local model"):
        ModelSpec(server="http://127.0.0.1:1/v1", decode_step="static")
