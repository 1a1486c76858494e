"""What `main.py run` shows: masked lines, a live thinking line, short failures, the thought."""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import TextIO

import pytest

from agent.actions import Click, Point, Space, TypeText
from agent.commands.terminal import Terminal
from agent.coords import Frame, Monitor
from agent.events import ActionProposed, ModelFailed, StepStarted

FRAME = Frame(Monitor(0, 0, 100, 100), (100, 100), (100, 100))


def wait_for(predicate, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.02)


def test_a_live_line_counts_while_the_model_thinks_and_is_cleared():
    stream = io.StringIO()
    terminal = Terminal((), stream, live=True)
    terminal.show(StepStarted(3))
    wait_for(lambda: "step 3: the model is thinking" in stream.getvalue())
    click = Click(point=Point(1, 2, Space.SCREEN))
    terminal.show(ActionProposed(3, click, FRAME))
    drawn = stream.getvalue()
    assert drawn.endswith("\r\x1b[K")  # the live line is erased before anything else is shown
    time.sleep(0.6)
    assert stream.getvalue() == drawn  # and no longer redrawn


def test_no_live_line_when_the_output_is_no_terminal():
    stream = io.StringIO()
    terminal = Terminal((), stream)
    terminal.show(StepStarted(1))
    time.sleep(0.6)
    assert stream.getvalue() == ""


def test_an_unusable_answer_is_one_short_line_and_the_whole_answer_goes_to_the_log(caplog):
    stream = io.StringIO()
    terminal = Terminal(("hunter2",), stream)
    answer = "Thought: " + "very long reasoning " * 40 + "hunter2\nAction: tap()"
    error = "unknown action 'tap'; use one of: " + ", ".join(["click"] * 60)
    with caplog.at_level(logging.INFO, logger="agent.commands.terminal"):
        terminal.show(ModelFailed(2, 1, answer.replace("hunter2", "••••••"), error))
    [line] = stream.getvalue().splitlines()
    assert line.startswith("  step 2 attempt 1: unusable answer (unknown action 'tap'")
    assert len(line) < 200
    assert "very long reasoning very long" in caplog.text and "hunter2" not in caplog.text


def test_the_confirm_question_shows_the_thought_masked():
    stream = io.StringIO()
    terminal = Terminal(("hunter2",), stream, answers=io.StringIO("y\n"))
    action = TypeText(text="hunter2", thought="Type the password hunter2 into the field.")
    assert terminal.ask(action)
    assert stream.getvalue() == (
        "  thought: Type the password •••••• into the field.\nperform type '••••••'? [y/N] "
    )


@pytest.fixture
def tty() -> Iterator[tuple[int, TextIO]]:
    """A pseudo-terminal: the keyboard's end (a descriptor to write keys to) and the program's
    end (what the program reads its answers from, as `main.py run` reads a real terminal)."""
    keyboard, program = os.openpty()
    with os.fdopen(program, "r") as answers:
        yield keyboard, answers
    os.close(keyboard)


def test_a_stop_ends_the_question_on_a_terminal_at_once_and_drops_what_was_typed(tty):
    keyboard, answers = tty
    stream, stop = io.StringIO(), threading.Event()
    terminal = Terminal((), stream, answers=answers)
    terminal.stopped = stop.is_set
    answered = []
    asking = threading.Thread(
        target=lambda: answered.append(terminal.ask(Click(point=Point(1, 2, Space.SCREEN)))),
        daemon=True,
    )
    os.write(keyboard, b"y")  # typed, not yet entered, when the kill hotkey is pressed
    asking.start()
    wait_for(lambda: stream.getvalue().endswith("[y/N] "))
    stop.set()
    asking.join(2)
    assert answered == [False], "the question did not end on the stop"
    assert stream.getvalue() == "perform left click (1, 2)? [y/N] stopped\n"
    os.write(keyboard, b"n\n")
    assert answers.readline() == "n\n"  # the "y" typed before the stop went nowhere


def test_an_answer_typed_on_a_terminal_is_read(tty):
    keyboard, answers = tty
    terminal = Terminal((), io.StringIO(), answers=answers)
    threading.Timer(0.2, os.write, args=(keyboard, b" Yes\n")).start()
    assert terminal.ask(Click(point=Point(1, 2, Space.SCREEN)))
    os.write(keyboard, b"nope\n")
    assert not terminal.ask(Click(point=Point(1, 2, Space.SCREEN)))


def test_answers_from_a_pipe_are_read_as_they_come_and_its_end_says_no():
    terminal = Terminal((), io.StringIO(), answers=io.StringIO("y\n"))
    terminal.stopped = lambda: True  # a pipe's answer is already there: it is read
    click = Click(point=Point(1, 2, Space.SCREEN))
    assert terminal.ask(click)
    assert not terminal.ask(click)
