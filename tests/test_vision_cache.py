"""The vision-feature cache: exact reuse, bounds, settings, and an agent run that encodes once."""

from __future__ import annotations

import pytest
import torch
from conftest import DATA, TINY_FAMILIES
from fakes import FakeScreen
from PIL import Image
from vlm_helpers import process, screenshots

from agent.backends.local import LocalVLM
from agent.backends.pruned_vision import encode_images
from agent.backends.vision_cache import CachedImage, VisionCache, image_digest
from agent.capture import Screenshot
from agent.coords import Monitor
from agent.loop import Agent
from agent.trajectory import load_run
from pixelprune import PruneConfig


def ask(images: int) -> list[dict]:
    parts = [{"type": "image"}] * images + [{"type": "text", "text": "Click Save."}]
    return [{"role": "user", "content": parts}]


def entry(rows: int, width: int = 8) -> CachedImage:
    return CachedImage(
        embeds=torch.zeros(rows, width),
        deepstack=None,
        kept_cells=torch.arange(rows),
        grid=(1, 2, 2),
        selection=None,
        seconds=0.1,
    )


def test_keys_follow_content_and_setting():
    cache = VisionCache()
    image = Image.open(DATA / "desktop-xterm-1920x1080.png").convert("RGB")
    copy = image.copy()
    assert cache.key(image, None) == cache.key(copy, None) == (image_digest(image), None)
    assert cache.key(image, None) != cache.key(image, PruneConfig())
    changed = image.copy()
    changed.putpixel((5, 5), (1, 2, 3))
    assert cache.key(changed, None) != cache.key(image, None)


def test_bounded_in_images_and_bytes_least_recent_first():
    cache = VisionCache(max_images=2, max_bytes=8_100)
    keys = [(bytes([n]), None) for n in range(4)]
    cache.put(keys[0], entry(4))
    cache.put(keys[1], entry(4))
    assert cache.get(keys[0]) is not None  # now the most recent
    cache.put(keys[2], entry(4))
    assert cache.get(keys[1]) is None and len(cache) == 2
    big = entry(200)  # 200 x 8 floats + 200 indices: 8,000 bytes
    cache.put(keys[3], big)
    assert len(cache) == 1 and cache.get(keys[3]) is not None and cache.nbytes == big.nbytes
    cache.put((b"huge", None), entry(1000))  # larger than the whole cache: not kept
    assert cache.get((b"huge", None)) is None and cache.get(keys[3]) is not None


def test_a_third_setting_drops_the_oldest_settings_entries():
    cache = VisionCache()
    pruned, lossy = PruneConfig(), PruneConfig(tau=0.05, metric="mae")
    cache.put((b"a", pruned), entry(2))
    cache.put((b"a", None), entry(2))  # the agent's calibration: unpruned
    assert cache.get((b"a", pruned)) is not None and len(cache) == 2
    cache.put((b"a", lossy), entry(2))  # the user changed the pruning: None is the oldest
    assert len(cache) == 2 and cache.get((b"a", pruned)) is not None
    assert cache.get((b"a", None)) is None


def test_entries_own_their_memory():
    batch = torch.randn(10, 4)
    cache = VisionCache()
    kept = CachedImage(batch[2:5], None, torch.arange(3), (1, 2, 6), None, 0.0)
    cache.put((b"x", None), kept)
    stored = cache.get((b"x", None))
    assert torch.equal(stored.embeds, batch[2:5])
    assert stored.embeds.untyped_storage().nbytes() == 3 * 4 * 4


@pytest.mark.parametrize("family", TINY_FAMILIES)
@pytest.mark.parametrize("prune", [None, PruneConfig()], ids=["full", "pruned"])
def test_resent_images_are_not_encoded_again(tiny_models, screenshot_paths, family, prune):
    loaded = tiny_models[family]
    first, second = screenshots(screenshot_paths)
    third = screenshots(screenshot_paths[2:], sizes=((392, 280),))[0]
    cached, plain = LocalVLM(loaded), LocalVLM(loaded, vision_cache=False)
    one = cached.generate([first, second], ask(2), prune=prune, max_new_tokens=3)
    assert (one.vision_cache_hits, one.vision_tokens_encoded) == (0, one.image_tokens_kept)
    # the next step: the same screenshots resent (as new objects, as a server decodes them)
    two = cached.generate([first.copy(), second.copy(), third], ask(3), prune=prune)
    fresh = plain.generate([first, second, third], ask(3), prune=prune)
    assert two.vision_cache_hits == 2 and two.vision_cache_seconds > 0
    assert two.vision_tokens_encoded == two.image_tokens_kept - one.image_tokens_kept
    assert two.token_ids == fresh.token_ids and two.image_tokens_kept == fresh.image_tokens_kept
    if prune is None:
        assert two.selections is fresh.selections is None
    else:
        assert [s.keep.tolist() for s in two.selections] == [
            s.keep.tolist() for s in fresh.selections
        ]
    assert (fresh.vision_cache_hits, fresh.vision_tokens_encoded) == (0, fresh.image_tokens_kept)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_cached_features_are_bit_identical_to_a_fresh_encode(tiny_models, screenshot_paths, family):
    loaded = tiny_models[family]
    vlm = LocalVLM(loaded)
    (shot,) = screenshots(screenshot_paths)[:1]
    vlm.generate([shot], ask(1), prune=PruneConfig(), max_new_tokens=1)
    stored = vlm.vision_cache.get(vlm.vision_cache.key(shot, PruneConfig()))
    pixel_values, grid = process(loaded, [shot])
    with torch.no_grad():
        fresh = encode_images(loaded.model, pixel_values, grid, [stored.selection])
    assert torch.equal(stored.embeds, fresh.embeds[0])
    assert torch.equal(stored.kept_cells, fresh.kept_cells[0])
    for layer, fresh_layer in zip(stored.deepstack or (), fresh.deepstack or (), strict=True):
        assert torch.equal(layer, fresh_layer[0])
    assert (stored.deepstack is None) == (family != "qwen3")


class ChangingCapture:
    """A new screenshot every grab: crops of a real desktop shifted by one cell per step."""

    def __init__(self) -> None:
        self.desktop = Image.open(DATA / "desktop-xterm-1920x1080.png").convert("RGB")
        self.grabs = 0

    def grab(self) -> Screenshot:
        self.grabs += 1
        left = 28 * self.grabs
        image = self.desktop.crop((left, 0, left + 448, 336))
        return Screenshot(image, Monitor(0, 0, 448, 336), 0.001)


class ClickingVLM(LocalVLM):
    """The tiny model does all the work; its (random) answer is replaced by a click."""

    def complete(self, prompt, *, prune, max_new_tokens=256):
        reply = super().complete(prompt, prune=prune, max_new_tokens=2)
        return type(reply)(
            **{**reply.__dict__, "text": "Thought: go\nAction: click(start_box='(100,100)')"}
        )


def test_an_agent_run_encodes_each_screenshot_once(tiny_models, tmp_path):
    """5 steps with history 2: three screenshots per prompt from step 3 on, each encoded once."""
    vlm = ClickingVLM(tiny_models["qwen2.5"], name="tiny")
    visual = vlm.loaded.model.model.visual
    entering = []  # patches into the vision tower, per call
    handle = visual.register_forward_pre_hook(lambda module, args: entering.append(len(args[0])))
    agent = Agent(
        vlm,
        screen_capture=ChangingCapture(),
        screen=FakeScreen(),
        parser="uitars",
        mode="auto",
        kill_hotkey=None,
        max_steps=5,
        history=2,
        calibrate=False,
        prune=PruneConfig(),
        record_to=str(tmp_path),
    )
    try:
        result = agent.run("click it five times")
    finally:
        handle.remove()
    assert result.status == "max_steps" and len(result.steps) == 5
    kept = [step.selection.n_kept for step in result.steps]  # each step's new screenshot
    unit = visual.spatial_merge_size**2
    assert entering == [n * unit for n in kept]  # one encode per call: the new screenshot
    uses = [step.vision_cache for step in result.steps]
    assert [use.hits for use in uses] == [0, 1, 2, 2, 2]
    assert [use.tokens_encoded for use in uses] == kept
    assert all(use.seconds_saved > 0 for use in uses[1:])
    assert sum(step.image_tokens[1] for step in result.steps[2:]) > 3 * kept[-1]  # 3 images
    recorded = load_run(result.run_dir).steps
    assert [s.vision_cache for s in recorded] == uses
    assert [s.attempts[0].vision_tokens_encoded for s in recorded] == kept


def test_calibration_reuses_the_unpruned_encodes(tiny_models):
    """The agent's once-per-shape unpruned call keeps its own entries beside the pruned ones."""
    vlm = LocalVLM(tiny_models["qwen2"])
    shots = [
        Screenshot(image, Monitor(0, 0, *image.size), 0.0).image
        for image in screenshots([DATA / "desktop-xterm-1920x1080.png"] * 2, ((448, 336),) * 2)
    ]
    shots[1] = shots[1].rotate(180)
    pruned = PruneConfig()
    vlm.generate(shots[:1], ask(1), prune=pruned, max_new_tokens=1)
    vlm.generate(shots[:1], ask(1), prune=None, max_new_tokens=1)
    again = vlm.generate(shots, ask(2), prune=pruned, max_new_tokens=1)
    calibration = vlm.generate(shots, ask(2), prune=None, max_new_tokens=1)
    assert again.vision_cache_hits == calibration.vision_cache_hits == 1
