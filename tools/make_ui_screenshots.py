"""Render the documentation's pictures of the UIs (docs/<name>.png) from realistic runs.

    python tools/make_ui_screenshots.py            # every picture
    python tools/make_ui_screenshots.py viewer     # only these
    python tools/make_ui_screenshots.py --out /tmp/pictures

Each entry of `SCREENSHOTS` renders one picture into the folder it is given and returns its
path; a new UI adds one function and one line. Windows render on Qt's offscreen platform in a
process of their own (through their command's non-interactive flag, e.g. `main.py view
--screenshot`), so no display is needed and every picture starts from a fresh Qt. Pictures over
`MAX_BYTES` are reduced to 256 colours: they live in the repository.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MAX_BYTES = 300_000
WINDOW_SIZE = "1400x900"
CHROMIUM = ROOT / "tests" / "data" / "window-chromium-1920x1080.png"
# the scripted model's answers: a first answer without an action (so the picture shows a failed
# attempt), then a click on "3.6. Module Path" in the page's table of contents, then done
VIEWER_SCRIPT = [
    "The table of contents lists the module path section on the left.",
    "Thought: The section on module paths is linked from the table of contents; open it.\n"
    "Action: click(start_box='(91,534)')",
    "Thought: The module path section is open.\nAction: finished(content='opened 3.6')",
]


def viewer(out_dir: Path) -> Path:
    """The trajectory viewer on step 1 of a pruned, scripted run on a Chromium window."""
    out = out_dir / "viewer.png"
    with tempfile.TemporaryDirectory() as runs:
        run_dir = _scripted_run(
            "open the Module Path section of the Python policy", VIEWER_SCRIPT, Path(runs)
        )
        _render(["view", str(run_dir), "--step", "1", "--screenshot", str(out)])
    return out


SCREENSHOTS: dict[str, Callable[[Path], Path]] = {"viewer": viewer}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "names", nargs="*", help=f"pictures to render: {', '.join(SCREENSHOTS)} (default: all)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for the PNGs")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in SCREENSHOTS]
    if unknown:
        parser.error(f"no picture named {', '.join(unknown)}; choose from {', '.join(SCREENSHOTS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.names or list(SCREENSHOTS):
        try:
            path = _shrink(SCREENSHOTS[name](args.out))
        except (OSError, subprocess.CalledProcessError) as error:
            print(f"error: cannot render {name}: {error}", file=sys.stderr)
            return 2
        print(f"{name}: {path} ({path.stat().st_size // 1024} KB)")
    return 0


def _scripted_run(task: str, outputs: list[str], runs: Path) -> Path:
    """Record a real run of the agent loop: the scripted model on a still screenshot, pruned.

    The loop runs in dry-run mode, so nothing on this desktop is touched.
    """
    from agent.backends.base import PruneConfig
    from agent.backends.scripted import ScriptedBackend
    from agent.capture import Screenshot
    from agent.coords import Monitor
    from agent.loop import Agent

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
    return Path(agent.run(task).run_dir)


def _render(command: list[str]) -> None:
    """Run `main.py COMMAND ... --screenshot OUT` at the documentation's window size."""
    subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *command, "--size", WINDOW_SIZE],
        check=True,
        cwd=ROOT,
    )


def _shrink(path: Path) -> Path:
    """Reduce a picture over MAX_BYTES to 256 colours (screenshots of UIs stay legible)."""
    if path.stat().st_size > MAX_BYTES:
        image = Image.open(path).convert("RGB")
        image.quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
