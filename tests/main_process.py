"""`run_main`: a `main.py` command in a child process, as a user's shell would run it.

    done = run_main("run", "x", "--mode", "dry-run", env={"DISPLAY": None})
    assert done.returncode == 2 and "DISPLAY" in done.stderr

The command-line tests read exit statuses and printed lines, which only a real process gives
(argparse's exits, stdout/stderr, signals, an interpreter without the display variables).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["ROOT", "run_main"]

ROOT = Path(__file__).resolve().parents[1]


def run_main(
    *args: str,
    env: Mapping[str, str | None] | None = None,
    stdin: str = "",
    cwd: Path = ROOT,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`python main.py ARGS`, its output captured as text.

    `env` changes this process's environment for the child: a value sets a variable, None
    removes it (how a test plays a machine without DISPLAY or XAUTHORITY).
    """
    environment = dict(os.environ)
    for name, value in (env or {}).items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        cwd=cwd,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
