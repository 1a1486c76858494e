"""tools/processes.py: children end when asked, and are killed when they will not."""

from __future__ import annotations

import signal
import subprocess
import sys

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


# SIGINT heard as Python's KeyboardInterrupt even where the suite itself was started with SIGINT
# ignored (a background job of a script), which a child would otherwise inherit
HEEDS_INT = (
    "import signal, time\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)
# A process that heeds its signal ends at once; the waits below are long only so that a loaded
# machine (the suite beside another CPU-heavy job) never kills one that was about to end.
HEEDING_SECONDS = 60


def test_a_group_ends_on_sigterm() -> None:
    sleepers = [_start("print('ready', flush=True)\nimport time; time.sleep(60)") for _ in range(3)]
    stop_processes(sleepers, timeout=HEEDING_SECONDS)
    assert [p.returncode for p in sleepers] == [-signal.SIGTERM] * 3  # none had to be killed


def test_a_process_that_ignores_the_signal_is_killed_and_reaped() -> None:
    stubborn = _start(IGNORES_TERM)
    stop_processes([stubborn], timeout=0.5)
    assert stubborn.returncode == -signal.SIGKILL


def test_the_chosen_signal_is_sent_and_none_sends_nothing() -> None:
    interrupted = _start(HEEDS_INT)
    stop_processes([interrupted], signal.SIGINT, timeout=HEEDING_SECONDS)
    assert interrupted.returncode == -signal.SIGINT  # Python ends by the signal it was sent
    finishing = _start("print('ready', flush=True)")
    stop_processes([finishing], None, timeout=HEEDING_SECONDS)
    assert finishing.returncode == 0
    already_ended = _start("print('ready', flush=True)")
    already_ended.wait()
    stop_processes([already_ended])  # no signal to a process that is gone
    assert already_ended.returncode == 0
