"""`python main.py replay RUN_DIR`: re-parse a recorded run and print it, or re-run it dry.

Each step's recorded model output is parsed again with the run's parser and mapped with the
step's recorded frame; the line shows the recorded action and whether today's parser agrees
(a parser change that would have clicked elsewhere shows up as a mismatch). `--execute` passes
the actions through the executor in dry-run mode: it logs what it would do, and does nothing.

Exit status 0 when every step parses as recorded and the record is whole; 1 when a step parses
differently today or the record is incomplete (a torn last line, no steps.jsonl, fewer steps
than result.json counts: `RecordedRun.lost`, printed as one warning line); 2 when the folder
cannot be replayed at all.
"""

from __future__ import annotations

import argparse
import logging
import sys
from functools import partial
from typing import Any

from agent.actions import describe
from agent.coords import action_to_screen
from agent.errors import ActionError, AgentError
from agent.executor import Executor, ExecutorConfig
from agent.parsers import Parser, get_parser
from agent.records import StepRecord
from agent.trajectory import load_run
from pixelprune.cli import add_json_option, write_json

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run folder written by `main.py run`")
    parser.add_argument(
        "--execute", action="store_true", help="pass the actions to the executor in dry-run"
    )
    add_json_option(parser, what="each step's recorded and re-parsed action")


def run(args: argparse.Namespace) -> int:
    try:
        recorded = load_run(args.run_dir)
        parser = get_parser(recorded.header.parser)
    except AgentError as error:
        print(f"error: cannot replay {args.run_dir}: {error}", file=sys.stderr)
        return 2
    say = partial(print, file=sys.stderr if args.json == "-" else sys.stdout)
    executor = _dry_run_executor() if args.execute else None
    say(f"task: {recorded.header.task}\nmodel: {recorded.header.model} ({parser.name})")
    rows = []
    for step in recorded.steps:
        row = replay_step(step, parser)
        actions = row.pop("actions", [])
        rows.append(row)
        say(f"step {step.number}: {row['recorded']} [{step.outcome}]")
        if row["replayed"] is None:
            continue
        say(f"  re-parse: {row['replayed']}{'' if row['same'] else '  MISMATCH'}")
        if executor is not None:
            for action in actions:
                executor.perform(action)
    ending = recorded.result
    say(f"{ending.status}: {ending.answer}" if ending else "unfinished (no result.json)")
    if recorded.lost:
        print(f"warning: the record is incomplete: {recorded.lost}", file=sys.stderr)
    mismatches = sum(not row["same"] for row in rows if row["replayed"] is not None)
    if mismatches:
        say(f"{mismatches} step(s) parse differently today")
    if args.json is not None:
        report = {"parser": parser.name, "mismatches": mismatches, "lost": recorded.lost}
        write_json(args.json, report | {"steps": rows})
    return 1 if mismatches or recorded.lost else 0


def replay_step(step: StepRecord, parser: Parser) -> dict[str, Any]:
    """The step's last recorded answer parsed again and mapped with its recorded frame."""
    recorded = "; ".join(describe(action) for action in step.actions)
    row: dict[str, Any] = {
        "number": step.number,
        "recorded": recorded or step.error or "no action",
        "replayed": None,
    }
    if not step.attempts or step.frame is None:
        return row
    frame = step.frame
    try:
        actions = [action_to_screen(a, frame) for a in parser.parse_all(step.attempts[-1].output)]
    except ActionError as error:
        return row | {"replayed": f"unusable ({error})", "same": not step.actions}
    replayed = "; ".join(describe(action) for action in actions)
    return row | {"replayed": replayed, "same": step.actions == actions, "actions": actions}


def _dry_run_executor() -> Executor:
    """An executor in dry-run whose log lines ("dry-run: left click …") go to standard output."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("  %(message)s"))
    log = logging.getLogger(Executor.__module__)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return Executor(ExecutorConfig(mode="dry-run"))
