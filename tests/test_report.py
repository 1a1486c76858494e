"""`main.py report` on a small folder: two real screenshots and three files that are not images."""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image

import main
from pixelprune import METHODS, resize_for_model, select
from tools.report_plots import PLOT_FILES

DATA = Path(__file__).parent / "data"
ODD_NAME = "a&b <c>.png"  # must come out escaped in HTML and Markdown
SCREENS = {
    "desktop-xterm-1920x1080.png": "desktop-xterm-1920x1080.png",
    f"sub/{ODD_NAME}": "chromium-xterm-faq-1920x1080.png",
}
TAUS = (0.0, 0.05)


def run_report(*argv: str) -> tuple[int, str, str]:
    """main.main in this process (fast: imports are shared), with its stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv[:]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main.main(["report", *argv])
    except SystemExit as stop:  # argparse's usage errors
        code = stop.code
    finally:
        sys.argv[:] = saved
    return code, out.getvalue(), err.getvalue()


def make_folder(root: Path) -> Path:
    folder = root / "shots"
    for name, source in SCREENS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DATA / source, folder / name)
    (folder / "corrupt.png").write_bytes(b"\x00garbage, not a PNG\xff" * 50)
    whole = (DATA / "desktop-xterm-1920x1080.png").read_bytes()
    (folder / "truncated.png").write_bytes(whole[: len(whole) // 3])
    (folder / "notes.txt").write_text("not an image, and not an image extension either")
    return folder


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    """One full report (every method, τ 0 and 0.05), shared by the tests that read it."""
    root = tmp_path_factory.mktemp("report")
    folder, out = make_folder(root), root / "out"
    code, stdout, stderr = run_report(
        str(folder),
        "--out",
        str(out),
        "--prune",
        "pred_2d:0",
        "pred_2d:0.05",
        "raster",
        "serpentine",
        "random",
        "conncomp",
        "global",
    )
    return {"folder": folder, "out": out, "code": code, "stdout": stdout, "stderr": stderr}


def read_csv(out: Path) -> list[dict[str, str]]:
    with (out / "results.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_report_writes_every_output(reported):
    out = reported["out"]
    assert reported["code"] == 0, reported["stderr"]
    assert "report.md" in reported["stdout"] and "2 images" in reported["stdout"]
    for name in ("report.md", "report.html", "results.csv", "summary.json"):
        assert (out / name).stat().st_size > 0
    for file in PLOT_FILES.values():
        with Image.open(out / file) as plot:
            pixels = np.asarray(plot.convert("RGB"))
        assert pixels.shape[0] > 200 and pixels.shape[1] > 300
        packed = (pixels.astype(np.uint32) << np.array([16, 8, 0], np.uint32)).sum(axis=2)
        assert len(np.unique(packed)) > 20, f"{file} looks blank"
        assert (pixels < 128).mean() > 0.005, f"{file} has almost no dark ink (text, axes)"


def test_results_csv_has_every_combination_and_matches_select(reported):
    rows = read_csv(reported["out"])
    expected = set(itertools.product(sorted(SCREENS), METHODS, TAUS))
    assert len(rows) == len(expected)
    assert {(r["file"], r["method"], float(r["tau"])) for r in rows} == expected
    for row in rows:
        if row["method"] == "global" and float(row["tau"]) > 0:
            assert row["kept_share"] == "" and "exact duplicates only" in row["note"]
        else:
            assert 0 < float(row["kept_share"]) < 1 and float(row["select_ms"]) > 0
    checked = [
        (f"sub/{ODD_NAME}", "pred_2d", 0.05),
        ("desktop-xterm-1920x1080.png", "conncomp", 0.0),
        ("desktop-xterm-1920x1080.png", "random", 0.05),
    ]
    for file, method, tau in checked:
        row = next(
            r for r in rows if (r["file"], r["method"], float(r["tau"])) == (file, method, tau)
        )
        with Image.open(reported["folder"] / file) as image:
            resized = resize_for_model(image.convert("RGB"), "qwen2.5")
        selection = select(resized, cell=28, method=method, tau=tau, metric="max", seed=0)
        assert int(row["cells"]) == selection.n_cells
        assert int(row["kept"]) == selection.n_kept
        assert float(row["kept_share"]) == pytest.approx(selection.kept_share, abs=1e-12)
        assert (int(row["resized_height"]), int(row["resized_width"])) == resized.shape[:2]


def test_unreadable_files_are_listed_as_skipped_with_a_reason(reported):
    summary = json.loads((reported["out"] / "summary.json").read_text())
    skipped = {s["file"]: s["reason"] for s in summary["skipped"]}
    assert set(skipped) == {"corrupt.png", "truncated.png"}  # notes.txt is not an image name
    assert "cannot identify image file" in skipped["corrupt.png"]
    assert "truncated" in skipped["truncated.png"]
    for name in skipped:
        assert f"skipped: {name}: not a readable image" in reported["stderr"]
    markdown = (reported["out"] / "report.md").read_text()
    assert "| corrupt.png | not a readable image" in markdown
    assert "notes.txt" not in markdown


def test_summary_rows_agree_with_the_csv(reported):
    out = reported["out"]
    markdown = (out / "report.md").read_text()
    rows = read_csv(out)
    for method, tau in itertools.product(METHODS, TAUS):
        shares = [
            float(r["kept_share"])
            for r in rows
            if r["method"] == method and float(r["tau"]) == tau and r["kept_share"]
        ]
        escaped = method.replace("_", "\\_")
        if not shares:
            assert f"| {escaped} | {tau:g} | 0 | n/a |" in markdown
            continue
        median = f"{np.median(shares):.1%}"
        assert f"| {escaped} | {tau:g} | {len(shares)} | {median} |" in markdown
    assert "OCRBench 66.1%" in markdown and "not measured here" in markdown
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["summary"]) == len(METHODS) * len(TAUS)


def test_pages_escape_file_names_and_link_existing_files(reported):
    out = reported["out"]
    page = (out / "report.html").read_text()
    assert "a&amp;b &lt;c&gt;.png" in page and ODD_NAME not in page
    markdown = (out / "report.md").read_text()
    assert "a\\&b \\<c\\>.png" in markdown
    links = [part.split('"')[0] for part in page.split('src="')[1:]]
    links += [part.split('"')[0] for part in page.split('href="')[1:]]
    assert len(links) == len(PLOT_FILES) + len(SCREENS)
    for link in links:
        assert (out / unquote(link)).is_file(), link
    summary = json.loads((out / "summary.json").read_text())
    for image in summary["per_image"]:
        with Image.open(out / image["heatmap"]) as heat:
            assert heat.width == min(1280, image["width"])
            assert heat.height == round(image["height"] * heat.width / image["width"])


def test_output_inside_the_images_folder_is_not_reported_again(tmp_path):
    folder = tmp_path / "shots"
    folder.mkdir()
    shutil.copy(DATA / "desktop-xterm-1920x1080.png", folder / "one.png")
    argv = [str(folder), "--out", str(folder / "report"), "--prune", "pred_2d"]
    for _ in range(2):
        code, stdout, stderr = run_report(*argv, "--repeat", "1")
        assert code == 0 and "1 image," in stdout, stderr


def test_no_heatmaps_writes_none_and_links_none(tmp_path):
    folder, out = tmp_path / "shots", tmp_path / "out"
    folder.mkdir()
    shutil.copy(DATA / "desktop-xterm-1920x1080.png", folder / "one.png")
    argv = [str(folder), "--out", str(out), "--prune", "pred_2d"]
    code, _, stderr = run_report(*argv, "--repeat", "1", "--no-heatmaps")
    assert code == 0, stderr
    assert not (out / "heatmaps").exists()
    page = (out / "report.md").read_text(encoding="utf-8")
    assert "heatmaps/" not in page and "No heatmaps were written" in page
    assert (out / "plots" / "kept_share.png").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--repeat", "0"], "--repeat must be at least 1"),
        (["--prune", "pred_2d:0:mae", "raster:0.02"], "a report uses one metric"),
    ],
)
def test_bad_options_exit_2_with_one_line(tmp_path, argv, message):
    folder = make_folder(tmp_path)
    code, stdout, stderr = run_report(str(folder), "--out", str(tmp_path / "out"), *argv)
    assert code == 2 and stdout == ""
    assert stderr.startswith("error: ") and message in stderr and stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--prune", "pred_2d:abc"], "is not a number"),
        (["--prune", "pred_2d:-1"], "tau must be between 0 and 1"),
        (["--prune", "pred_2d:1.5"], "tau must be between 0 and 1"),
        (["--prune", "nope"], "unknown method 'nope'"),
        (["--prune", "global:0.05"], "exact duplicates only"),
    ],
)
def test_a_bad_spec_is_a_usage_error(tmp_path, argv, message):
    folder = make_folder(tmp_path)
    code, stdout, stderr = run_report(str(folder), "--out", str(tmp_path / "out"), *argv)
    assert code == 2 and stdout == "" and message in stderr and "Traceback" not in stderr
    assert not (tmp_path / "out").exists()


def test_the_old_grid_options_still_work_with_a_note(tmp_path):
    folder, out = tmp_path / "shots", tmp_path / "out"
    folder.mkdir()
    shutil.copy(DATA / "desktop-xterm-1920x1080.png", folder / "one.png")
    argv = ["--methods", "pred_2d,global", "--taus", "0,0.05", "--json", str(tmp_path / "s.json")]
    code, _, stderr = run_report(str(folder), "--out", str(out), "--repeat", "1", *argv)
    assert code == 0, stderr
    assert "use --prune pred_2d:0 pred_2d:0.05 global:0\n" in stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["methods"] == ["pred_2d", "global"] and summary["taus"] == [0.0, 0.05]
    assert summary == json.loads((out / "summary.json").read_text())


def test_missing_or_empty_folder_exits_2(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    for folder, message in [
        (tmp_path / "missing", "no such folder"),
        (tmp_path / "empty", "no image files"),
        (tmp_path / "empty" / "notes.txt", "not a folder"),
    ]:
        code, _, stderr = run_report(str(folder), "--out", str(tmp_path / "out"))
        assert code == 2 and stderr.startswith("error: ") and message in stderr


def test_folder_of_unreadable_images_exits_1(tmp_path):
    folder = make_folder(tmp_path)
    for name in SCREENS:
        (folder / name).unlink()
    code, stdout, stderr = run_report(str(folder), "--out", str(tmp_path / "out"))
    assert code == 1 and stdout == ""
    assert "error: none of the 2 image files" in stderr
    assert "skipped: corrupt.png" in stderr and "skipped: truncated.png" in stderr
    assert "Traceback" not in stderr
