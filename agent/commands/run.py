"""`python main.py run TASK`: run a task file or a task text on this desktop.

    python main.py run task.toml
    python main.py run "Open the terminal and type ls" --model ByteDance-Seed/UI-TARS-1.5-7B
    python main.py run "Click OK" --scripted outputs.json --mode dry-run
    python main.py run "Open the terminal" --server http://gpu-box:8000/v1 --api-key-env KEY_VAR

Options given on the command line override the task file (a model source given here, --model,
--server or --scripted, replaces the file's). The default mode is `confirm`: every
action is shown and waits for y/N on this terminal. Each step prints one line; the run folder
(screenshots, masks, outputs, timings) is under --runs-dir unless --no-record. Exit status:
0 finished, 1 the run ended otherwise (limit, stop, rejection, unusable output), 2 bad input
(task file, model, display).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from agent.actions import Action, describe
from agent.backends.spec import open_backend
from agent.capture import CaptureConfig
from agent.commands import setup_logging
from agent.commands.model_options import add_model_arguments, given, model_spec
from agent.errors import AgentError
from agent.events import Event, ModelFailed, RunStarted, StepFinished
from agent.executor import MODES
from agent.loop import Agent
from agent.records import StepRecord
from agent.settings import AgentConfig
from agent.tasks import TaskSpec, load_task_file
from pixelprune import PixelPruneError, PruneConfig
from pixelprune.cli import add_prune_options, legacy_prune

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="a task file (.toml) or the task text")
    add_model_arguments(parser)
    prune = parser.add_argument_group("pruning")
    add_prune_options(
        prune,
        default=None,
        what="pruning (default: the task file's, else pred_2d)",
        legacy_method="--prune-method",
    )
    limits = parser.add_argument_group("mode and limits")
    limits.add_argument("--mode", choices=MODES, help="default confirm")
    limits.add_argument("--max-steps", type=int)
    limits.add_argument("--max-seconds", type=float)
    limits.add_argument("--history", type=int, help="earlier screenshots shown again")
    limits.add_argument("--monitor", help="monitor index (1 = first) or 'mouse'")
    limits.add_argument("--kill-hotkey", help="default ctrl+shift+f12")
    limits.add_argument("--no-kill-hotkey", action="store_true")
    record = parser.add_argument_group("recording")
    record.add_argument("--runs-dir", default="runs", help="where run folders go (runs/)")
    record.add_argument("--no-record", action="store_true", help="keep no run folder")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every detail")


def run(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    try:
        spec = _spec(args)
        backend = open_backend(spec.model)
        agent = Agent(backend, spec.agent, confirm=ask_on_terminal, secrets=spec.secrets)
    except (AgentError, PixelPruneError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    agent.events.subscribe(_print_event)
    try:
        result = agent.run(spec.task)
    except AgentError as error:  # the run could not start (kill hotkey, run folder)
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1
    finally:
        backend.close()
    print(f"{result.status}: {result.answer}")
    if result.run_dir:
        print(f"run folder: {result.run_dir}")
    return 0 if result.ok else 1


def ask_on_terminal(action: Action) -> bool:
    """The confirm-mode question on this terminal; anything but y/yes rejects."""
    try:
        reply = input(f"perform {describe(action)}? [y/N] ")
    except EOFError:
        return False
    return reply.strip().lower() in ("y", "yes")


def _spec(args: argparse.Namespace) -> TaskSpec:
    """The task file (if the target is one) with the command line's overrides applied."""
    target = Path(args.target)
    if target.suffix == ".toml":
        spec = load_task_file(target)
        model = model_spec(args, spec.model)
    else:
        model = model_spec(args)
        spec = TaskSpec(args.target, model, AgentConfig(record_to=args.runs_dir))
    config = spec.agent
    if "prune" in vars(args):  # --prune SPEC or --no-prune
        config = dataclasses.replace(config, prune=args.prune)
    elif (old := legacy_prune(args, config.prune or PruneConfig())) is not None:
        config = dataclasses.replace(config, prune=old)
    monitor = None
    if args.monitor is not None:
        monitor = CaptureConfig(int(args.monitor) if args.monitor.isdigit() else args.monitor)
    config = dataclasses.replace(
        config,
        **given(
            mode=args.mode,
            max_steps=args.max_steps,
            max_seconds=args.max_seconds,
            history=args.history,
            parser=args.parser,
            kill_hotkey=args.kill_hotkey,
            capture=monitor,
        ),
    )
    if args.no_kill_hotkey:
        config = dataclasses.replace(config, kill_hotkey=None)
    if args.no_record:
        config = dataclasses.replace(config, record_to=None)
    elif config.record_to is None:
        config = dataclasses.replace(config, record_to=args.runs_dir)
    return TaskSpec(spec.task, model, config, spec.secrets)


def _print_event(event: Event) -> None:
    if isinstance(event, RunStarted):
        print(f"task: {event.task}\nmodel: {event.model} ({event.parser})")
    elif isinstance(event, ModelFailed):
        print(f"  step {event.number} attempt {event.attempt}: unusable answer: {event.error}")
    elif isinstance(event, StepFinished):
        print(step_line(event.record))


def step_line(record: StepRecord) -> str:
    """One line per step: action, outcome, model time, kept tokens."""
    what = describe(record.action) if record.action else (record.error or "no action")
    ms = record.timings.get("model", 0.0) * 1000
    full, kept = record.image_tokens
    tokens = "tokens ?" if full is None or kept is None else f"tokens {kept}/{full}"
    if full and kept is not None:
        tokens += f" ({kept / full:.0%})"
    return f"step {record.number}: {what} [{record.outcome}] model {ms:.0f} ms, {tokens}"
