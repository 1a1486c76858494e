"""Command-line entry of the PixelPrune GUI-agent runtime.

    python main.py --help
    python main.py analyze screenshot.png --heatmap out.png
    python main.py pull                          # the default model, into the HF cache
    python main.py run task.toml
    python main.py replay runs/20261127-210405-open-settings
    python main.py view runs/20261127-210405-open-settings
    python main.py app
    python main.py report tests/data/corpus --out report
    python main.py eval-grounding screenspot/ --model ByteDance-Seed/UI-TARS-1.5-7B
    python main.py bench
    python main.py serve --model ByteDance-Seed/UI-TARS-1.5-7B --port 8000

This is the one registry of commands. Each lives in its own module (`add_arguments(parser)`,
`run(args) -> int`), imported only when chosen, so `--help` stays fast and a command never pays
for another's imports (torch, Qt). Every command takes `-v/--verbose`; the shared options
(`--prune`, `--out DIR`, `--json FILE`) come from `pixelprune.cli`. Development scripts (test
data generators, the tiny-model builder, the load test) are not commands:
`python -m tools.dev.NAME`.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from agent.commands import setup_logging

# name → (module with add_arguments(parser) and run(args) -> int, one-line help)
COMMANDS = {
    "analyze": ("tools.analyze", "kept share, timing and heatmaps of PixelPrune on images"),
    "run": ("agent.commands.run", "run a task (text or .toml task file) on this desktop"),
    "pull": ("agent.commands.pull", "download a model into the Hugging Face cache, once"),
    "replay": ("agent.commands.replay", "re-parse a recorded run; --execute re-runs it dry"),
    "view": ("ui.commands.view", "browse a recorded run: screenshots, heatmaps, actions, timings"),
    "app": ("ui.commands.app", "the desktop app: set up, start, pause, stop and watch a run"),
    "report": (
        "tools.report",
        "compression report over a folder of images: tables, plots, heatmaps",
    ),
    "eval-grounding": (
        "tools.eval_grounding",
        "click accuracy on a ScreenSpot-format set, pruning off vs on",
    ),
    "serve": ("agent.commands.serve", "OpenAI-compatible HTTP server for the pruned local model"),
    "bench": ("tools.bench_all", "selector, model and loop-overhead benchmarks in one ratio table"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Desktop GUI agent with PixelPrune: drop pixel-duplicate patches before "
        "the vision encoder.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="log every detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, summary) in COMMANDS.items():
        command = sub.add_parser(name, help=summary, description=summary, parents=[common])
        command.set_defaults(module=module)
        if name in sys.argv[1:2]:  # only the chosen command's module is imported
            importlib.import_module(module).add_arguments(command)
    return parser


# batch commands that may hold large temporary folders: SIGTERM unwinds them like Ctrl-C, so
# their clean-up runs (the desktop commands keep their own stop paths; serve its graceful one)
UNWIND_ON_TERMINATE = {"analyze", "report", "eval-grounding", "bench", "pull", "replay"}
PROJECT_PACKAGES = {"agent", "pixelprune", "ui", "tools", "main"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    sys.argv[1:] = argv
    try:
        args = build_parser().parse_args(argv)
        setup_logging(args.verbose)
        with _terminate_unwinds(args.command in UNWIND_ON_TERMINATE):
            return int(importlib.import_module(args.module).run(args))
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] in PROJECT_PACKAGES:
            raise
        print(
            f"error: the package {error.name!r} is not installed for {sys.executable}: run "
            "tools/install.sh, then use .venv/bin/python main.py (or `. .venv/bin/activate` "
            "first, or .venv/bin/pixelprune-agent)",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


@contextmanager
def _terminate_unwinds(wanted: bool) -> Iterator[None]:
    """While the command runs, SIGTERM raises KeyboardInterrupt (main thread only); the
    previous handler is back afterwards, for a caller that runs `main()` in its own process."""
    if not wanted or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM as Ctrl-C: `with` blocks and `finally` clauses run on the way out."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    raise SystemExit(main())
