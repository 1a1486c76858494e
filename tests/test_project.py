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


# The layers, lowest first: a module imports only from its own layer or lower ones (data flows
# capture → prune → model → parse → act → overlay; settings and records sit below the loop).
LAYERS = [
    ("pixelprune",),
    ("agent.errors", "agent.secrets", "agent.latency", "agent.wording"),
    ("agent.actions", "agent.models"),
    ("agent.coords", "agent.messages", "agent.hotkey", "agent.clipboard"),
    ("agent.capture", "agent.executor", "agent.wayland"),
    (
        "agent.settings",
        "agent.desktop",
        "agent.preflight",
        "agent.parsers",
        "agent.backends",
        "agent.records",
    ),
    ("agent.events", "agent.trajectory"),
    ("agent.loop",),
    ("agent.server", "agent.commands"),
    ("ui",),
    ("tools",),
    ("main",),
]
# tools that are PixelPrune alone (reports on images): no agent, model or GUI code
PURE_TOOLS = ("tools.analyze", "tools.report", "tools.report_data", "tools.report_pages")


def layer_of(module: str) -> int | None:
    if module == "agent":  # the package's lazy facade (Agent, LocalVLM, ...): the top of agent/
        module = "agent.commands"
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return None


def project_modules() -> dict[str, Path]:
    paths = [ROOT / "main.py"]
    for package in ("pixelprune", "agent", "ui", "tools"):
        paths += sorted((ROOT / package).rglob("*.py"))
    modules = {}
    for path in paths:
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def project_imports(path: Path) -> set[str]:
    """Every project module `path` imports (`from agent import actions` counts as
    agent.actions), function-level imports included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if layer_of(name) is not None}


@pytest.mark.parametrize("module", sorted(project_modules()))
def test_no_import_reaches_up_a_layer(module):
    path, rank = project_modules()[module], layer_of(module)
    assert rank is not None, f"{module} is in no layer: add it to LAYERS"
    above = sorted(name for name in project_imports(path) if layer_of(name) > rank)
    assert not above, f"{module} (layer {rank}) imports from higher layers: {above}"


@pytest.mark.parametrize("module", sorted(project_modules()))
def test_parsers_and_backends_share_only_neutral_modules(module):
    """Prompts, past steps and model ids live in agent.messages / agent.models."""
    imports = project_imports(project_modules()[module])
    for own, other in (("agent.parsers", "agent.backends"), ("agent.backends", "agent.parsers")):
        if module.startswith(own):
            assert not [name for name in imports if name.startswith(other)], module


@pytest.mark.parametrize("module", PURE_TOOLS)
def test_the_image_reports_use_pixelprune_alone(module):
    imports = project_imports(project_modules()[module])
    assert not [name for name in imports if name.startswith(("agent", "ui"))], imports


@pytest.mark.parametrize("module", sorted(project_modules()))
def test_no_script_edits_sys_path(module):
    """Scripts run as `python -m tools.NAME` (or through the editable install), never by
    putting the repository on sys.path themselves."""
    tree = ast.parse(project_modules()[module].read_text())
    edits = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in ("insert", "append", "extend")
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "path"
        and isinstance(node.value.value, ast.Name)
        and node.value.value.id == "sys"
    ]
    assert not edits, f"{module} edits sys.path"


@pytest.mark.parametrize("module", sorted(project_modules()))
def test_nothing_of_the_product_imports_a_development_script(module):
    """`tools.dev` (generators, load test) may use the product; the product never uses it."""
    if module.startswith("tools.dev"):
        return
    imports = project_imports(project_modules()[module])
    assert not [name for name in imports if name.startswith("tools.dev")], module


def test_every_command_is_registered_once_and_is_no_development_script():
    import main

    modules = [module for module, _ in main.COMMANDS.values()]
    assert len(set(modules)) == len(modules)
    for module in modules:
        assert module in project_modules() and not module.startswith("tools.dev"), module
        source = project_modules()[module].read_text()
        assert "def add_arguments(" in source and "def run(" in source, module
        # -v/--verbose is main.py's, for every command alike
        assert '"--verbose"' not in source, module
