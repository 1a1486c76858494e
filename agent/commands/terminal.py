"""`Terminal`: what `main.py run` shows while a run goes on, every line masked like the run folder.

    terminal = Terminal(secrets=("hunter2",))
    agent = Agent(backend, config, confirm=terminal.ask)
    terminal.stopped = lambda: agent.stopping
    agent.events.subscribe(terminal.show)

One line per step and one short line per unusable answer (the full answer goes to the run
folder and, with `-v`, to the log); on a terminal a live line counts the seconds while the
model thinks; the confirm question shows the model's thought first. The kill hotkey ends the
question at once, answered "no": the wait for the answer polls `stopped` (see `read_answer`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from agent.actions import Action, describe
from agent.events import (
    ActionProposed,
    Event,
    ModelFailed,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
)
from agent.parsers.common import compact
from agent.records import StepRecord
from agent.secrets import redact

__all__ = ["Terminal", "read_answer", "step_line"]

log = logging.getLogger(__name__)
SHORT = 120  # characters of an error or a thought on one line
TICK_SECONDS = 0.5
POLL_SECONDS = 0.05  # how often a confirm question looks at `stopped` while it waits


class Terminal:
    """Lines on standard output, or on `stream` (standard error when stdout holds `--json -`).

    `live`: redraw a "thinking" line in place (default: when the stream is a terminal).
    `answers`: where confirm answers are read (default: standard input). `stopped`: true once
    the run must stop; a confirm question waiting for its answer then ends as "no".
    """

    def __init__(
        self,
        secrets: tuple[str, ...],
        stream: TextIO | None = None,
        *,
        live: bool | None = None,
        answers: TextIO | None = None,
    ) -> None:
        self.secrets = secrets
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self.answers = answers or sys.stdin
        self.stopped: Callable[[], bool] = lambda: False
        self._ticker: _Ticker | None = None
        self._lock = threading.Lock()  # the ticker's redraws and the lines never interleave

    def masked(self, text: str) -> str:
        return redact(text, self.secrets)

    def say(self, text: str) -> None:
        with self._lock:
            self._clear()
            print(self.masked(text), file=self.stream, flush=True)

    def ask(self, action: Action) -> bool:
        """The confirm-mode question, after the model's thought; anything but y/yes rejects,
        and so does a stop while it waits (the line then ends "stopped")."""
        self._stop_ticker()
        if action.thought:
            self.say(f"  thought: {_short(action.thought)}")
        with self._lock:
            self._clear()
            question = f"perform {describe(action, secrets=self.secrets)}? [y/N] "
            self.stream.write(self.masked(question))
            self.stream.flush()
        reply = read_answer(self.answers, self.stopped)
        if reply is None:
            with self._lock:
                print("stopped", file=self.stream, flush=True)
            return False
        return reply.strip().lower() in ("y", "yes")

    def show(self, event: Event) -> None:
        if isinstance(event, (StepStarted, ModelFailed)):
            self._start_ticker(event.number)  # a step, or its next attempt, asks the model
        elif isinstance(event, (ActionProposed, StepFinished, RunFinished)):
            self._stop_ticker()
        if isinstance(event, RunStarted):
            self.say(f"task: {event.task}\nmodel: {event.model} ({event.parser})")
        elif isinstance(event, ModelFailed):
            log.info("step %d attempt %d answered: %s", event.number, event.attempt, event.output)
            self.say(
                f"  step {event.number} attempt {event.attempt}: unusable answer "
                f"({_short(event.error)})"
            )
        elif isinstance(event, StepFinished):
            self.say(step_line(event.record, self.secrets))

    def _start_ticker(self, number: int) -> None:
        self._stop_ticker()
        if self.live:
            self._ticker = _Ticker(self, number)
            self._ticker.start()

    def _stop_ticker(self) -> None:
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.stop()
            with self._lock:
                self._clear()

    def _draw(self, text: str) -> None:
        with self._lock:
            self.stream.write("\r" + text + "\x1b[K")
            self.stream.flush()

    def _clear(self) -> None:
        if self.live:
            self.stream.write("\r\x1b[K")


class _Ticker(threading.Thread):
    """Redraws "step N: the model is thinking… S s" until stopped."""

    def __init__(self, terminal: Terminal, number: int) -> None:
        super().__init__(name="terminal-ticker", daemon=True)
        self.terminal, self.number = terminal, number
        self.started_at = time.monotonic()
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(TICK_SECONDS):
            seconds = time.monotonic() - self.started_at
            self.terminal._draw(f"  step {self.number}: the model is thinking… {seconds:.0f} s")

    def stop(self) -> None:
        self.halt.set()
        self.join()


def step_line(record: StepRecord, secrets: tuple[str, ...] = ()) -> str:
    """One line per step: action, outcome, model time, kept tokens."""
    what = "; ".join(describe(action, secrets=secrets) for action in record.actions)
    what = redact(what or record.error or "no action", secrets)
    ms = record.timings.get("model", 0.0) * 1000
    full, kept = record.image_tokens
    tokens = "tokens ?" if full is None or kept is None else f"tokens {kept}/{full}"
    if full and kept is not None:
        tokens += f" ({kept / full:.0%})"
    return f"step {record.number}: {what} [{record.outcome}] model {ms:.0f} ms, {tokens}"


def read_answer(answers: TextIO, stopped: Callable[[], bool]) -> str | None:
    """One line from `answers` ("" at its end), or None as soon as `stopped()` turns true.

    A terminal is waited on with select(), looking at `stopped()` every POLL_SECONDS, so the
    kill hotkey needs no Enter; what was typed but not entered is then discarded, so it does not
    reach the shell after the run. A terminal hands over one line per read, so no typed line can
    wait unseen in Python's buffer while select() waits. A pipe or a file (a script's answers)
    is read as it is, and so is a Windows console (select() there takes only sockets): a stop
    then takes effect after the answer, when the executor checks again.
    """
    descriptor = _terminal_descriptor(answers)
    if descriptor is None:
        return answers.readline()
    while not stopped():
        if select.select([descriptor], [], [], POLL_SECONDS)[0]:
            return answers.readline()
    import termios

    with contextlib.suppress(termios.error):
        termios.tcflush(descriptor, termios.TCIFLUSH)
    return None


def _terminal_descriptor(answers: TextIO) -> int | None:
    """The file descriptor of `answers` where it is a terminal select() can wait on, else None."""
    if sys.platform == "win32":
        return None
    try:
        descriptor = answers.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return None
    return descriptor if os.isatty(descriptor) else None


def _short(text: str) -> str:
    return compact(text, SHORT)
