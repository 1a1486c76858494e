"""`stop_processes`: end child processes a command or test started, politely and then for sure.

    stop_processes([server, window_manager])                    # SIGTERM, 10 s, then SIGKILL
    stop_processes([serve], signal.SIGINT, timeout=30)          # as Ctrl-C would
    stop_processes([browser], None)                             # already asked: wait, then kill

Every process is signalled before any is waited for, so a group ends in one timeout, not one
each; a process that ignores the signal is killed and reaped, so none is left behind as a zombie.
"""

from __future__ import annotations

import signal as signals
import subprocess
from collections.abc import Sequence
from typing import Any

__all__ = ["stop_processes"]


def stop_processes(
    processes: Sequence[subprocess.Popen[Any]],
    signal: signals.Signals | None = signals.SIGTERM,
    *,
    timeout: float = 10.0,
) -> None:
    """Send `signal` to each running process (None: send nothing), wait up to `timeout`
    seconds for each, and kill those still running."""
    if signal is not None:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal)
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
