"""`resize_exact` gives Pillow's BICUBIC pixels, every one, and the preprocessor may use it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from agent.backends import preprocess as preprocess_module
from agent.backends import resize as resize_module
from agent.backends.preprocess import ImagePreprocessor
from agent.backends.resize import resize_exact, use_exact_resize
from pixelprune import get_family, smart_resize
from tests.conftest import DATA
from tests.test_preprocess import images as preprocess_images

SCREENSHOTS = [
    DATA / "desktop-xterm-1920x1080.png",
    DATA / "chromium-python-policy-2560x1440.png",
    DATA / "chromium-users-and-groups-3840x2160.png",
    DATA / "corpus" / "calculator-galculator-1920x1080.png",
    DATA / "corpus" / "browser-gcc-news-2560x1440.png",
]
DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


def pillow(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BICUBIC))


def ours(pixels: np.ndarray, size: tuple[int, int], device: str = "cpu") -> np.ndarray:
    resized = resize_exact(torch.from_numpy(pixels.copy()).to(device), size)
    assert resized.dtype == torch.uint8 and resized.device.type == device
    return resized.cpu().numpy()


def assert_same_pixels(pixels: np.ndarray, size: tuple[int, int], device: str = "cpu") -> None:
    expected, got = pillow(pixels, size), ours(pixels, size, device)
    assert got.shape == expected.shape == (size[1], size[0], 3)
    differ = np.argwhere(got != expected)
    assert differ.size == 0, (
        f"{pixels.shape[1]}x{pixels.shape[0]} -> {size}: {len(differ)} values differ, "
        f"first at {differ[0].tolist()}"
    )


@pytest.mark.parametrize("path", SCREENSHOTS, ids=lambda p: p.name)
def test_screenshots_at_the_models_sizes(path):
    """The sizes the Qwen smart-resize asks for, and a max_pixels bound that shrinks a lot."""
    pixels = np.asarray(Image.open(path).convert("RGB"))
    height, width = pixels.shape[:2]
    targets = {smart_resize(height, width, family)[::-1] for family in ("qwen2.5", "qwen3")}
    targets.add(smart_resize(height, width, "qwen2.5", max_pixels=1280 * 28 * 28)[::-1])
    for size in sorted(targets):
        assert_same_pixels(pixels, size)


@pytest.mark.parametrize("device", DEVICES)
def test_a_screenshot_shrunk_and_stretched_to_odd_sizes(device):
    pixels = np.asarray(Image.open(SCREENSHOTS[0]).convert("RGB"))[:301, :517]
    for size in [(173, 301), (517, 99), (1031, 77), (251, 603), (517, 302), (3, 5)]:
        assert_same_pixels(pixels, size, device)


@pytest.mark.parametrize("device", DEVICES)
def test_random_noise_at_random_sizes(device):
    """Noise and black/white noise swing the filter's negative lobes hardest: rounding, clip8."""
    rng = np.random.default_rng(11)
    for case in range(120):
        height, width = rng.integers(1, 90, 2)
        size = tuple(int(side) for side in rng.integers(1, 260, 2))
        if case % 2:
            pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        else:
            pixels = (rng.random((height, width, 3)) < 0.5).astype(np.uint8) * 255
        assert_same_pixels(pixels, size, device)


def test_tiny_images_upscaled_by_min_pixels():
    rng = np.random.default_rng(3)
    for height, width in [(30, 40), (1, 1), (7, 300), (64, 9)]:
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        for family in ("qwen2", "qwen3"):
            try:
                size = smart_resize(height, width, family)[::-1]
            except ValueError:  # an aspect ratio the processors refuse
                continue
            assert size[0] * size[1] >= get_family(family).min_pixels
            assert_same_pixels(pixels, size)


def test_both_pass_orders_are_followed():
    """Pillow 13 starts with the vertical pass when the height shrinks much more than the width;
    the probe that finds out tells the two orders apart, and both kinds of resize match Pillow."""
    probe = np.random.default_rng(0).integers(0, 256, resize_module._PROBE_SHAPE, dtype=np.uint8)
    first = [
        resize_module._resize(torch.from_numpy(probe), *resize_module._PROBE_SIZE, vertical_first=v)
        for v in (True, False)
    ]
    assert not torch.equal(*first)
    pixels = np.random.default_rng(4).integers(0, 256, (120, 50, 3), dtype=np.uint8)
    for size in [(157, 25), (40, 30), (45, 119), (60, 121), (50, 20), (30, 100)]:
        assert_same_pixels(pixels, size)


def test_an_unchanged_size_gives_a_copy():
    pixels = torch.from_numpy(np.random.default_rng(5).integers(0, 256, (9, 7, 3), dtype=np.uint8))
    same = resize_exact(pixels, (7, 9))
    assert torch.equal(same, pixels) and same.data_ptr() != pixels.data_ptr()


def test_one_side_only():
    pixels = np.random.default_rng(6).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    for size in [(70, 13), (70, 111), (13, 50), (111, 50)]:
        assert_same_pixels(pixels, size)


def test_coefficient_tables_are_cached_per_size_and_device():
    taps = resize_module._taps(1920, 1932, torch.device("cpu"))
    assert resize_module._taps(1920, 1932, torch.device("cpu")) is taps
    index, weights = taps
    assert index.shape == weights.shape and index.shape[0] == 1932
    assert index.dtype == torch.int64 and weights.dtype == torch.int32


@pytest.mark.parametrize(
    ("pixels", "size", "message"),
    [
        (np.zeros((4, 4, 3), np.uint8), (2, 2), "uint8 torch tensor"),
        (torch.zeros(4, 4, 3), (2, 2), "uint8 torch tensor"),
        (torch.zeros(4, 4, 4, dtype=torch.uint8), (2, 2), "(H, W, 3)"),
        (torch.zeros(4, 4, 3, dtype=torch.uint8), (0, 2), "positive integers"),
        (torch.zeros(4, 4, 3, dtype=torch.uint8), (2.0, 2), "positive integers"),
        (torch.zeros(0, 4, 3, dtype=torch.uint8), (2, 2), "positive integers"),
        (torch.zeros(4, 4, 3, dtype=torch.uint8), (2, 2, 2), "(width, height)"),
    ],
)
def test_bad_input_is_refused_clearly(pixels, size, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resize_exact(pixels, size)


def test_only_cuda_resizes_on_the_device():
    assert use_exact_resize(torch.device("cuda"))
    assert use_exact_resize(torch.device("cuda", 1))
    assert not use_exact_resize(torch.device("cpu"))
    assert not use_exact_resize(torch.device("meta"))


def test_preprocessor_on_the_cpu_keeps_pil(tiny_models, monkeypatch):
    calls = []
    monkeypatch.setattr(preprocess_module, "resize_exact", lambda *a: calls.append(a))
    loaded = tiny_models["qwen2.5"]
    preprocess = ImagePreprocessor(loaded.image_processor, get_family(loaded.family))
    preprocess(preprocess_images()[:2], torch.device("cpu"))
    assert calls == []


@pytest.mark.parametrize("family", ["qwen2.5", "qwen3"])
def test_preprocessor_through_the_device_resize_equals_the_processor(tiny_models, family):
    """The CUDA path, run on the CPU: same pixel_values as the stock processor, and the kept
    uint8 arrays are PIL's, read-only, for the selector."""
    loaded = tiny_models[family]
    batch = preprocess_images()
    stock = loaded.image_processor(images=batch, return_tensors="pt")
    preprocess = ImagePreprocessor(loaded.image_processor, get_family(loaded.family), cache_size=8)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(preprocess_module, "use_exact_resize", lambda device: True)
        result = preprocess(batch, torch.device("cpu"))
    assert torch.equal(result.grid, stock["image_grid_thw"])
    assert torch.equal(result.pixel_values, stock["pixel_values"])
    for image, pixels in zip(batch, result.resized, strict=True):
        assert not pixels.flags.writeable
        assert preprocess.resize(image) is pixels  # kept: the selector gets the same array
        cpu = ImagePreprocessor(loaded.image_processor, get_family(loaded.family)).resize(image)
        assert np.array_equal(pixels, cpu)


def test_preprocessor_device_path_refuses_non_rgb(tiny_models, monkeypatch):
    monkeypatch.setattr(preprocess_module, "use_exact_resize", lambda device: True)
    loaded = tiny_models["qwen2.5"]
    preprocess = ImagePreprocessor(loaded.image_processor, get_family(loaded.family))
    with pytest.raises(ValueError, match="expected an RGB image"):
        preprocess.resize(Image.new("L", (64, 64)), torch.device("cpu"))
