"""Every picture of the documentation comes from one command, run here into a temporary folder.

`python -m tools.dev.make_ui_screenshots` makes them all (tools/dev/make_ui_screenshots.py);
these tests check that each picture the pages show, and each PNG in docs/, has an entry, that
the command writes what its entries list at the sizes their sources give, that the heatmaps
tint exactly the cells pred_2d keeps, and that the overlay picture is the real shaped overlay
on a screen without a compositor: the desktop's own pixels everywhere but the kept-cell
squares, the click marker and the HUD, which are drawn there exactly.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agent.actions import points_of
from agent.trajectory import load_run
from pixelprune import resize_for_model, select
from pixelprune.heatmap import render_heatmap
from tools.dev.make_ui_screenshots import CHROMIUM, DATA, MAX_BYTES, PICTURES, WINDOW_SIZE
from tools.dev.overlay_picture import TINY_MODEL
from ui.overlay import (
    HUD_BACKGROUND,
    HUD_MARGIN,
    MARKER_COLOR,
    OUTLINE_COLOR,
    dots_region,
    marker_shape,
)

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
LISTED = {file for picture in PICTURES.values() for file in picture.files}
COMMAND = [sys.executable, "-m", "tools.dev.make_ui_screenshots"]


def size_of(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


# what each picture's size follows from: the window size the command asks for, the screenshot
# it is made from, the report's 1280 px heatmaps and its 960x540 plots
WINDOW = tuple(int(n) for n in WINDOW_SIZE.split("x"))
EXPECTED_SIZES = {
    "app.png": WINDOW,
    "viewer.png": WINDOW,
    "overlay.png": size_of(CHROMIUM),
    "heatmap-desktop-xterm.png": size_of(DATA / "desktop-xterm-1920x1080.png"),
    "heatmap-xterm-faq.png": size_of(DATA / "chromium-xterm-faq-1920x1080.png"),
    "heatmap-corpus-desktop-tools.png": (1280, 720),
    **{file: (960, 540) for file in LISTED if file.startswith("corpus-report/plots/")},
}


def shown_pictures() -> set[str]:
    """The pictures the pages show (Markdown image links), as paths relative to docs/."""
    shown = set()
    for page in PAGES:
        text = re.sub(r"(?ms)^```.*?^```", "", page.read_text(encoding="utf-8"))
        for target in IMAGE_LINK.findall(text):
            path = (page.parent / target.partition("#")[0]).resolve()
            shown.add(path.relative_to(DOCS).as_posix())
    return shown


def test_every_picture_the_pages_show_has_an_entry():
    shown = shown_pictures()
    assert {"overlay.png", "app.png", "viewer.png", "heatmap-desktop-xterm.png"} <= shown
    assert shown - LISTED == set()


def test_every_png_in_docs_has_an_entry():
    committed = {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.png")}
    assert committed and committed - LISTED == set()
    assert set(EXPECTED_SIZES) == LISTED  # this test knows every picture's size


def test_without_xvfb_the_overlay_fails_in_one_line(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    result = subprocess.run(
        [*COMMAND, "overlay", "--out", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PATH": str(empty)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: cannot render overlay: Xvfb is not installed; run tools/install.sh"
    ]
    assert not (tmp_path / "overlay.png").exists()


def test_an_unknown_picture_is_refused(tmp_path):
    result = subprocess.run(
        [*COMMAND, "nonesuch", "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 2 and "no picture named nonesuch" in result.stderr


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, Path]:
    """Every picture rendered by the command (about 30-40 s), and the runs it recorded."""
    out = tmp_path_factory.mktemp("pictures")
    runs = out.parent / f"{out.name}-runs"
    result = subprocess.run(
        [*COMMAND, "--out", str(out), "--runs", str(runs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return out, runs


@pytest.mark.desktop
def test_the_command_writes_every_listed_picture_at_its_size(rendered):
    out, _ = rendered
    written = {path.relative_to(out).as_posix() for path in out.rglob("*.png")}
    assert written == LISTED
    for file in sorted(written):
        assert size_of(out / file) == EXPECTED_SIZES[file], file
        assert (out / file).stat().st_size <= MAX_BYTES * 1.1, file  # shrunk when over
    report = out / "corpus-report"
    assert {"report.md", "report.html", "results.csv", "summary.json"} <= {
        p.name for p in report.iterdir()
    }
    assert "plots/distribution.png" in (report / "report.md").read_text(encoding="utf-8")


@pytest.mark.desktop
@pytest.mark.parametrize(
    ("picture", "source"),
    [
        ("heatmap-desktop-xterm.png", "desktop-xterm-1920x1080.png"),
        ("heatmap-xterm-faq.png", "chromium-xterm-faq-1920x1080.png"),
    ],
)
def test_the_heatmaps_tint_exactly_the_cells_pred_2d_keeps(rendered, picture, source):
    out, _ = rendered
    original = Image.open(DATA / source).convert("RGB")
    selection = select(resize_for_model(original, "qwen2.5"), cell=28)
    kept = np.asarray(render_heatmap(selection, original.size))[..., 3] > 0
    drawn = np.asarray(Image.open(out / picture).convert("RGB"))
    changed = (drawn != np.asarray(original)).any(axis=-1)
    assert 0.1 < kept.mean() < 0.5
    assert not changed[~kept].any()  # dropped cells: the screenshot's own pixels
    assert changed[kept].mean() > 0.99  # kept cells: tinted


def region_mask(region, size: tuple[int, int]) -> np.ndarray:
    """The pixels of a QRegion as a boolean (height, width) array."""
    from PyQt6.QtGui import QColor, QImage, QPainter

    width, height = size
    image = QImage(width, height, QImage.Format.Format_Grayscale8)
    image.fill(0)
    painter = QPainter(image)
    painter.setClipRegion(region)
    painter.fillRect(image.rect(), QColor(255, 255, 255))
    painter.end()
    buffer = np.frombuffer(image.constBits().asstring(image.sizeInBytes()), np.uint8)
    return buffer.reshape(height, image.bytesPerLine())[:, :width] > 0


def is_color(pixels: np.ndarray, color: tuple[int, int, int]) -> np.ndarray:
    return (pixels == np.array(color, dtype=np.uint8)).all(axis=-1)


@pytest.mark.desktop
def test_the_overlay_picture_is_the_real_shaped_overlay_over_the_desktop(rendered, qapp):
    out, runs = rendered
    [run_dir] = (runs / "overlay").iterdir()
    run = load_run(run_dir)
    step = run.steps[0]
    shot, selection, action = run.screenshot(step), step.selection, step.action
    assert shot is not None and selection is not None and action is not None
    desktop = np.asarray(shot.convert("RGB"))
    # the agent captured the real screen: the desktop window, pixel for pixel, no overlay in it
    assert np.array_equal(desktop, np.asarray(Image.open(CHROMIUM).convert("RGB")))
    picture = np.asarray(Image.open(out / "overlay.png").convert("RGB"))
    assert picture.shape == desktop.shape
    height, width = desktop.shape[:2]

    dots = region_mask(dots_region(selection, (width, height)), (width, height))
    points = tuple((int(p.x), int(p.y)) for p in points_of(action).values())
    marker = region_mask(marker_shape(points), (width, height))
    changed = (picture != desktop).any(axis=-1)
    hud_pixels = np.argwhere(is_color(picture, HUD_BACKGROUND) & changed)
    assert len(hud_pixels), "no HUD on the picture"
    (top, left), (bottom, right) = hud_pixels.min(axis=0), hud_pixels.max(axis=0) + 1
    assert (top, right) == (HUD_MARGIN, width - HUD_MARGIN)  # the top right corner
    assert 300 < right - left < width // 2 and 40 < bottom - top < 150
    hud = np.zeros_like(dots)
    hud[top:bottom, left:right] = True

    assert not changed[~(dots | marker | hud)].any()  # the desktop's own pixels elsewhere
    assert is_color(picture, OUTLINE_COLOR)[dots & ~marker & ~hud].all()  # each kept cell
    assert is_color(picture, MARKER_COLOR)[marker].all()  # opaque: no compositor blends it
    assert points == ((90, 528),) and marker[528, 90]  # the click on "3.6. Module Path"
    assert is_color(picture[top:bottom, left:right], HUD_BACKGROUND).mean() > 0.6
    assert (picture[top:bottom, left:right] > 200).all(axis=-1).any()  # its light text
    assert 500 < selection.n_kept < selection.n_cells  # pruned: the squares are the kept cells
    # a real local model ran the step, so the HUD's stage times and saving are measured ones
    assert run.header.model == TINY_MODEL
    assert all(step.timings.get(stage, 0) > 0 for stage in ("vision", "prefill", "decode"))
    assert step.latency is not None and step.latency.measured
