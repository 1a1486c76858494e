"""Smart-resize parity with transformers, the processor round trip, and refusal of bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
    smart_resize as hf_smart_resize,
)

from pixelprune import (
    PruneInputError,
    get_family,
    images_from_pixel_values,
    resize_for_model,
    select,
    select_pixel_values,
    smart_resize,
)
from tools.offline_models import image_processor_for


@given(st.integers(8, 5000), st.integers(8, 5000), st.sampled_from(["qwen2", "qwen2.5", "qwen3"]))
def test_smart_resize_equals_transformers(height, width, family):
    fam = get_family(family)
    if max(height, width) / min(height, width) > 200:
        with pytest.raises(PruneInputError, match="aspect ratio"):
            smart_resize(height, width, family)
        return
    want = hf_smart_resize(height, width, fam.cell, fam.min_pixels, fam.max_pixels)
    assert smart_resize(height, width, family) == want


@pytest.mark.parametrize(
    ("size", "tokens"), [((1920, 1080), 2691), ((2560, 1440), 4641), ((3840, 2160), 10549)]
)
def test_token_counts_of_common_screens(size, tokens):
    height, width = smart_resize(size[1], size[0], "qwen2.5")
    assert (height // 28) * (width // 28) == tokens


@pytest.mark.parametrize("family", ["qwen2.5", "qwen3"])
def test_pixel_values_round_trip_and_give_the_same_masks(family, screenshot_paths):
    fam = get_family(family)
    shots = [Image.open(p).convert("RGB").crop((0, 0, 900, 500)) for p in screenshot_paths[:2]]
    out = image_processor_for(family)(images=shots, return_tensors="pt")
    images = images_from_pixel_values(out["pixel_values"], out["image_grid_thw"], family)
    for shot, image in zip(shots, images, strict=True):
        resized = resize_for_model(shot, family)
        np.testing.assert_array_equal(image, resized)
    for tau in (0.0, 0.03):
        masks = select_pixel_values(
            out["pixel_values"], out["image_grid_thw"], family=family, tau=tau
        )
        for shot, selection in zip(shots, masks, strict=True):
            want = select(resize_for_model(shot, family), cell=fam.cell, tau=tau)
            np.testing.assert_array_equal(selection.keep, want.keep)


def test_pixel_values_with_the_wrong_family_are_refused(screenshot_paths):
    shot = Image.open(screenshot_paths[0]).convert("RGB").crop((0, 0, 300, 200))
    out = image_processor_for("qwen2.5")(images=[shot], return_tensors="np")
    with pytest.raises(PruneInputError, match="family"):
        images_from_pixel_values(out["pixel_values"], out["image_grid_thw"], "qwen3")
    wrong_norm = get_family("qwen2.5").__class__(
        **{**get_family("qwen2.5").__dict__, "image_mean": (0.5, 0.5, 0.5)}
    )
    with pytest.raises(PruneInputError, match="8-bit"):
        images_from_pixel_values(out["pixel_values"], out["image_grid_thw"], wrong_norm)
    with pytest.raises(PruneInputError, match="accounts for"):
        images_from_pixel_values(out["pixel_values"][:-4], out["image_grid_thw"], "qwen2.5")
    with pytest.raises(PruneInputError, match="cell comes from the family"):
        select_pixel_values(out["pixel_values"], out["image_grid_thw"], cell=28)


GOOD = np.zeros((56, 56, 3), np.uint8)


@pytest.mark.parametrize(
    ("image", "options", "message"),
    [
        (np.zeros((0, 56, 3), np.uint8), {}, "empty"),
        (np.zeros((56, 56), np.uint8), {}, "1 channel"),
        (np.zeros((56, 56, 1), np.uint8), {}, "1 channel"),
        (Image.new("L", (56, 56)), {}, "1 channel"),
        (np.zeros((56, 56, 4), np.uint8), {}, "RGBA"),
        (Image.new("RGBA", (56, 56)), {}, "alpha"),
        (np.zeros((56, 56, 3), np.uint16), {}, "16-bit"),
        (Image.new("I;16", (56, 56)), {}, "16/32-bit"),
        (np.zeros((56, 57, 3), np.uint8), {}, "not a multiple"),
        (np.full((56, 56, 3), np.nan, np.float32), {}, "NaN"),
        (np.full((56, 56, 3), np.inf, np.float64), {}, "NaN or infinity"),
        (np.full((56, 56, 3), 2.0, np.float32), {}, r"\[0, 1\]"),
        (np.zeros((56, 56, 3), np.int32), {}, "dtype"),
        (np.zeros((56, 56, 3, 2), np.uint8), {}, r"\(H, W, 3\)"),
        (GOOD, {"method": "nope"}, "unknown method 'nope'"),
        (GOOD, {"metric": "l2"}, "unknown metric 'l2'"),
        (GOOD, {"tau": -0.1}, "tau must be"),
        (GOOD, {"tau": float("nan")}, "tau must be"),
        (GOOD, {"tau": "x"}, "tau must be a number"),
        (GOOD, {"metric": "exact", "tau": 0.1}, "exact"),
        (GOOD, {"method": "global", "tau": 0.1}, "exact duplicates only"),
        (GOOD, {"cell": 0}, "cell must be"),
        (GOOD, {"anchored": "yes"}, "anchored"),
        (GOOD, {"method": "random", "seed": 1.5}, "seed"),
    ],
)
def test_bad_input_is_a_clear_value_error(image, options, message):
    with pytest.raises(ValueError, match=message):
        select(image, **options)


def test_unknown_family_names_the_known_ones():
    with pytest.raises(ValueError, match=r"qwen2\.5"):
        resize_for_model(GOOD, "llava")


def test_resize_for_model_refuses_non_rgb():
    with pytest.raises(ValueError, match="RGB"):
        resize_for_model(Image.new("RGBA", (100, 100)), "qwen2.5")
