"""`python main.py run TASK`: run a task file or a task text on this desktop.

    python main.py run task.toml
    python main.py run "Open the terminal and type ls"          # UI-TARS-1.5-7B (DEFAULT_MODEL)
    python main.py run "Open the terminal and type ls" --model showlab/ShowUI-2B
    python main.py run "Click OK" --scripted outputs.json --mode dry-run
    python main.py run "Open the terminal" --server http://gpu-box:8000/v1 --api-key-env KEY_VAR

Options given on the command line override the task file (a model source given here, --model,
--server or --scripted, replaces the file's); a task text with none of them runs the default
model, offered for download like any hub id missing from the cache. The default mode is
`confirm`: every action is shown and waits for y/N on this terminal. Each step prints one line;
the run folder (screenshots, masks, outputs, timings) is under --runs-dir unless --no-record.
Exit status: 0 finished, 1 the run ended otherwise (limit, stop, rejection, unusable output), 2
bad input (task file, model, display).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from agent.backends.base import Backend
from agent.backends.model_dir import resolve_model_dir
from agent.backends.spec import open_backend
from agent.commands.model_options import add_model_arguments, given, model_settings
from agent.commands.pull import needs_download, pull
from agent.commands.terminal import Terminal
from agent.desktop import DESKTOPS, DesktopRoute, detect_desktop, open_desktop
from agent.errors import AgentError, HotkeyError, ModelNotFoundError
from agent.executor import MODES
from agent.loop import Agent, kill_hotkey_refusal
from agent.models import DEFAULT_MODEL
from agent.preflight import desktop_problem, monitor_problem
from agent.records import RunResult
from agent.secrets import redact_data
from agent.settings import RUNS_DIR, SOURCES, Settings
from pixelprune import PixelPruneError, PruneConfig
from pixelprune.cli import (
    add_json_option,
    add_out_option,
    add_prune_options,
    legacy_prune,
    write_json,
)

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="a task file (.toml) or the task text")
    add_model_arguments(parser, default_model=f"{DEFAULT_MODEL} for a task text")
    prune = parser.add_argument_group("pruning")
    add_prune_options(
        prune,
        default=None,
        what="pruning (default: the task file's, else pred_2d)",
        legacy_method="--prune-method",
    )
    limits = parser.add_argument_group("mode and limits")
    limits.add_argument("--mode", choices=MODES, help="default confirm")
    limits.add_argument("--max-steps", type=int, help="stop after this many steps (default 20)")
    limits.add_argument(
        "--max-seconds", type=float, help="stop after this long (default: no time limit)"
    )
    limits.add_argument("--history", type=int, help="earlier screenshots shown again")
    limits.add_argument("--monitor", help="monitor index (1 = first) or 'mouse'")
    limits.add_argument(
        "--desktop",
        choices=DESKTOPS,
        help="how the screen is captured and driven: x11 (mss, pyautogui), wlroots (sway and "
        "other wlroots compositors), gnome (Mutter's remote desktop); default: detected",
    )
    limits.add_argument("--kill-hotkey", help="default ctrl+shift+f12")
    limits.add_argument(
        "--no-kill-hotkey", action="store_true", help="no global stop key (dry runs, CI)"
    )
    record = parser.add_argument_group("recording")
    add_out_option(
        record,
        what=f"where run folders go (default: the task file's, else {RUNS_DIR}/)",
        aliases=("--runs-dir",),
    )
    record.add_argument("--no-record", action="store_true", help="keep no run folder")
    parser.add_argument(
        "-y", "--yes", action="store_true", help="download a missing model without asking"
    )
    add_json_option(record, what="how the run ended and every step (secrets masked)")


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from(args)
        route = _desktop_route(settings)
    except (AgentError, PixelPruneError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        backend = _open_or_pull(settings, yes=args.yes)
    except (AgentError, PixelPruneError) as error:
        route.close()
        print(f"error: {error}", file=sys.stderr)
        return 2
    terminal = Terminal(tuple(settings.secrets.values()), sys.stderr if args.json == "-" else None)
    agent = None
    try:
        agent = Agent(
            backend, settings.agent, confirm=terminal.ask, secrets=settings.secrets, route=route
        )
        terminal.stopped = lambda: agent.stopping  # the kill hotkey ends a confirm question
        agent.events.subscribe(terminal.show)
        result = agent.run(settings.task)
    except AgentError as error:  # the run could not start (kill hotkey, run folder)
        print(f"error: {terminal.masked(str(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1
    finally:
        if agent is None:  # the agent had not taken the route yet
            route.close()
        else:
            agent.close()
        backend.close()
    terminal.say(f"{result.status}: {result.answer}")
    if result.run_dir:
        terminal.say(f"run folder: {result.run_dir}")
    if args.json is not None:
        write_json(args.json, redact_data(result_data(result), terminal.secrets))
    return 0 if result.ok else 1


def _desktop_route(settings: Settings) -> DesktopRoute:
    """The desktop route of the run, checked before any model is loaded and then handed to the
    agent: detected once, opened once (on Wayland a compositor session, on GNOME its screen
    casts, through the portal its permission), so a missing display, kill hotkey, permission
    or monitor is told at once, in one line."""
    desktop = settings.agent.desktop or detect_desktop()
    drive = settings.agent.mode != "dry-run"
    if problem := desktop_problem(drive=drive, desktop=desktop):
        raise AgentError(problem)
    route = open_desktop(desktop, settings.agent.capture, drive=drive)
    combo = settings.agent.kill_hotkey
    try:  # a desktop with no global key refuses before it asks for any permission
        if drive and combo is not None:
            route.hotkey(combo, lambda: None)
    except HotkeyError as error:
        route.close()
        raise AgentError(kill_hotkey_refusal(error, route.other_stops)) from error
    if problem := monitor_problem(route):
        route.close()
        raise AgentError(problem)
    return route


def result_data(result: RunResult) -> dict[str, Any]:
    """`--json`: how the run ended, its run folder and every step as steps.jsonl holds it."""
    return {
        "status": result.status,
        "answer": result.answer,
        "run_dir": result.run_dir,
        "steps": [record.to_dict() for record in result.steps],
    }


def _open_or_pull(settings: Settings, *, yes: bool) -> Backend:
    """The model, offering to download a hub id that is not in the local cache (`yes`: without
    asking); `ModelNotFoundError` when it is not there and not downloaded. A local model is
    found before the loader imports torch and transformers (~20 s), so a mistyped folder is
    told at once."""
    if (path := settings.model.path) is not None:
        _find_or_pull(path, yes=yes)
    return open_backend(settings.model)


def _find_or_pull(path: str, *, yes: bool) -> None:
    try:
        resolve_model_dir(path)
    except ModelNotFoundError:
        if not needs_download(path):
            raise
        print(f"{path} is not in the local Hugging Face cache.", file=sys.stderr)
        if pull(path, yes=yes) is None:
            raise


def settings_from(args: argparse.Namespace) -> Settings:
    """The task file (if the target is one) or the task text, with the options given here."""
    changes = model_settings(args) | given(
        parser=args.parser,
        mode=args.mode,
        max_steps=args.max_steps,
        max_seconds=args.max_seconds,
        history=args.history,
        monitor=_monitor(args.monitor),
        desktop=args.desktop,
        kill_hotkey=args.kill_hotkey,
        record_to=None if args.out is None else str(args.out),
    )
    if "prune" in vars(args):  # --prune SPEC or --no-prune
        changes["prune"] = args.prune
    if args.no_kill_hotkey:
        changes["kill_hotkey"] = None
    if args.no_record:
        changes["record_to"] = None
    task_file = Settings.from_toml(args.target) if args.target.endswith(".toml") else None
    base_prune = None if task_file is None else task_file.agent.prune
    if (old := legacy_prune(args, base_prune or PruneConfig())) is not None:
        changes.setdefault("prune", old)
    if task_file is None:
        if not any(source in changes for source in SOURCES):  # a task text alone: the default
            changes["path"] = DEFAULT_MODEL
        settings = Settings.for_task(args.target, **changes)
    else:
        settings = task_file.with_overrides(**changes)
    if settings.agent.record_to is None and not args.no_record:
        settings = settings.with_overrides(record_to=RUNS_DIR)
    return settings


def _monitor(text: str | None) -> int | str | None:
    return int(text) if text is not None and text.isdigit() else text
