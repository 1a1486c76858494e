"""Render every picture of the documentation (README.md, docs/*.md) from today's code.

    python -m tools.dev.make_ui_screenshots                      # every picture, into docs/
    python -m tools.dev.make_ui_screenshots overlay viewer       # only these
    python -m tools.dev.make_ui_screenshots --out /tmp/pictures --runs /tmp/runs

Each entry of `PICTURES` makes its files through the product's own commands and code, and
lists them (relative to the output folder), so tests/test_docs_pictures.py can check that every
picture the pages show has an entry. `app` and `viewer` render their windows on Qt's offscreen
platform through their commands' `--screenshot`; `overlay` photographs the real overlay on a
private Xvfb display with openbox and no compositor (tools/dev/overlay_picture.py); the heatmaps
come from `main.py analyze --heatmap` and `main.py report`, and `corpus-report` is
`main.py report tests/data/corpus --no-heatmaps` (about 15 s of the whole set's 30-40 s on two
cores). Pictures over `MAX_BYTES` are reduced to 256 colours: they live in the repository.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from tools.xvfb import qt_on_x11, virtual_display

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"

MAX_BYTES = 300_000
WINDOW_SIZE = "1400x900"
CHROMIUM = DATA / "window-chromium-1920x1080.png"
CORPUS = Path("tests/data/corpus")  # relative: the report names the folder as given
PLOTS = ("distribution", "kept_share", "kept_share_vs_tau", "select_ms")  # tools/report_plots
CHILD_SECONDS = 180  # bounds a hung child process; each takes seconds
# the scripted model's answers in the runs the viewer and overlay pictures show: a first answer
# without an action (so the viewer shows a failed attempt), then a click on "3.6. Module Path"
# in the page's table of contents, then done
DEMO_TASK = "open the Module Path section of the Python policy"
DEMO_SCRIPT = [
    "The table of contents lists the module path section on the left.",
    "Thought: The section on module paths is linked from the table of contents; open it.\n"
    "Action: click(start_box='(91,534)')",
    "Thought: The module path section is open.\nAction: finished(content='opened 3.6')",
]


@dataclass(frozen=True)
class Picture:
    """One entry: `make(out_dir, runs_dir)` writes `files` (relative to out_dir)."""

    make: Callable[[Path, Path], None]
    files: tuple[str, ...]


def viewer(out_dir: Path, runs: Path) -> None:
    """The trajectory viewer on step 1 of a pruned, scripted run on a Chromium window."""
    run_dir = _scripted_run(DEMO_TASK, DEMO_SCRIPT, runs / "viewer")
    picture = str(out_dir / "viewer.png")
    _main_py("view", str(run_dir), "--step", "1", "--screenshot", picture, "--size", WINDOW_SIZE)


def app(out_dir: Path, runs: Path) -> None:
    """The control app after its built-in scripted dry-run demo on an xterm desktop."""
    demo, picture = DATA / "desktop-xterm-1920x1080.png", str(out_dir / "app.png")
    options = ["--runs-dir", str(runs / "app"), "--screenshot", picture, "--size", WINDOW_SIZE]
    _main_py("app", "--demo", str(demo), *options)


def overlay(out_dir: Path, runs: Path) -> None:
    """The real overlay over a Chromium window during a real agent run, on a desktop without a
    compositor: a private Xvfb (openbox as window manager) the size of the Chromium screenshot,
    photographed by tools/dev/overlay_picture.py running on it."""
    with Image.open(CHROMIUM) as image:
        width, height = image.size
    with virtual_display(width, height) as env:
        command = ["-m", "tools.dev.overlay_picture", str(out_dir / "overlay.png")]
        subprocess.run(
            [sys.executable, *command, "--runs", str(runs / "overlay")],
            check=True,
            cwd=ROOT,
            env=qt_on_x11(env),
            timeout=CHILD_SECONDS,
        )


def analyze_heatmap(source: Path, name: str, out_dir: Path, runs: Path) -> None:
    """`main.py analyze SOURCE --heatmap NAME`: the kept cells of pred_2d at τ=0, full size."""
    _main_py("analyze", str(source.relative_to(ROOT)), "--heatmap", str(out_dir / name))


def report_heatmap(source: Path, name: str, out_dir: Path, runs: Path) -> None:
    """The heatmap `main.py report` writes for SOURCE (1280 px wide), from a report on it alone."""
    with tempfile.TemporaryDirectory(prefix="docs-report-") as work:
        images = Path(work) / "images"
        images.mkdir()
        shutil.copyfile(source, images / source.name)
        report = Path(work) / "report"
        _main_py("report", str(images), "--prune", "pred_2d", "--repeat", "1", "--out", str(report))
        shutil.copyfile(report / "heatmaps" / f"001-{source.name}", out_dir / name)


def corpus_report(out_dir: Path, runs: Path) -> None:
    """The committed compression report: `main.py report tests/data/corpus --no-heatmaps`."""
    _main_py("report", str(CORPUS), "--out", str(out_dir / "corpus-report"), "--no-heatmaps")


def _heatmap(make: Callable[..., None], source: Path, name: str) -> Picture:
    """An entry that makes the heatmap NAME of SOURCE with `make` (analyze's or report's)."""
    return Picture(functools.partial(make, source, name), (name,))


PICTURES: dict[str, Picture] = {
    "app": Picture(app, ("app.png",)),
    "viewer": Picture(viewer, ("viewer.png",)),
    "overlay": Picture(overlay, ("overlay.png",)),
    "heatmap-desktop-xterm": _heatmap(
        analyze_heatmap, DATA / "desktop-xterm-1920x1080.png", "heatmap-desktop-xterm.png"
    ),
    "heatmap-xterm-faq": _heatmap(
        analyze_heatmap, DATA / "chromium-xterm-faq-1920x1080.png", "heatmap-xterm-faq.png"
    ),
    "heatmap-corpus-desktop-tools": _heatmap(
        report_heatmap,
        ROOT / CORPUS / "desktop-tools-1920x1080.png",
        "heatmap-corpus-desktop-tools.png",
    ),
    "corpus-report": Picture(
        corpus_report, tuple(f"corpus-report/plots/{plot}.png" for plot in PLOTS)
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "names", nargs="*", help=f"pictures to render: {', '.join(PICTURES)} (default: all)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for the PNGs")
    parser.add_argument(
        "--runs", type=Path, help="keep the recorded agent runs here (default: thrown away)"
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in PICTURES]
    if unknown:
        parser.error(f"no picture named {', '.join(unknown)}; choose from {', '.join(PICTURES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="docs-runs-") as scratch:
        runs = Path(scratch) if args.runs is None else args.runs.resolve()
        for name in args.names or list(PICTURES):
            try:
                written = render(PICTURES[name], args.out.resolve(), runs)
            except (OSError, RuntimeError, subprocess.SubprocessError) as error:
                print(f"error: cannot render {name}: {_describe(error)}", file=sys.stderr)
                return 2
            for path in written:
                print(f"{name}: {path} ({path.stat().st_size // 1024} KB)")
    return 0


def render(picture: Picture, out_dir: Path, runs: Path) -> list[Path]:
    """Make one entry's files and shrink them; an entry that misses a file it lists fails."""
    picture.make(out_dir, runs)
    paths = [out_dir / file for file in picture.files]
    if missing := [str(path) for path in paths if not path.is_file()]:
        raise RuntimeError(f"not written: {', '.join(missing)}")
    return [_shrink(path) for path in paths]


def _scripted_run(task: str, outputs: list[str], runs: Path) -> Path:
    """Record a real run of the agent loop: the scripted model on a still screenshot, pruned.

    The loop runs in dry-run mode, so nothing on this desktop is touched.
    """
    from agent.backends.scripted import ScriptedBackend
    from agent.capture import Screenshot
    from agent.coords import Monitor
    from agent.loop import Agent
    from pixelprune import PruneConfig

    image = Image.open(CHROMIUM).convert("RGB")
    monitor = Monitor(0, 0, image.width, image.height)

    class StillScreen:
        def grab(self) -> Screenshot:
            return Screenshot(image.copy(), monitor, 0.012)

    agent = Agent(
        ScriptedBackend(outputs),
        screen_capture=StillScreen(),
        mode="dry-run",
        kill_hotkey=None,
        parser="uitars",
        prune=PruneConfig(),
        record_to=str(runs),
    )
    folder = agent.run(task).run_dir
    if folder is None:
        raise RuntimeError("the demo run recorded no run folder")
    return Path(folder)


def _main_py(*command: str) -> None:
    """Run `main.py COMMAND ...` from the repository root (paths in its output stay relative)."""
    subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *command],
        check=True,
        cwd=ROOT,
        timeout=CHILD_SECONDS,
    )


def _describe(error: BaseException) -> str:
    """One line: a failed child is named by its command (its own output says why, above)."""
    if isinstance(error, subprocess.CalledProcessError):
        return f"{_command_name(error.cmd)} exited with status {error.returncode}"
    if isinstance(error, subprocess.TimeoutExpired):
        return f"{_command_name(error.cmd)} ran over {error.timeout:.0f} s"
    return str(error)


def _command_name(command: object) -> str:
    words = [str(word) for word in command] if isinstance(command, list) else [str(command)]
    return " ".join(Path(word).name if "/" in word else word for word in words[1:3])


def _shrink(path: Path) -> Path:
    """Reduce a picture over MAX_BYTES to 256 colours (screenshots of UIs stay legible)."""
    if path.stat().st_size > MAX_BYTES:
        image = Image.open(path).convert("RGB")
        image.quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
