"""The agent loop: capture → prune → model → parse → map → act, one recorded step at a time.

    agent = Agent(backend, prune=PruneConfig(), mode="confirm", max_steps=20, history=2)
    result = agent.run("Open the network settings")

Each step grabs the monitor, builds the parser's prompt (task, history, the screenshot), asks
the backend (which prunes when `prune` is set), parses the answer into one action, maps it to
the screen and hands it to the executor. An answer that cannot be used is recorded, shown to the
model and asked again, at most `max_retries` more times; it is never guessed into an action.
Every step ends as a `StepRecord` in memory, in the run folder and in a `StepFinished` event,
whatever happened. The run stops on a final answer, a question for the user, a rejected action,
`max_steps`, `max_seconds`, `stop()`, the kill hotkey or pyautogui's FAILSAFE.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.actions import Action, CallUser, Finished, describe
from agent.backends.base import Backend, ModelReply
from agent.capture import Grabber, Screenshot
from agent.coords import Frame, action_to_screen
from agent.desktop import X11_STOPS, DesktopRoute, Hotkey, open_desktop
from agent.errors import ActionError, AgentError, HotkeyError
from agent.events import (
    ActionProposed,
    EventBus,
    ModelFailed,
    RunFinished,
    RunStarted,
    ScreenCaptured,
    StepFinished,
    StepStarted,
)
from agent.executor import Executor, ExecutorConfig, FailSafeError, StopSwitch
from agent.hotkey import GlobalHotkey
from agent.latency import LatencyBaseline, prefill_seconds
from agent.messages import PastStep, Prompt
from agent.parsers import get_parser, parser_for_model
from agent.records import Attempt, RunHeader, RunResult, RunStatus, StepRecord
from agent.secrets import redact
from agent.settings import AgentConfig
from agent.trajectory import RunWriter, new_run_dir
from agent.wording import plural

__all__ = ["Agent", "AgentConfig", "CaptureGuard"]  # AgentConfig: from agent.settings

CARRIED_OUT = ("performed", "dry-run", "no-op")  # an action's statuses that let the next one go

log = logging.getLogger(__name__)
MODEL_STAGES = ("preprocess", "prune", "vision", "prefill", "decode")


class CaptureGuard(Protocol):
    """Something on screen that must not be in the agent's screenshots (the overlay)."""

    def hide_for_capture(self) -> None:
        """Return once it is off the screen."""

    def show_after_capture(self) -> None:
        """Put it back (need not wait)."""


@dataclass
class _Run:
    """The state of the run in progress."""

    task: str
    stop: StopSwitch
    records: list[StepRecord] = field(default_factory=list)
    history: list[tuple[str, Action | None, Screenshot | None]] = field(default_factory=list)
    writer: RunWriter | None = None
    hotkey: Hotkey | None = None
    timer: threading.Timer | None = None


class Agent:
    """Drives the desktop with a backend, one recorded step at a time."""

    def __init__(
        self,
        backend: Backend,
        config: AgentConfig | None = None,
        *,
        confirm: Callable[[Action], bool] | None = None,
        secrets: Mapping[str, str] | None = None,
        screen_capture: Grabber | None = None,
        screen: object = None,
        route: DesktopRoute | None = None,
        **settings: Any,
    ) -> None:
        """`settings` are `AgentConfig` fields, for short scripts: Agent(b, mode="auto").

        `screen_capture` and `screen` replace the desktop route's capture and screen (tests,
        remote desktops); without them the route is `route` (one already opened, e.g. for a
        preflight check; the agent closes it), else `config.desktop`'s, else the detected one
        (agent.desktop: mss and pyautogui on X11).
        """
        self.config = dataclasses.replace(config or AgentConfig(), **settings)
        self.backend = backend
        self.parser = get_parser(
            self.config.parser
            or backend.convention
            or parser_for_model(backend.model_type, backend.name)
        )
        self.desktop: DesktopRoute | None = None  # the route this agent drives and closes
        if screen_capture is None:
            self.desktop = route or open_desktop(
                self.config.desktop, self.config.capture, drive=self.config.mode != "dry-run"
            )
            screen_capture = self.desktop.capture
            screen = self.desktop.screen if screen is None else screen
        self.capture = screen_capture
        self.secrets = dict(secrets or {})
        self.events = EventBus()
        self._confirm = confirm
        self._screen = screen  # the executor's screen; None = pyautogui
        self._run: _Run | None = None
        self._unpaused = threading.Event()
        self._unpaused.set()
        self.baseline = LatencyBaseline()
        self.capture_guards: list[CaptureGuard] = []  # e.g. an overlay that must not be captured

    def close(self) -> None:
        """Close what the agent opened on the desktop (a Wayland session, a screen cast)."""
        if self.desktop is not None:
            self.desktop.close()

    def run(self, task: str) -> RunResult:
        """Work on `task` until it ends; the result says how and holds every step."""
        self.begin(task)
        result = None
        try:
            while result is None:
                self._wait_while_paused()
                result = self._stopped() or self._ending(self.step())
        except AgentError as error:  # capture, model or execution failure: recorded, not raised
            result = self._result("error", str(error))
        finally:
            if result is None:  # a bug: close the run folder, then let it raise
                result = self._result("error", "internal error (see the traceback)")
            self.end(result)
        return result

    def begin(self, task: str) -> None:
        """Start a run (for callers that drive `step()` themselves)."""
        if self._run is not None:
            raise AgentError("a run is already in progress; call end() first")
        if not task.strip():
            raise AgentError("the task is empty")
        state = _Run(task, StopSwitch())
        self.executor = Executor(
            dataclasses.replace(self.config.executor or ExecutorConfig(), mode=self.config.mode),
            confirm=self._confirm,
            stop=state.stop,
            secrets=self.secrets,
            screen=self._screen,
            clipboard=None if self.desktop is None else self.desktop.clipboard,
        )
        state.hotkey = self._start_hotkey(state.stop)
        if self.config.max_seconds is not None:
            state.timer = threading.Timer(
                self.config.max_seconds, state.stop.trip, args=("max_seconds",)
            )
            state.timer.daemon = True
            state.timer.start()
        if self.config.record_to is not None:
            try:
                state.writer = RunWriter(
                    new_run_dir(self.config.record_to, self._mask(task)),
                    self._header(task),
                    secrets=tuple(self.secrets.values()),
                )
            except OSError as error:
                if state.timer is not None:
                    state.timer.cancel()
                if state.hotkey is not None:
                    state.hotkey.stop()
                raise AgentError(
                    f"cannot create a run folder in {self.config.record_to}: {error}"
                ) from error
        self._run = state
        folder = None if state.writer is None else str(state.writer.folder)
        self.events.emit(RunStarted(self._mask(task), self.backend.name, self.parser.name, folder))

    def stop(self, reason: str = "stop() called") -> None:
        """Stop before the next action, from any thread (the model call in flight finishes)."""
        if self._run is not None:
            self._run.stop.trip(reason)

    @property
    def stopping(self) -> bool:
        """True once the run in progress was told to stop (kill hotkey, stop(), time cap,
        FAILSAFE): a confirm question waiting on a person polls it so that it ends at once."""
        state = self._run
        return state is not None and state.stop.is_set()

    def pause(self) -> None:
        """Finish the step in progress, then wait before the next one (from any thread)."""
        self._unpaused.clear()

    def resume(self) -> None:
        """Go on after `pause()`."""
        self._unpaused.set()

    @property
    def paused(self) -> bool:
        return not self._unpaused.is_set()

    def recalibrate(self) -> None:
        """Measure the unpruned baseline again at the next step of each prompt shape."""
        self.baseline.clear()

    def step(self) -> StepRecord:
        """One step: capture, ask, parse, act. Always returns (and stores) its record."""
        state = self._require_run()
        record = StepRecord(len(state.records) + 1, time.time(), task=self._mask(state.task))
        start = time.perf_counter()
        self.events.emit(StepStarted(record.number))
        try:
            self._step(state, record)
        except FailSafeError as error:
            state.stop.trip("failsafe")
            record.outcome, record.error = "stopped", str(error)
        except AgentError as error:
            record.outcome, record.error = "failed", str(error)
            raise
        finally:
            record.timings["total"] = time.perf_counter() - start
            secrets = tuple(self.secrets.values())
            what = "; ".join(describe(a, secrets=secrets) for a in record.actions) or record.error
            log.info("step %d: %s [%s]", record.number, what, record.outcome)
            state.records.append(record)
            if state.writer is not None:
                state.writer.add(record)
            self.events.emit(StepFinished(record))
        return record

    def end(self, result: RunResult | None = None) -> RunResult:
        """Close the run: hotkey, timer, run folder; emits `RunFinished`."""
        state = self._require_run()
        result = result or self._result("stopped", state.stop.reason or "ended by caller")
        if state.timer is not None:
            state.timer.cancel()
        if state.hotkey is not None:
            state.hotkey.stop()
        try:
            if state.writer is not None:
                state.writer.finish(result)  # raises if a step could not be written
        finally:
            self._run = None  # over either way: the agent can start the next run
            self.events.emit(RunFinished(result))
        return result

    def _step(self, state: _Run, record: StepRecord) -> None:
        if state.stop.is_set():
            record.outcome = "stopped"
            return
        shot = self._grab()
        record.screenshot = shot
        record.timings["capture"] = shot.seconds
        record.frame = frame = Frame(
            shot.monitor, shot.image.size, self.backend.input_size(*shot.image.size)
        )
        prompt = self.parser.build_prompt(
            self._task_for_model(state.task), self._past_steps(state), shot.image, frame.model_input
        )
        output, asked, reply = self._ask(state, record, prompt, frame)
        state.history.append((output, record.model_action, shot))
        if not record.actions:
            record.outcome = "stopped" if state.stop.is_set() else "failed"
            return
        record.timings["act"] = 0.0
        for action in record.actions:  # in order; the first not carried out ends the step
            self.events.emit(ActionProposed(record.number, action, frame))
            outcome = self.executor.perform(action)
            record.outcome = outcome.status
            record.timings["act"] += outcome.seconds
            if outcome.status not in CARRIED_OUT or state.stop.is_set():
                break
        if not state.stop.is_set() and reply is not None:
            self._measure_saving(record, asked, reply)

    def _grab(self) -> Screenshot:
        """Capture with every guard (overlay) out of the way, and back afterwards."""
        hidden = []
        try:
            for guard in self.capture_guards:
                guard.hide_for_capture()
                hidden.append(guard)
            return self.capture.grab()
        finally:
            for guard in hidden:
                guard.show_after_capture()

    def _measure_saving(self, record: StepRecord, prompt: Prompt, reply: ModelReply) -> None:
        """Latency saved this step; calibrates the prompt shape's unpruned time when new."""
        pruned = prefill_seconds(reply.timings)
        if self.config.prune is None or pruned is None:
            return  # not pruned, or a backend that does not time its stages: unknown
        shape = self.baseline.shape([image.size for image in prompt.images])
        measured = not self.baseline.knows(shape)
        if measured and self.config.calibrate:
            start = time.perf_counter()
            full = self.backend.complete(prompt, prune=None, max_new_tokens=1)
            record.timings["calibration"] = time.perf_counter() - start
            if (seconds := prefill_seconds(full.timings)) is not None:
                self.baseline.record(shape, seconds)
        record.latency = self.baseline.saving(shape, pruned, measured=measured)

    def _ask(
        self, state: _Run, record: StepRecord, prompt: Prompt, frame: Frame
    ) -> tuple[str, Prompt, ModelReply | None]:
        """Ask until an answer parses and maps (bounded); fills the record.

        Returns the last answer's text, the prompt it answered and the reply.
        """
        output, reply = "", None
        for attempt in range(1 + self.config.max_retries):
            if state.stop.is_set():
                break
            asked = time.perf_counter()
            reply = self.backend.complete(
                prompt, prune=self.config.prune, max_new_tokens=self.config.max_new_tokens
            )
            _add(record.timings, "model", time.perf_counter() - asked)
            for stage in MODEL_STAGES:
                if stage in reply.timings:
                    _add(record.timings, stage, reply.timings[stage])
            if attempt == 0 and record.screenshot is not None:  # the prompt's last image
                record.selection = reply.selections[-1] if reply.selections else None
                self.events.emit(
                    ScreenCaptured(record.number, record.screenshot, record.selection, frame)
                )
            output = self._mask(reply.text)
            parsed = time.perf_counter()
            error = None
            try:
                model_actions = self.parser.parse_all(reply.text)
                actions = [action_to_screen(action, frame) for action in model_actions]
            except ActionError as failure:
                error = str(failure)
            _add(record.timings, "parse", time.perf_counter() - parsed)
            record.attempts.append(
                Attempt(
                    output,
                    error,
                    dict(reply.timings),
                    reply.prompt_tokens,
                    reply.image_tokens_full,
                    reply.image_tokens_kept,
                    reply.vision_tokens_encoded,
                    reply.vision_cache_hits,
                    reply.vision_cache_seconds,
                )
            )
            if error is None:
                record.model_actions, record.actions = model_actions, actions
                return output, prompt, reply
            log.warning("step %d: unusable answer (%s): %r", record.number, error, output)
            self.events.emit(ModelFailed(record.number, attempt + 1, output, error))
            prompt = self.parser.correction(prompt, reply.text, error)
        if not state.stop.is_set():
            record.error = f"no usable answer in {len(record.attempts)} attempt(s): " + (
                record.attempts[-1].error or ""
            )
        return output, prompt, reply

    def _wait_while_paused(self) -> None:
        """Block while paused; a stop (hotkey, stop(), time cap) ends the wait."""
        state = self._require_run()
        while not self._unpaused.wait(0.05):
            if state.stop.is_set():
                return

    def _stopped(self) -> RunResult | None:
        """The result if the stop switch has tripped, else None."""
        state = self._require_run()
        if not state.stop.is_set():
            return None
        reason = state.stop.reason
        status: RunStatus = "stopped"
        if reason == "failsafe":
            status = "failsafe"
        elif reason == "max_seconds":
            status = "max_seconds"
        return self._result(status, reason)

    def _ending(self, record: StepRecord) -> RunResult | None:
        """The result if the run ends after this step, else None."""
        last = record.model_actions[-1] if record.model_actions else None
        action = last if record.outcome in CARRIED_OUT else None  # a final answer was reached
        if stopped := self._stopped():
            return stopped
        if isinstance(action, Finished):
            return self._result("finished", self._mask(action.answer))
        if isinstance(action, CallUser):
            return self._result("call_user", self._mask(action.question))
        if record.outcome == "rejected":
            return self._result("rejected", f"step {record.number}: the user rejected the action")
        if record.outcome == "failed":
            return self._result("malformed_output", record.error or "")
        if record.number >= self.config.max_steps:
            return self._result("max_steps", f"stopped after {plural(record.number, 'step')}")
        return None

    def _past_steps(self, state: _Run) -> list[PastStep]:
        shown = self.config.history
        past = []
        for i, (output, action, shot) in enumerate(state.history):
            recent = i >= len(state.history) - shown
            past.append(PastStep(output, action, shot.image if recent and shot else None))
        return past

    def _task_for_model(self, task: str) -> str:
        if not self.secrets:
            return task
        names = ", ".join("{{" + name + "}}" for name in self.secrets)
        return f"{task}\n(To type a secret, write its name exactly: {names}.)"

    def _start_hotkey(self, stop: StopSwitch) -> Hotkey | None:
        combo = self.config.kill_hotkey
        if combo is None:
            return None
        try:
            make = GlobalHotkey if self.desktop is None else self.desktop.hotkey
            hotkey = make(combo, lambda: stop.trip(f"kill hotkey {combo}"))
            hotkey.start()
        except HotkeyError as error:
            if self.config.mode == "dry-run":
                log.warning("kill hotkey unavailable (dry-run, nothing is performed): %s", error)
                return None
            others = X11_STOPS if self.desktop is None else self.desktop.other_stops
            raise AgentError(kill_hotkey_refusal(error, others)) from error
        return hotkey

    def _header(self, task: str) -> RunHeader:
        return RunHeader(
            task=self._mask(task),
            model=self.backend.name,
            model_type=self.backend.model_type,
            parser=self.parser.name,
            config=dataclasses.asdict(self.config),
            secrets=sorted(self.secrets),
            started=time.time(),
        )

    def _result(self, status: RunStatus, answer: str) -> RunResult:
        state = self._require_run()
        folder = None if state.writer is None else str(state.writer.folder)
        return RunResult(status, answer, list(state.records), folder)

    def _mask(self, text: str) -> str:
        return redact(text, self.secrets.values())

    def _require_run(self) -> _Run:
        if self._run is None:
            raise AgentError("no run in progress; call begin(task) or run(task)")
        return self._run


def _add(timings: dict[str, float], key: str, seconds: float) -> None:
    timings[key] = timings.get(key, 0.0) + seconds


def kill_hotkey_refusal(error: HotkeyError, others: str) -> str:
    """Why a run that drives will not start without its kill hotkey, and what still stops it."""
    return (
        f"{error} — to run without the kill hotkey pass kill_hotkey=None "
        f"(CLI: --no-kill-hotkey); {others}"
    )
