"""Project rules that code review alone would let slip: layout, package purity, no torchvision."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_layout_exists():
    for name in (
        "agent",
        "pixelprune",
        "ui",
        "tools",
        "tests",
        "main.py",
        "pyproject.toml",
        "README.md",
        ".ci/run",
    ):
        assert (ROOT / name).exists(), name


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", sorted((ROOT / "pixelprune").glob("*.py")), ids=lambda p: p.name)
def test_pixelprune_stays_pure(path):
    # Selectors, stats and heatmaps: arrays in, Selection out. No GUI, agent or model code.
    forbidden = {"agent", "ui", "tools", "PyQt6", "transformers", "torch", "mss", "pyautogui"}
    assert not imported_roots(path) & forbidden


def test_torchvision_is_absent():
    # torchvision beside this torch breaks transformers' Qwen imports; the PIL processors are used.
    assert importlib.util.find_spec("torchvision") is None
