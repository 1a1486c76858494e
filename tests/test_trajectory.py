"""Run folders: written in order off the agent's thread, readable after a crash, secrets masked,
actions round-trip; a write failure is a clear error, never lost."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fakes import FakeScreen, StillCapture
from PIL import Image, ImageChops

from agent import trajectory
from agent.actions import Click, Drag, Hotkey, Point, Scroll, Space, TypeText
from agent.backends.scripted import ScriptedBackend
from agent.capture import Screenshot
from agent.coords import Frame, Monitor
from agent.errors import AgentError
from agent.events import RunFinished, StepStarted
from agent.loop import Agent
from agent.records import (
    Attempt,
    RunHeader,
    RunResult,
    StepRecord,
    action_from_dict,
    action_to_dict,
    frame_from_dict,
    frame_to_dict,
)
from agent.trajectory import QUEUE_STEPS, RunWriter, load_run, new_run_dir, save_png
from pixelprune import select

MONITOR = Monitor(1920, 0, 64, 48, index=2)


def record(number: int, *, secret: str = "") -> StepRecord:
    """A step whose screenshot (and so its mask) differs from every other step's."""
    image = Image.new("RGB", (64, 48), "white")
    image.paste((200, 0, 0), (10, 10, 30, 20))
    noise = np.random.default_rng(number).integers(0, 256, (8, 8 * number % 56 + 8, 3))
    image.paste(Image.fromarray(noise.astype(np.uint8)), (0, 32))
    action = TypeText(text=f"pw {secret}", raw=f"type(content='pw {secret}')", thought="t")
    return StepRecord(
        number,
        1000.0 + number,
        frame=Frame(MONITOR, (64, 48), (56, 56)),
        attempts=[Attempt(f"type(content='pw {secret}')", None, {"vision": 0.5}, 40, 12, 5)],
        model_actions=[action],
        actions=[action],
        outcome="performed",
        timings={"capture": 0.01, "total": 1.0},
        screenshot=Screenshot(image, MONITOR, 0.01),
        selection=select(np.asarray(image)[:48, :56], cell=8),
    )


def header(task: str = "t") -> RunHeader:
    return RunHeader(task, "scripted", None, "uitars", {}, [], 1000.0)


def same(loaded: StepRecord, written: StepRecord) -> bool:
    """Equal but for the screenshot (opened on demand) and the selection's run-time extras."""
    return loaded.to_dict() == written.to_dict() and loaded.screenshot is None


def test_steps_round_trip_with_images_and_masks(tmp_path):
    writer = RunWriter(tmp_path / "run", header())
    for n in (1, 2):
        writer.add(record(n))
    writer.finish(RunResult("finished", "ok", [record(1), record(2)]))
    run = load_run(tmp_path / "run")
    assert [s.number for s in run.steps] == [1, 2]
    assert (run.result.status, run.result.answer, run.result.steps) == ("finished", "ok", run.steps)
    assert run.header == header() and run.lost is None
    step = run.steps[0]
    assert same(step, record(1)) and step.task == "t"
    assert run.screenshot(step).size == (64, 48)
    mask = run.mask(step)
    assert (
        mask.shape == (6, 7) and mask.sum() == step.selection.n_kept == record(1).selection.n_kept
    )
    assert step.image_tokens == (12, 5) and step.frame == record(1).frame


def test_every_step_reads_back_identical_and_in_order(tmp_path):
    """More steps than the queue holds; each step's images are on disk before its line."""
    written = []

    def save(image, path):
        lines = (path.parent / "steps.jsonl").read_text().count("\n")
        written.append((path.name, lines))
        save_png(image, path)

    steps = [record(n) for n in range(1, 3 * QUEUE_STEPS + 2)]
    writer = RunWriter(tmp_path / "run", header(), save_image=save)
    for step in steps:
        writer.add(step)
    writer.finish(RunResult("finished", "ok", steps))
    run = load_run(tmp_path / "run")
    assert written == [
        (f"step-{n:03d}{kind}.png", n - 1)
        for n in range(1, len(steps) + 1)
        for kind in ("", "-mask")
    ]
    assert [s.number for s in run.steps] == [s.number for s in steps]
    for line, step in zip(run.steps, steps, strict=True):
        assert same(line, step)
        shot = run.screenshot(line)
        assert shot.mode == "RGB"
        assert ImageChops.difference(shot, step.screenshot.image).getbbox() is None
        assert np.array_equal(run.mask(line), step.selection.keep)


def test_what_is_written_is_the_record_as_it_was_added(tmp_path):
    gate = threading.Event()
    writer = RunWriter(tmp_path / "run", header(), save_image=_held(gate))
    step = record(1)
    expected = record(1)
    writer.add(step)
    step.timings["total"] = 99.0  # the loop's dicts and lists, changed after add()
    step.attempts.append(step.attempts[0])
    step.outcome = "changed"
    gate.set()
    writer.finish(RunResult("finished", "ok", [step]))
    [loaded] = load_run(tmp_path / "run").steps
    assert same(loaded, expected)


def test_add_returns_before_the_encoding_and_finish_waits_for_it(tmp_path):
    gate = threading.Event()
    writer = RunWriter(tmp_path / "run", header(), save_image=_held(gate))
    steps_file = tmp_path / "run" / "steps.jsonl"
    for n in range(1, QUEUE_STEPS + 2):  # one being written, QUEUE_STEPS waiting
        writer.add(record(n))
    assert steps_file.read_text() == "" and not list((tmp_path / "run").glob("*.png"))
    blocked = threading.Thread(target=writer.add, args=(record(QUEUE_STEPS + 2),))
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive()  # a full queue makes add() wait: memory stays bounded
    threading.Timer(0.2, gate.set).start()
    start = time.perf_counter()
    writer.finish(RunResult("finished", "ok", []))
    assert time.perf_counter() - start >= 0.15
    blocked.join(5)
    assert not blocked.is_alive()
    run = load_run(tmp_path / "run")
    assert [s.number for s in run.steps] == list(range(1, QUEUE_STEPS + 3))
    assert run.result is not None
    with pytest.raises(AgentError, match="already finished"):
        writer.add(record(9))


def test_a_failed_write_is_raised_never_lost(tmp_path):
    writer = RunWriter(tmp_path / "run", header(), save_image=_failing_at("step-002.png"))
    writer.add(record(1))
    writer.add(record(2))
    with pytest.raises(AgentError, match=r"cannot write step 2 to the run folder .*disk full"):
        writer.flush()
    with pytest.raises(AgentError, match="cannot write step 2"):
        writer.add(record(3))  # a step that cannot be recorded is an error too
    writer.finish(RunResult("finished", "ok", []))  # already reported: closes quietly
    run = load_run(tmp_path / "run")
    assert [s.number for s in run.steps] == [1] and run.result is None
    assert sorted(p.name for p in run.folder.glob("*.png")) == ["step-001-mask.png", "step-001.png"]


def test_a_failed_write_is_raised_by_the_next_add(tmp_path):
    writer = RunWriter(tmp_path / "run", header(), save_image=_failing_at("step-001-mask.png"))
    writer.add(record(1))
    with pytest.raises(AgentError, match="cannot write step 1"):
        for n in range(2, 200):  # the writer thread fails soon; every add after that raises
            writer.add(record(n))
            time.sleep(0.02)
    with pytest.raises(AgentError, match="cannot write step 1"):
        writer.add(record(300))
    assert load_run(tmp_path / "run").steps == []


def test_a_failed_last_write_is_raised_by_finish(tmp_path):
    writer = RunWriter(tmp_path / "run", header(), save_image=_failing_at("step-002.png"))
    writer.add(record(1))
    writer.add(record(2))
    with pytest.raises(AgentError, match=r"cannot write step 2.*disk full"):
        writer.finish(RunResult("finished", "ok", []))
    run = load_run(tmp_path / "run")
    assert [s.number for s in run.steps] == [1] and run.result is None


def test_a_crash_mid_write_loses_no_finished_step(tmp_path):
    writer = RunWriter(tmp_path / "run", header())
    writer.add(record(1))
    writer.flush()
    with open(tmp_path / "run" / "steps.jsonl", "a") as steps:
        steps.write('{"number": 2, "attem')  # the process died here
    run = load_run(tmp_path / "run")
    assert [s.number for s in run.steps] == [1] and run.result is None
    assert run.lost == "step 2 was cut off (torn last line)"


def finished_run(folder, steps: int):
    """A run folder of `steps` whole steps whose result.json counts them."""
    writer = RunWriter(folder, header())
    records = [record(n) for n in range(1, steps + 1)]
    for step in records:
        writer.add(step)
    writer.finish(RunResult("finished", "ok", records))
    return folder


def test_steps_lost_at_a_line_boundary_are_named_by_result_json(tmp_path):
    folder = finished_run(tmp_path / "run", 4)
    lines = (folder / "steps.jsonl").read_text().splitlines(keepends=True)
    (folder / "steps.jsonl").write_text("".join(lines[:2]))
    run = load_run(folder)
    assert [s.number for s in run.steps] == [1, 2] and run.result.status == "finished"
    assert run.lost == "steps 3-4 are missing (result.json counts 4)"
    (folder / "steps.jsonl").write_text("".join(lines[:3]) + lines[3][:20])
    assert load_run(folder).lost == "step 4 was cut off (torn last line)"
    (folder / "steps.jsonl").write_text("".join(lines[:3]))
    assert load_run(folder).lost == "step 4 is missing (result.json counts 4)"


def test_a_missing_steps_file_is_named(tmp_path):
    folder = finished_run(tmp_path / "run", 2)
    (folder / "steps.jsonl").unlink()
    run = load_run(folder)
    assert (
        run.steps == []
        and run.lost == "no steps.jsonl; steps 1-2 are missing (result.json counts 2)"
    )
    (folder / "result.json").unlink()
    assert load_run(folder).lost == "no steps.jsonl"


def test_replay_of_an_incomplete_record_warns_and_fails(tmp_path, capsys):
    from main import main

    result = _agent([CLICK, CLICK, FINISH], tmp_path / "runs").run("t")
    folder = Path(result.run_dir)
    assert main(["replay", str(folder)]) == 0
    assert "warning" not in capsys.readouterr().err
    lines = (folder / "steps.jsonl").read_text().splitlines(keepends=True)
    (folder / "steps.jsonl").write_text("".join(lines[:2]) + lines[2][:30])
    assert main(["replay", str(folder), "--json", str(tmp_path / "replay.json")]) == 1
    printed = capsys.readouterr()
    assert "step 2: left click" in printed.out and "step 3" not in printed.out  # what is whole
    assert "finished: done" in printed.out
    assert printed.err.splitlines() == [
        "warning: the record is incomplete: step 3 was cut off (torn last line)"
    ]
    verdict = json.loads((tmp_path / "replay.json").read_text())
    assert verdict["lost"] == "step 3 was cut off (torn last line)" and len(verdict["steps"]) == 2


def test_a_corrupt_middle_line_is_an_error(tmp_path):
    folder = tmp_path / "run"
    writer = RunWriter(folder, header())
    writer.add(record(1))
    writer.finish(RunResult("finished", "ok", []))
    lines = (folder / "steps.jsonl").read_text()
    (folder / "steps.jsonl").write_text("{oops\n" + lines)
    with pytest.raises(AgentError, match="not valid JSON"):
        load_run(folder)
    with pytest.raises(AgentError, match="not a run folder"):
        load_run(tmp_path)


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ('{"number": 1}', "no 'started' field"),
        (
            '{"number": 1, "started": 0, "action": {"type": "Teleport"}}',
            "unknown action type 'Teleport'",
        ),
        ("[1, 2]", "found an array, not an object: [1, 2]"),
        ('"step 1"', 'found a string, not an object: "step 1"'),
        ('{"number": 1, "started": 0, "timings": [1]}', "a field holds the wrong kind of value"),
    ],
)
def test_a_line_that_is_no_step_record_is_an_error_saying_what_it_found(tmp_path, line, found):
    folder = tmp_path / "run"
    writer = RunWriter(folder, header())
    writer.add(record(1))
    writer.finish(RunResult("finished", "ok", []))
    lines = (folder / "steps.jsonl").read_text()
    (folder / "steps.jsonl").write_text(line + "\n" + lines)
    with pytest.raises(AgentError) as raised:
        load_run(folder)
    message = str(raised.value)
    assert f"steps.jsonl:1 is not a step record: {found}" in message
    assert "Error(" not in message


def test_a_run_json_that_is_no_object_says_what_it_found(tmp_path):
    folder = finished_run(tmp_path / "run", 1)
    (folder / "run.json").write_text("[]")
    with pytest.raises(AgentError, match=r"run.json is not what a run writes: found an array"):
        load_run(folder)
    (folder / "run.json").write_text("{}")
    with pytest.raises(AgentError, match=r"run.json is not what a run writes: no 'task' field"):
        load_run(folder)


def test_secret_values_never_reach_the_disk(tmp_path):
    writer = RunWriter(tmp_path / "run", header("log in with hunter2"), secrets=("hunter2",))
    writer.add(record(1, secret="hunter2"))
    writer.finish(RunResult("finished", "typed hunter2", []))
    for path in (tmp_path / "run").iterdir():
        if path.suffix in (".json", ".jsonl"):
            assert "hunter2" not in path.read_text(), path.name


def test_actions_and_frames_round_trip_through_json():
    actions = [
        Click(point=Point(1, 2, Space.SCREEN), button="middle", count=3, raw="r", thought="t"),
        Drag(start=Point(0.1, 0.2, Space.NORM_1), end=Point(3, 4, Space.NORM_1)),
        Hotkey(keys=("ctrl", "shift", "t")),
        Scroll(direction="up", amount=3),
    ]
    for action in actions:
        assert action_from_dict(json.loads(json.dumps(action_to_dict(action)))) == action
    frame = Frame(MONITOR, (128, 96), (112, 84))
    assert frame_from_dict(json.loads(json.dumps(frame_to_dict(frame)))) == frame


def test_run_folder_names_are_unique_and_readable(tmp_path):
    first = new_run_dir(tmp_path, "Open the Settings!")
    first.mkdir()
    second = new_run_dir(tmp_path, "Open the Settings!")
    assert first.name.endswith("open-the-settings") and second != first


def test_a_run_whose_folder_fails_mid_run_ends_with_a_clear_error(tmp_path, monkeypatch):
    failed = threading.Event()
    monkeypatch.setattr(trajectory, "save_png", _failing_at("step-001.png", failed))
    agent = _agent([CLICK, CLICK, FINISH], tmp_path)

    def before_step_2(event):
        if isinstance(event, StepStarted) and event.number == 2:
            writer = agent._run.writer
            deadline = time.monotonic() + 5
            while writer._error is None and time.monotonic() < deadline:
                failed.wait(0.01)  # until the writer thread has stored its error

    agent.events.subscribe(before_step_2)
    result = agent.run("t")
    assert result.status == "error" and "cannot write step 1" in result.answer
    assert "disk full" in result.answer and len(result.steps) == 2
    assert load_run(result.run_dir).steps == []
    monkeypatch.setattr(trajectory, "save_png", save_png)
    agent.backend._outputs = [FINISH]
    assert agent.run("t").status == "finished"  # the agent was left ready for the next run


def test_a_run_whose_last_step_cannot_be_written_raises_and_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(trajectory, "save_png", _failing_at("step-001.png"))
    agent = _agent([FINISH], tmp_path)
    ended = []
    agent.events.subscribe(lambda event: isinstance(event, RunFinished) and ended.append(event))
    with pytest.raises(AgentError, match="cannot write step 1 to the run folder"):
        agent.run("t")
    assert [event.result.status for event in ended] == ["finished"]
    monkeypatch.setattr(trajectory, "save_png", save_png)
    agent.backend._outputs = [FINISH]
    result = agent.run("t")
    assert result.status == "finished" and len(load_run(result.run_dir).steps) == 1


CLICK = "Thought: open it\nAction: click(start_box='(10,10)')"
FINISH = "Thought: all done\nAction: finished(content='done')"


def _agent(outputs: list[str], runs) -> Agent:
    screen = Image.new("RGB", (320, 200), "white")
    return Agent(
        ScriptedBackend(outputs),
        screen_capture=StillCapture(screen),
        screen=FakeScreen(),
        mode="auto",
        kill_hotkey=None,
        parser="uitars",
        record_to=str(runs),
    )


def _held(gate: threading.Event):
    """save_png that waits for `gate` first: a slow encoder or disk."""

    def save(image, path):
        gate.wait(5)
        save_png(image, path)

    return save


def _failing_at(name: str, failed: threading.Event | None = None):
    """save_png that fails with a disk error on the file `name`."""

    def save(image, path):
        if path.name == name:
            if failed is not None:
                failed.set()
            raise OSError(28, "disk full")
        save_png(image, path)

    return save
