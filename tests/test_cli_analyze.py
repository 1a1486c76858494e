"""`main.py analyze` as a user runs it: a real subprocess on real screenshots and bad files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from main_process import run_main
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_main(*args, timeout=300)


def test_help_lists_analyze():
    out = run_cli("--help")
    assert out.returncode == 0 and "analyze" in out.stdout


def test_analyze_reports_good_files_and_names_bad_ones(tmp_path, screenshot_paths):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(Path(screenshot_paths[0]).read_bytes()[:2000])
    missing = tmp_path / "missing.png"
    out = run_cli(
        "analyze",
        str(screenshot_paths[0]),
        str(corrupt),
        str(missing),
        str(screenshot_paths[1]),
        "--json",
        "--heatmap",
        str(tmp_path / "maps"),
    )
    assert out.returncode == 1
    rows = json.loads(out.stdout)
    assert [Path(r["file"]).name for r in rows] == [
        screenshot_paths[0].name,
        "corrupt.png",
        "missing.png",
        screenshot_paths[1].name,
    ]
    good = [rows[0], rows[3]]
    for row in good:
        assert row["error"] is None
        assert row["cells"] == (row["resized_width"] // 28) * (row["resized_height"] // 28)
        assert 0 < row["kept"] < row["cells"] and row["ms"] > 0
        with Image.open(row["heatmap"]) as heat:
            assert heat.size == (row["width"], row["height"])
    assert "not a readable image" in rows[1]["error"] and rows[2]["error"] == "no such file"
    assert "corrupt.png" in out.stderr and "missing.png" in out.stderr


def test_analyze_table_and_single_heatmap_file(tmp_path, screenshot_paths):
    target = tmp_path / "one.png"
    out = run_cli(
        "analyze",
        str(screenshot_paths[0]),
        "--family",
        "qwen3",
        "--prune",
        "pred_2d:0.02",
        "--heatmap",
        str(target),
        "--grid",
    )
    assert out.returncode == 0, out.stderr
    assert screenshot_paths[0].name in out.stdout and "kept share" in out.stdout
    assert target.exists()


def test_analyze_refuses_bad_options(screenshot_paths):
    out = run_cli("analyze", str(screenshot_paths[0]), "--prune", "global:0.1")
    assert out.returncode == 2 and "exact duplicates only" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_old_option_spelling_still_works_with_a_note(screenshot_paths):
    old = run_cli("analyze", str(screenshot_paths[0]), "--method", "raster", "--tau", "0.02")
    new = run_cli("analyze", str(screenshot_paths[0]), "--prune", "raster:0.02", "--json")
    assert old.returncode == new.returncode == 0, old.stderr
    assert "deprecated; use --prune raster:0.02" in old.stderr
    assert json.loads(new.stdout)[0]["kept"] > 0
    bad = run_cli("analyze", str(screenshot_paths[0]), "--method", "global", "--tau", "0.1")
    assert bad.returncode == 2 and "exact duplicates only" in bad.stderr
