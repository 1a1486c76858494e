"""`python main.py replay RUN_DIR`: re-parse a recorded run and print it, or re-run it dry.

Each step's recorded model output is parsed again with the run's parser and mapped with the
step's recorded frame; the line shows the recorded action and whether today's parser agrees
(a parser change that would have clicked elsewhere shows up as a mismatch). `--execute` passes
the actions through the executor in dry-run mode: it logs what it would do, and does nothing.
"""

from __future__ import annotations

import argparse
import logging
import sys

from agent.actions import describe
from agent.coords import action_to_screen
from agent.errors import ActionError, AgentError
from agent.executor import Executor, ExecutorConfig
from agent.parsers import get_parser
from agent.records import action_from_dict, frame_from_dict
from agent.trajectory import load_run

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run folder written by `main.py run`")
    parser.add_argument(
        "--execute", action="store_true", help="pass the actions to the executor in dry-run"
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="  %(message)s")
    try:
        recorded = load_run(args.run_dir)
        parser = get_parser(recorded.header["parser"])
    except (AgentError, KeyError, ValueError) as error:
        print(f"error: cannot replay {args.run_dir}: {error}", file=sys.stderr)
        return 2
    executor = Executor(ExecutorConfig(mode="dry-run")) if args.execute else None
    header = recorded.header
    print(f"task: {header.get('task')}\nmodel: {header.get('model')} ({parser.name})")
    mismatches = 0
    for step in recorded.steps:
        attempts = step.get("attempts") or []
        output = attempts[-1]["output"] if attempts else ""
        recorded_text = step.get("action_text") or step.get("error") or "no action"
        print(f"step {step['number']}: {recorded_text} [{step.get('outcome')}]")
        if not attempts or step.get("frame") is None:
            continue
        try:
            action = action_to_screen(parser.parse(output), frame_from_dict(step["frame"]))
        except ActionError as error:
            agrees = step.get("action") is None
            print(f"  re-parse: unusable ({error}){'' if agrees else '  MISMATCH'}")
            mismatches += not agrees
            continue
        same = step.get("action") is not None and action_from_dict(step["action"]) == action
        mismatches += not same
        print(f"  re-parse: {describe(action)}{'' if same else '  MISMATCH'}")
        if executor is not None:
            executor.perform(action)
    ending = recorded.result or {"status": "unfinished (no result.json)", "answer": ""}
    print(f"{ending['status']}: {ending.get('answer', '')}")
    if mismatches:
        print(f"{mismatches} step(s) parse differently today")
    return 1 if mismatches else 0
