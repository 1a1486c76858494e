"""Render the documentation's pictures of the UIs (docs/<name>.png) from realistic runs.

    python -m tools.dev.make_ui_screenshots            # every picture
    python -m tools.dev.make_ui_screenshots viewer     # only these
    python -m tools.dev.make_ui_screenshots --out /tmp/pictures

Each entry of `SCREENSHOTS` renders one picture into the folder it is given and returns its
path; a new UI adds one function and one line. Windows render on Qt's offscreen platform in a
process of their own (through their command's non-interactive flag, e.g. `main.py view
--screenshot`), so no display is needed and every picture starts from a fresh Qt. Pictures over
`MAX_BYTES` are reduced to 256 colours: they live in the repository.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]

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


def app(out_dir: Path) -> Path:
    """The control app after its built-in scripted dry-run demo on an xterm desktop."""
    out = out_dir / "app.png"
    demo = ROOT / "tests" / "data" / "desktop-xterm-1920x1080.png"
    with tempfile.TemporaryDirectory() as runs:
        _render(["app", "--demo", str(demo), "--runs-dir", runs, "--screenshot", str(out)])
    return out


def overlay(out_dir: Path) -> Path:
    """The overlay over a Chromium window, as a compositing desktop blends it.

    The events are those of a real recorded run (scripted model, pruned); the overlay draws them
    on Qt's offscreen platform and its picture is blended over that step's screenshot.
    """
    out = out_dir / "overlay.png"
    with tempfile.TemporaryDirectory() as runs:
        run_dir = _scripted_run(
            "open the Module Path section of the Python policy", VIEWER_SCRIPT, Path(runs)
        )
        subprocess.run(
            [sys.executable, __file__, "--overlay-of", str(run_dir), str(out)],
            check=True,
            cwd=ROOT,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        )
    return out


def _overlay_picture(run_dir: Path, out: Path) -> None:
    """Feed step 1 of a recorded run to a translucent overlay; blend it over the screenshot."""
    from PyQt6.QtWidgets import QApplication

    from agent.capture import Screenshot
    from agent.events import ActionProposed, ScreenCaptured, StepFinished
    from agent.trajectory import load_run
    from ui.overlay import Overlay, OverlayConfig

    application = QApplication([])
    run = load_run(run_dir)
    record = run.steps[0]
    shot, selection = run.screenshot(record), record.selection
    frame, action = record.frame, record.action
    if shot is None or selection is None or frame is None or action is None:
        raise RuntimeError(f"{run_dir}: the demo run's first step lacks its screenshot or mask")
    screenshot = shot.convert("RGB")
    view = Overlay(OverlayConfig(translucent=True, heatmap_hotkey=None, hud_hotkey=None))
    view.on_event(ScreenCaptured(1, Screenshot(screenshot, frame.monitor, 0.0), selection, frame))
    view.on_event(ActionProposed(1, action, frame))
    view.on_event(StepFinished(record))
    picture = view.render_picture()
    picture.save(str(out.with_suffix(".layer.png")))
    layer = Image.open(out.with_suffix(".layer.png")).convert("RGBA")
    Image.alpha_composite(screenshot.convert("RGBA"), layer).convert("RGB").save(out)
    out.with_suffix(".layer.png").unlink()
    application.quit()


SCREENSHOTS: dict[str, Callable[[Path], Path]] = {"viewer": viewer, "app": app, "overlay": overlay}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--overlay-of"]:  # the overlay's own process (see `overlay`)
        _overlay_picture(Path(argv[1]), Path(argv[2]))
        return 0
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
