"""tools/processes.py: children end when asked, and are killed when they will not."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from tools.processes import stop_processes

IGNORES_TERM = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def _start(code: str) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    return process


def test_a_group_ends_on_sigterm_within_one_timeout() -> None:
    sleepers = [_start("print('ready', flush=True)\nimport time; time.sleep(60)") for _ in range(3)]
    start = time.monotonic()
    stop_processes(sleepers, timeout=5)
    assert time.monotonic() - start < 5
    assert [p.returncode for p in sleepers] == [-signal.SIGTERM] * 3


def test_a_process_that_ignores_the_signal_is_killed_and_reaped() -> None:
    stubborn = _start(IGNORES_TERM)
    stop_processes([stubborn], timeout=0.5)
    assert stubborn.returncode == -signal.SIGKILL


def test_the_chosen_signal_is_sent_and_none_sends_nothing() -> None:
    interrupted = _start("print('ready', flush=True)\nimport time; time.sleep(60)")
    stop_processes([interrupted], signal.SIGINT, timeout=5)
    assert interrupted.returncode == -signal.SIGINT  # Python ends by the signal it was sent
    finishing = _start("print('ready', flush=True)")
    stop_processes([finishing], None, timeout=5)
    assert finishing.returncode == 0
    already_ended = _start("print('ready', flush=True)")
    already_ended.wait()
    stop_processes([already_ended])  # no signal to a process that is gone
    assert already_ended.returncode == 0
