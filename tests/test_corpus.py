"""The committed screenshot corpus (tests/data/corpus) and the tool that renders it."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tools.dev import make_corpus

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "corpus"
SIZES = {(1920, 1080), (2560, 1440)}


@pytest.fixture(scope="module")
def manifest() -> list[dict]:
    return json.loads((CORPUS / "manifest.json").read_text())


@pytest.fixture(scope="module")
def pixels(manifest) -> dict[str, np.ndarray]:
    return {
        entry["file"]: np.asarray(Image.open(CORPUS / entry["file"]).convert("RGB"))
        for entry in manifest
    }


def test_manifest_covers_every_kind_at_both_sizes(manifest):
    assert len(manifest) >= 20
    assert {entry["kind"] for entry in manifest} == set(make_corpus.KINDS)
    assert {(entry["width"], entry["height"]) for entry in manifest} == SIZES
    sizes_by_scene: dict[str, set] = {}
    for entry in manifest:
        sizes_by_scene.setdefault(entry["scene"], set()).add((entry["width"], entry["height"]))
    assert len(sizes_by_scene) >= 20
    assert all(sizes == SIZES for sizes in sizes_by_scene.values())


def test_manifest_matches_the_scenes_and_the_folder(manifest):
    for entry in manifest:
        scene = make_corpus.SCENES[entry["scene"]]
        assert entry["kind"] == scene.kind
        assert entry["description"] == scene.description
        assert entry["file"] == f"{entry['scene']}-{entry['width']}x{entry['height']}.png"
    assert sorted(entry["file"] for entry in manifest) == sorted(
        path.name for path in CORPUS.glob("*.png")
    )


def test_every_image_is_a_png_of_its_stated_size(manifest):
    for entry in manifest:
        with Image.open(CORPUS / entry["file"]) as image:
            assert image.format == "PNG"
            assert image.size == (entry["width"], entry["height"])


def test_images_show_windows_not_a_flat_screen(manifest, pixels):
    wallpaper = np.array([(make_corpus.WALLPAPER >> shift) & 255 for shift in (16, 8, 0)])
    for entry in manifest:
        image = pixels[entry["file"]]
        assert_many_colours(image, entry["file"])
        off_wallpaper = np.any(image != wallpaper, axis=-1).mean()
        assert off_wallpaper > 0.05, entry["file"]  # windows cover the screen, not the panel only


def test_no_two_images_are_identical(manifest, pixels):
    digests = {hashlib.sha256(pixels[entry["file"]].tobytes()).hexdigest() for entry in manifest}
    assert len(digests) == len(manifest)


def test_corpus_stays_small():
    assert sum(path.stat().st_size for path in CORPUS.glob("*.png")) < 15e6


def test_renders_a_terminal_and_a_qt_dialog(tmp_path):
    """A real run of the tool: two scenes on private Xvfb displays, into an empty folder."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.dev.make_corpus",
            "--out",
            str(tmp_path),
            "--only",
            "terminal-ls",
            "qt-file-dialog",
            "--sizes",
            "1920x1080",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,  # `-m tools.dev.make_corpus` from this tree
    )
    assert result.returncode == 0, result.stderr
    entries = json.loads((tmp_path / "manifest.json").read_text())
    assert [(entry["file"], entry["kind"]) for entry in entries] == [
        ("terminal-ls-1920x1080.png", "terminal"),
        ("qt-file-dialog-1920x1080.png", "qt-dialog"),
    ]
    for entry in entries:
        image = np.asarray(Image.open(tmp_path / entry["file"]).convert("RGB"))
        assert image.shape == (1080, 1920, 3)
        assert_many_colours(image, entry["file"])


def test_missing_program_names_the_package_and_install_script(tmp_path, monkeypatch, capsys):
    real_which = make_corpus.shutil.which
    monkeypatch.setattr(
        make_corpus.shutil, "which", lambda name: None if name == "xcalc" else real_which(name)
    )
    out = tmp_path / "corpus"
    assert make_corpus.main(["--out", str(out), "--only", "calculator-xcalc"]) == 2
    error = capsys.readouterr().err
    assert "xcalc is not installed" in error
    assert "x11-apps" in error and "tools/install.sh" in error
    assert not out.exists()


def test_unknown_scene_and_bad_size_are_refused(tmp_path, capsys):
    assert make_corpus.main(["--out", str(tmp_path), "--only", "no-such-scene"]) == 2
    assert "unknown scene(s) no-such-scene" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        make_corpus.main(["--sizes", "1920by1080"])
    assert "not a screen size" in capsys.readouterr().err


def test_manifest_update_keeps_other_scenes_and_drops_missing_files(tmp_path):
    old = [
        {"file": name, "scene": scene, "kind": "terminal", "width": 1920, "height": 1080}
        for name, scene in (
            ("terminal-ls-1920x1080.png", "terminal-ls"),
            ("terminal-man-1920x1080.png", "terminal-man"),
            ("editor-xedit-1920x1080.png", "editor-xedit"),
        )
    ]
    (tmp_path / "manifest.json").write_text(json.dumps(old))
    for name in ("terminal-ls-1920x1080.png", "editor-xedit-1920x1080.png"):
        (tmp_path / name).write_bytes(b"")  # terminal-man's file is gone
    fresh = {**old[2], "description": "re-rendered"}
    make_corpus.write_manifest(tmp_path, [fresh])
    entries = json.loads((tmp_path / "manifest.json").read_text())
    assert entries == [old[0], fresh]  # scene order: terminals before editors


def assert_many_colours(image: np.ndarray, name: str) -> None:
    """Text, icons and widgets give hundreds of colours, none covering nearly all the screen."""
    packed = image.astype(np.uint32) @ np.array([1 << 16, 1 << 8, 1], dtype=np.uint32)
    _, counts = np.unique(packed, return_counts=True)
    assert len(counts) >= 500, name
    assert counts.max() / packed.size < 0.95, name
