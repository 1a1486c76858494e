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
import os
import sys
from pathlib import Path

from agent.actions import Action, describe
from agent.backends.base import PruneConfig
from agent.backends.spec import ModelSpec, open_backend
from agent.capture import CaptureConfig
from agent.commands import setup_logging
from agent.errors import AgentError
from agent.events import Event, ModelFailed, RunStarted, StepFinished
from agent.executor import MODES
from agent.loop import Agent, AgentConfig
from agent.records import StepRecord
from agent.tasks import TaskSpec, load_task_file

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="a task file (.toml) or the task text")
    model = parser.add_argument_group("model")
    model.add_argument("--model", help="model folder or hub id in the local HF cache")
    model.add_argument("--quant", choices=["4bit", "8bit", "none"], help="default 4bit")
    model.add_argument("--parser", help="output convention (default: the model's own)")
    model.add_argument("--scripted", metavar="FILE", help="replay outputs from a JSON list")
    model.add_argument(
        "--family",
        choices=["qwen2", "qwen2.5", "qwen3"],
        help="resize geometry of a server or scripted model (server: from the model id; "
        "scripted: qwen2.5)",
    )
    server = parser.add_argument_group("model server (OpenAI-compatible)")
    server.add_argument("--server", metavar="URL", help="e.g. http://gpu-box:8000/v1")
    server.add_argument("--server-model", metavar="ID", help="default: the server's only model")
    server.add_argument(
        "--api-key-env", metavar="NAME", help="environment variable that holds the API key"
    )
    server.add_argument("--min-pixels", type=int, help="the server's processor bounds, if not")
    server.add_argument("--max-pixels", type=int, help="the family's released ones")
    server.add_argument(
        "--server-timeout", type=float, metavar="SECONDS", help="wait for an answer (300)"
    )
    prune = parser.add_argument_group("pruning")
    prune.add_argument("--no-prune", action="store_true", help="send every patch")
    prune.add_argument("--prune-method", help="pred_2d (default), raster, global, ...")
    prune.add_argument("--tau", type=float, help="0 = lossless (default)")
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
    except AgentError as error:
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
    else:
        model = ModelSpec(path=args.model or None, scripted=args.scripted, server=args.server)
        spec = TaskSpec(args.target, model, AgentConfig(record_to=args.runs_dir))
    changes = _given(
        family=args.family,
        server_model=args.server_model,
        api_key=_environment(args.api_key_env) if args.api_key_env else None,
        min_pixels=args.min_pixels,
        max_pixels=args.max_pixels,
        timeout=args.server_timeout,
    )
    source = _given(path=args.model, scripted=args.scripted, server=args.server)
    if source:  # replaces the task file's model source
        changes = {"path": None, "scripted": None, "server": None, **source, **changes}
    model = _replace_model(spec.model, **changes)
    if args.quant is not None:
        quantization = None if args.quant == "none" else args.quant
        model = dataclasses.replace(model, quantization=quantization)
    config = spec.agent
    prune = config.prune or PruneConfig()
    if args.prune_method or args.tau is not None:
        prune = dataclasses.replace(prune, **_given(method=args.prune_method, tau=args.tau))
        config = dataclasses.replace(config, prune=prune)
    if args.no_prune:
        config = dataclasses.replace(config, prune=None)
    monitor = None
    if args.monitor is not None:
        monitor = CaptureConfig(int(args.monitor) if args.monitor.isdigit() else args.monitor)
    config = dataclasses.replace(
        config,
        **_given(
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


def _replace_model(model: ModelSpec, **changes: object) -> ModelSpec:
    """The spec with `changes`; a server's own settings go when the source is not a server."""
    if changes.get("server", model.server) is None:
        changes = {
            **dict.fromkeys(("server_model", "api_key", "min_pixels", "max_pixels", "timeout")),
            **changes,
        }
    return dataclasses.replace(model, **changes)


def _environment(name: str) -> str:
    """The API key in the environment variable `name` (read here, never from the command line)."""
    value = os.environ.get(name)
    if not value:
        raise AgentError(f"--api-key-env names {name}, which is not set in the environment")
    return value


def _given(**values: object) -> dict[str, object]:
    return {name: value for name, value in values.items() if value is not None}


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
