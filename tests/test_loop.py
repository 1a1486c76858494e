"""The agent loop with a scripted model, a still screen and a fake pyautogui.

Real windows, real pyautogui and the real kill hotkey are in tests/test_agent_desktop.py; here
the loop's logic: retries of unusable answers, limits, stop() while the model is busy, events,
records, pruning figures and the run folder.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from conftest import DATA
from fakes import FakeScreen, StillCapture
from PIL import Image

from agent.actions import Click, Space, TypeText
from agent.backends.base import ModelReply
from agent.backends.scripted import ScriptedBackend
from agent.coords import Monitor
from agent.errors import AgentError, CaptureError
from agent.events import (
    ActionProposed,
    ModelFailed,
    RunFinished,
    RunStarted,
    ScreenCaptured,
    StepFinished,
    StepStarted,
)
from agent.loop import Agent
from agent.parsers.uitars import with_box_tokens
from agent.trajectory import load_run
from pixelprune import PruneConfig

SCREEN = Image.open(DATA / "desktop-xterm-1920x1080.png").convert("RGB")
MONITOR = Monitor(1920, 0, 1920, 1080, index=2)  # a second monitor, right of the first
CLICK = "Thought: open it\nAction: click(start_box='(966,546)')"  # centre of 1932x1092
FINISH = "Thought: all done\nAction: finished(content='done')"


def make_agent(outputs, *, screen=None, delay=0.0, **settings) -> tuple[Agent, FakeScreen]:
    screen = screen or FakeScreen()
    settings = {"mode": "auto", "kill_hotkey": None, "parser": "uitars", **settings}
    agent = Agent(
        ScriptedBackend(outputs, delay=delay),
        screen_capture=StillCapture(SCREEN, MONITOR),
        screen=screen,
        **settings,
    )
    return agent, screen


def test_a_run_clicks_types_and_finishes():
    agent, screen = make_agent([CLICK, "Action: type(content='hi')", FINISH])
    events = []
    agent.events.subscribe(events.append)
    result = agent.run("open the terminal")
    assert (result.status, result.answer) == ("finished", "done")
    assert [r.outcome for r in result.steps] == ["performed", "performed", "no-op"]
    click = screen.calls[0]
    assert click[0] == "click" and click[1] == (1920 + 960, 540)
    assert screen.typed() == "hi"
    first = result.steps[0]
    assert first.model_action.point.space is Space.PIXELS
    assert first.model_action.thought == "open it" and first.model_action.raw == CLICK
    assert isinstance(first.action, Click) and first.action.point.space is Space.SCREEN
    assert {"capture", "prune", "model", "parse", "act", "total"} <= set(first.timings)
    assert first.frame.model_input == (1932, 1092)
    kinds = [type(e) for e in events]
    assert kinds[0] is RunStarted and kinds[-1] is RunFinished
    assert kinds[1:7] == [
        StepStarted,
        ScreenCaptured,
        ActionProposed,
        StepFinished,
        StepStarted,
        ScreenCaptured,
    ]


def test_pruning_figures_are_the_backends_and_off_means_off():
    agent, _ = make_agent([FINISH], prune=PruneConfig())
    step = agent.run("t").steps[0]
    full, kept = step.image_tokens
    assert full == 69 * 39 and kept == step.selection.n_kept < full
    agent, _ = make_agent([FINISH], prune=None)
    captured = []
    agent.events.subscribe(lambda e: isinstance(e, ScreenCaptured) and captured.append(e))
    step = agent.run("t").steps[0]
    assert step.selection is None and step.image_tokens == (69 * 39, 69 * 39)
    assert [(e.number, e.selection) for e in captured] == [(1, None)]  # shown, unpruned


def test_an_unusable_answer_is_shown_to_the_model_and_asked_again():
    agent, screen = make_agent(["I would click the button", CLICK, FINISH])
    failures = []
    agent.events.subscribe(lambda e: isinstance(e, ModelFailed) and failures.append(e))
    result = agent.run("t")
    assert result.status == "finished"
    first = result.steps[0]
    assert [a.error is None for a in first.attempts] == [False, True]
    assert first.outcome == "performed" and len(screen.calls) == 1
    retry_prompt = agent.backend.prompts[1]
    assert retry_prompt.messages[-2]["content"][0]["text"] == "I would click the button"
    assert "could not be used" in retry_prompt.messages[-1]["content"][0]["text"]
    assert failures and failures[0].attempt == 1


def test_never_guesses_a_click_from_bad_output():
    outputs = [
        "Action: click(start_box='(99999,5)')",  # off the image: rejected, not clamped
        "Action: click(start_box='(12,",
        "Action: click(start_box='(1,1)')\nAction: click(start_box='(2,2)')",
    ]
    agent, screen = make_agent(outputs, max_retries=2)
    result = agent.run("t")
    assert result.status == "malformed_output"
    step = result.steps[0]
    assert step.outcome == "failed" and step.action is None and screen.calls == []
    assert len(step.attempts) == 3 and all(a.error for a in step.attempts)
    assert "outside" in step.attempts[0].error


def test_max_steps_caps_the_run():
    agent, screen = make_agent([CLICK] * 10, max_steps=3)
    result = agent.run("t")
    assert result.status == "max_steps" and len(result.steps) == 3 and len(screen.calls) == 3
    assert result.answer == "stopped after 3 steps"
    agent, _ = make_agent([CLICK], max_steps=1)
    assert agent.run("t").answer == "stopped after 1 step"  # what the HUD and the app show


def test_stop_while_the_model_is_busy_prevents_the_pending_action():
    agent, screen = make_agent([CLICK] * 10, delay=0.5)
    agent.events.subscribe(
        lambda e: isinstance(e, StepStarted) and e.number == 2 and _later(0.2, agent.stop)
    )
    start = time.perf_counter()
    result = agent.run("t")
    assert result.status == "stopped" and result.answer == "stop() called"
    assert len(screen.calls) == 1  # step 1's click only; step 2's answer came too late
    assert result.steps[-1].outcome == "stopped"
    assert time.perf_counter() - start < 3


def test_max_seconds_stops_the_run():
    agent, _ = make_agent([CLICK] * 50, delay=0.2, max_seconds=0.5)
    result = agent.run("t")
    assert result.status == "max_seconds" and len(result.steps) < 5


def test_call_user_and_rejection_end_the_run():
    agent, _ = make_agent(["Action: call_user()"])
    assert agent.run("t").status == "call_user"
    agent = Agent(
        ScriptedBackend([CLICK]),
        screen_capture=StillCapture(SCREEN, MONITOR),
        screen=FakeScreen(),
        mode="confirm",
        confirm=lambda action: False,
        kill_hotkey=None,
        parser="uitars",
    )
    result = agent.run("t")
    assert result.status == "rejected" and result.steps[0].outcome == "rejected"


def test_history_keeps_only_the_last_screenshots_but_all_outputs():
    agent, _ = make_agent([CLICK] * 4 + [FINISH], history=2)
    agent.run("t")
    counts = [len(p.images) for p in agent.backend.prompts]
    assert counts == [1, 2, 3, 3, 3]
    last = agent.backend.prompts[-1]
    texts = [part.get("text", "") for m in last.messages for part in m["content"]]
    said = with_box_tokens(CLICK)  # as UI-TARS wrote it: box tokens back in
    assert sum(said in text for text in texts) == 4


def test_failsafe_and_capture_errors_end_the_run_cleanly():
    agent, _ = make_agent([CLICK], screen=FakeScreen(fail_safe=True))
    result = agent.run("t")
    assert result.status == "failsafe" and "corner" in result.steps[0].error

    class Broken(StillCapture):
        def grab(self):
            raise CaptureError("no monitor 3")

    agent = Agent(
        ScriptedBackend([CLICK]),
        screen_capture=Broken(SCREEN),
        mode="dry-run",
        kill_hotkey=None,
        parser="uitars",
    )
    result = agent.run("t")
    assert result.status == "error" and "no monitor 3" in result.answer
    assert result.steps[0].outcome == "failed"


def test_a_broken_subscriber_does_not_stop_the_agent():
    agent, screen = make_agent([CLICK, FINISH])
    agent.events.subscribe(lambda event: 1 / 0)
    assert agent.run("t").status == "finished" and len(screen.calls) == 1


def test_the_run_folder_has_every_step_and_no_secret(tmp_path):
    outputs = [CLICK, "Action: type(content='{{password}}')", FINISH]
    agent, screen = make_agent(outputs, record_to=str(tmp_path), prune=PruneConfig())
    agent.secrets = {"password": "hunter2"}
    result = agent.run("log in, password is hunter2")
    assert screen.typed() == "hunter2"
    run = load_run(result.run_dir)
    assert len(run.steps) == 3 and run.result.status == "finished"
    assert run.mask(run.steps[0]).sum() == result.steps[0].selection.n_kept
    assert run.screenshot(run.steps[0]).size == SCREEN.size
    assert "hunter2" not in (run.folder / "run.json").read_text()
    assert "hunter2" not in (run.folder / "steps.jsonl").read_text()
    assert run.header.parser == "uitars" and run.header.secrets == ["password"]
    step = run.steps[1]
    assert isinstance(step.action, TypeText) and step.outcome == "performed"


def test_several_actions_in_one_answer_are_performed_in_order():
    plan = CLICK + "\n\ntype(content='hi')\n\nfinished(content='typed it')"
    agent, screen = make_agent([plan])
    events = []
    agent.events.subscribe(events.append)
    result = agent.run("type hi")
    assert (result.status, result.answer, len(result.steps)) == ("finished", "typed it", 1)
    step = result.steps[0]
    assert [type(a).__name__ for a in step.actions] == ["Click", "TypeText", "Finished"]
    assert step.outcome == "no-op"  # the last one, the final answer, was reached
    assert screen.calls[0][0] == "click" and screen.typed() == "hi"
    proposed = [type(e.action).__name__ for e in events if isinstance(e, ActionProposed)]
    assert proposed == ["Click", "TypeText", "Finished"]  # each one shown, then performed


def test_several_actions_stop_at_the_first_not_carried_out():
    answers = iter([True, False])
    plan = CLICK + "\n\ntype(content='hi')\n\nhotkey(key='enter')"
    agent, screen = make_agent([plan], mode="confirm", confirm=lambda action: next(answers))
    result = agent.run("type hi")
    assert result.status == "rejected"
    step = result.steps[0]
    assert len(step.actions) == 3 and step.outcome == "rejected"
    assert [name for name, _, _ in screen.calls] == ["click"]  # the rest never ran


def test_step_by_step_driving():
    agent, screen = make_agent([CLICK, FINISH])
    agent.begin("t")
    assert agent.step().outcome == "performed" and len(screen.calls) == 1
    with pytest.raises(Exception, match="already in progress"):
        agent.begin("again")
    result = agent.end()
    assert result.status == "stopped" and len(result.steps) == 1


def _later(seconds: float, function) -> bool:
    threading.Timer(seconds, function).start()
    return True


def test_no_kill_hotkey_means_no_unattended_run():
    agent, screen = make_agent([CLICK], kill_hotkey="ctrl+nosuchkey")
    with pytest.raises(AgentError, match="without the kill hotkey"):
        agent.run("t")
    assert screen.calls == []
    agent, _ = make_agent([FINISH], kill_hotkey="ctrl+nosuchkey", mode="dry-run")
    assert agent.run("t").status == "finished"


def test_pause_waits_between_steps_and_stop_ends_a_paused_run():
    agent, screen = make_agent([CLICK] * 10)
    agent.events.subscribe(
        lambda e: isinstance(e, StepFinished) and e.record.number == 2 and agent.pause()
    )
    waiting = threading.Event()  # set when the loop blocks in its pause
    unpaused, wait = agent._unpaused, agent._unpaused.wait

    def pause_wait(timeout=None):
        if not unpaused.is_set():
            waiting.set()
        return wait(timeout)

    unpaused.wait = pause_wait
    runner = threading.Thread(target=lambda: results.append(agent.run("t")))
    results = []
    runner.start()
    assert waiting.wait(10)
    assert agent.paused and len(screen.calls) == 2  # paused after step 2, no step 3 yet
    waiting.clear()
    agent.resume()
    agent.pause()  # (the subscriber pauses only after step 2; pause again by hand)
    assert waiting.wait(10)
    agent.stop("stop while paused")
    runner.join(timeout=5)
    assert not runner.is_alive()
    assert results[0].status == "stopped" and results[0].answer == "stop while paused"
    assert len(screen.calls) <= 3


class TimedBackend(ScriptedBackend):
    """Reports vision and prefill times like a real model: shorter when pruned."""

    def complete(self, prompt, *, prune, max_new_tokens=256):
        if prune is None and max_new_tokens == 1:  # the calibration call: no script needed
            self.prompts.append(prompt)
            self.calls += 1
            return ModelReply("", timings={"vision": 1.0, "prefill": 0.5})
        reply = super().complete(prompt, prune=prune, max_new_tokens=max_new_tokens)
        timings = {**reply.timings, "vision": 0.3, "prefill": 0.2}
        return dataclasses.replace(reply, timings=timings)


def test_latency_saved_is_measured_once_per_prompt_shape_then_estimated():
    agent = Agent(
        TimedBackend([CLICK] * 3 + [FINISH]),
        screen_capture=StillCapture(SCREEN, MONITOR),
        screen=FakeScreen(),
        mode="auto",
        kill_hotkey=None,
        parser="uitars",
        history=0,
    )
    steps = agent.run("t").steps
    first, second = steps[0].latency, steps[1].latency
    assert (first.measured, first.baseline, first.pruned) == (True, 1.5, 0.5)
    assert first.seconds == pytest.approx(1.0) and "calibration" in steps[0].timings
    assert (second.measured, second.seconds) == (False, pytest.approx(1.0))
    assert "calibration" not in steps[1].timings
    assert not steps[-1].latency.measured  # the final answer's call was pruned too
    calls = agent.backend.calls
    agent.recalibrate()
    agent.backend._outputs = [CLICK, FINISH]
    assert agent.run("t").steps[0].latency.measured
    assert agent.backend.calls == calls + 3  # click, its calibration, finish


def test_latency_saved_is_unknown_without_pruning_or_stage_timings():
    agent = Agent(
        TimedBackend([CLICK, FINISH]),
        screen_capture=StillCapture(SCREEN, MONITOR),
        screen=FakeScreen(),
        mode="auto",
        kill_hotkey=None,
        parser="uitars",
        prune=None,
    )
    assert agent.run("t").steps[0].latency is None
    agent, _ = make_agent([CLICK, FINISH])  # the plain scripted backend times no stages
    assert agent.run("t").steps[0].latency is None


def test_capture_guards_are_hidden_around_every_grab_only():
    calls = []

    class Guard:
        def hide_for_capture(self):
            calls.append("hide")

        def show_after_capture(self):
            calls.append("show")

    agent, _ = make_agent([CLICK, FINISH])
    agent.capture_guards.append(Guard())
    grabbed = agent.capture.grab

    def grab():
        calls.append("grab")
        return grabbed()

    agent.capture.grab = grab
    agent.run("t")
    assert calls == ["hide", "grab", "show"] * 2


def test_an_unwritable_runs_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    agent, screen = make_agent([CLICK], record_to=str(blocker))
    with pytest.raises(AgentError, match="cannot create a run folder"):
        agent.run("t")
    assert screen.calls == []
    agent.backend._outputs = [FINISH]
    agent.config = dataclasses.replace(agent.config, record_to=None)
    assert agent.run("t").status == "finished"  # nothing was left half started


def test_the_scripted_backend_keeps_only_its_last_prompts():
    from agent.backends.scripted import KEEP_PROMPTS

    agent, _ = make_agent([CLICK] * (KEEP_PROMPTS + 5) + [FINISH], max_steps=100, calibrate=False)
    agent.run("t")
    assert agent.backend.calls == KEEP_PROMPTS + 6
    assert len(agent.backend.prompts) == KEEP_PROMPTS  # each holds full screenshots: bounded
