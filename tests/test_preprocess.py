"""The fast preprocessor gives the stock image processor's pixel_values bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from agent.backends.preprocess import ImagePreprocessor
from pixelprune import get_family
from tests.conftest import DATA, TINY_FAMILIES


def images() -> list[Image.Image]:
    rng = np.random.default_rng(7)
    return [
        Image.open(DATA / "desktop-xterm-1920x1080.png").convert("RGB"),
        Image.open(DATA / "chromium-python-policy-2560x1440.png").convert("RGB"),
        Image.fromarray(rng.integers(0, 256, (333, 517, 3), dtype=np.uint8)),  # odd size
        Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)),  # upscaled
        Image.new("RGB", (56, 1400), (250, 3, 128)),  # tall, one colour
    ]


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_pixel_values_equal_the_processors(tiny_models, family):
    loaded = tiny_models[family]
    preprocess = ImagePreprocessor(loaded.image_processor, get_family(loaded.family), cache_size=8)
    batch = images()
    stock = loaded.image_processor(images=batch, return_tensors="pt")
    ours = preprocess(batch, torch.device("cpu"))
    assert torch.equal(ours.grid, stock["image_grid_thw"])
    assert ours.pixel_values.dtype == stock["pixel_values"].dtype
    assert torch.equal(ours.pixel_values, stock["pixel_values"])
    resent = preprocess(batch[::-1], torch.device("cpu"))  # from the caches, in another order
    reversed_stock = loaded.image_processor(images=batch[::-1], return_tensors="pt")
    assert torch.equal(resent.pixel_values, reversed_stock["pixel_values"])
    for pixels, (_, rows, cols) in zip(ours.resized, ours.grid.tolist(), strict=True):
        assert pixels.dtype == np.uint8
        assert pixels.shape == (rows * preprocess.patch, cols * preprocess.patch, 3)


def test_an_image_object_is_resized_once_while_resent(tiny_models):
    loaded = tiny_models["qwen2.5"]
    preprocess = ImagePreprocessor(loaded.image_processor, get_family(loaded.family), cache_size=2)
    first, second, third = images()[:3]
    resized = preprocess.resize(first)
    assert preprocess.resize(first) is resized
    assert preprocess.resize(first.copy()) is not resized
    preprocess.resize(second)
    preprocess.resize(third)
    assert preprocess.resize(first) is not resized  # evicted: the cache stays bounded
