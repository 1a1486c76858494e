"""Shared fixtures and hypothesis strategies: screenshot-like images with planted structure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

DATA = Path(__file__).parent / "data"

settings.register_profile(
    "default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("default")


@st.composite
def planted_images(draw, cells=(2, 4, 6), max_grid=7):
    """A uint8 image of whole cells built from a few kinds of content, so that runs,
    duplicates, near-duplicates, gradients and noise all occur and meet each other."""
    cell = draw(st.sampled_from(cells))
    rows = draw(st.integers(1, max_grid))
    cols = draw(st.integers(1, max_grid))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    palette = [rng.integers(0, 256, (cell, cell, 3), dtype=np.uint8) for _ in range(3)]
    palette.append(np.full((cell, cell, 3), draw(st.integers(0, 255)), dtype=np.uint8))
    kinds = draw(st.lists(st.sampled_from("ppppnngrf"), min_size=rows * cols, max_size=rows * cols))
    image = np.empty((rows * cell, cols * cell, 3), dtype=np.uint8)
    for i, kind in enumerate(kinds):
        r, c = divmod(i, cols)
        if kind == "p":  # planted duplicate from the palette
            block = palette[int(rng.integers(len(palette)))]
        elif kind == "n":  # near-duplicate: a palette cell nudged by a few steps
            base = palette[int(rng.integers(len(palette)))].astype(np.int16)
            nudge = rng.integers(-12, 13, base.shape) * (rng.random(base.shape) < 0.3)
            block = np.clip(base + nudge, 0, 255).astype(np.uint8)
        elif kind == "g":  # gradient
            ramp = (np.arange(cell * cell * 3) * int(rng.integers(1, 9))) % 256
            block = ramp.reshape(cell, cell, 3).astype(np.uint8)
        elif kind == "f":  # copy of the cell to the left or above, when there is one
            block = image[
                (r - (c == 0)) * cell : (r - (c == 0) + 1) * cell,
                (c - (c > 0)) * cell : (c - (c > 0) + 1) * cell,
            ].copy()
            if r == 0 and c == 0:
                block = palette[0]
        else:  # random noise
            block = rng.integers(0, 256, (cell, cell, 3), dtype=np.uint8)
        image[r * cell : (r + 1) * cell, c * cell : (c + 1) * cell] = block
    return image, cell


@pytest.fixture(scope="session")
def screenshot_paths() -> list[Path]:
    paths = sorted(DATA.glob("*.png"))
    if not paths:
        pytest.fail(f"no screenshots in {DATA}; run tools/dev/make_screenshots.py")
    return paths


TINY_FAMILIES = ["qwen2", "qwen2.5", "qwen3"]


@pytest.fixture(scope="session")
def qapp():
    """One QApplication for the Qt tests, on the offscreen platform (no window reaches X)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QT_QPA_PLATFORM", "offscreen")
        from PyQt6.QtWidgets import QApplication

        app = QApplication.instance() or QApplication(["pixelprune-tests"])
    yield app


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory) -> dict[str, Path]:
    """Folders with tiny random-weight models of the three real classes, as if downloaded."""
    from tools.offline_models import build_tokenizer, save_random_model, tiny_config

    tokenizer = build_tokenizer()
    return {
        family: save_random_model(
            tmp_path_factory.mktemp(family.replace(".", "_")),
            tiny_config(family, tokenizer),
            tokenizer,
        )
        for family in TINY_FAMILIES
    }


@pytest.fixture(scope="session")
def tiny_models(tiny_model_dirs):
    """The tiny models loaded on CPU in float32 (LoadedModel per family)."""
    from agent.backends.loading import ModelConfig, load_model

    return {
        family: load_model(ModelConfig(str(folder), None, "cpu"))
        for family, folder in tiny_model_dirs.items()
    }


# Test tiers. `model`: runs a tiny random-weight model (any test using these fixtures);
# `desktop`: drives the X display (real windows, mss, pyautogui, global hotkeys, Chromium),
# listed by module or marked where it is written. Everything else is the fast tier:
#   tools/test.sh -m "not model and not desktop and not wayland and not slow"
MODEL_FIXTURES = {"tiny_models", "tiny_model_dirs", "stock_models"}
DESKTOP_MODULES = {
    "test_agent_desktop",
    "test_bench",  # the loop benchmark runs its own Xvfb
    "test_capture",
    "test_cli_run",
    "test_corpus",  # renders real scenes on its own Xvfb
    "test_desktop_harness",
    "test_hotkey",
    "test_overlay",
    "test_preflight",  # the run command checks the monitors of the real display
}
DESKTOP_TESTS = {
    "test_run_offers_the_download_of_a_missing_model",
    "test_the_app_opens_its_window_on_the_display_and_closes",
    "test_cli_run_against_a_server_in_dry_run",
    "test_cli_task_file_with_a_server_and_a_key_from_the_environment",
}


# tests/vllm runs in the vLLM engine environment, on its own (tools/test.sh runs it after these)
collect_ignore = ["vllm"]

# `wayland`: starts a headless Wayland compositor and drives it (tests/wayland.py)
WAYLAND_MODULES = {"test_wayland_wlroots", "test_wayland_gnome", "test_wayland_portal"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)
        module = item.module.__name__.rpartition(".")[2] if item.module else ""
        if module in DESKTOP_MODULES or item.originalname in DESKTOP_TESTS:
            item.add_marker(pytest.mark.desktop)
        if module in WAYLAND_MODULES:
            item.add_marker(pytest.mark.wayland)
