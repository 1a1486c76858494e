"""Run folders: durable per step, readable after a crash, secrets masked, actions round-trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from agent.actions import Click, Drag, Hotkey, Point, Scroll, Space, TypeText
from agent.capture import Screenshot
from agent.coords import Frame, Monitor
from agent.errors import AgentError
from agent.records import (
    Attempt,
    RunResult,
    StepRecord,
    action_from_dict,
    action_to_dict,
    frame_from_dict,
    frame_to_dict,
)
from agent.trajectory import RunWriter, load_run, new_run_dir
from pixelprune import select

MONITOR = Monitor(1920, 0, 64, 48, index=2)


def record(number: int, *, secret: str = "") -> StepRecord:
    image = Image.new("RGB", (64, 48), "white")
    image.paste((200, 0, 0), (10, 10, 30, 20))
    action = TypeText(text=f"pw {secret}", raw=f"type(content='pw {secret}')", thought="t")
    return StepRecord(
        number,
        1000.0 + number,
        frame=Frame(MONITOR, (64, 48), (56, 56)),
        attempts=[Attempt(f"type(content='pw {secret}')", None, {"vision": 0.5}, 40, 12, 5)],
        model_action=action,
        action=action,
        outcome="performed",
        timings={"capture": 0.01, "total": 1.0},
        screenshot=Screenshot(image, MONITOR, 0.01),
        selection=select(np.asarray(image)[:48, :56], cell=8),
    )


def test_steps_round_trip_with_images_and_masks(tmp_path):
    writer = RunWriter(tmp_path / "run", {"task": "t", "parser": "uitars"})
    for n in (1, 2):
        writer.add(record(n))
    writer.finish(RunResult("finished", "ok", [record(1), record(2)]))
    run = load_run(tmp_path / "run")
    assert [s["number"] for s in run.steps] == [1, 2]
    assert run.result == {"status": "finished", "answer": "ok", "steps": 2}
    step = run.steps[0]
    assert run.screenshot(step).size == (64, 48)
    mask = run.mask(step)
    assert mask.shape == (6, 7) and mask.sum() == step["selection"]["kept"]
    assert (step["image_tokens_full"], step["image_tokens_kept"]) == (12, 5)
    assert frame_from_dict(step["frame"]) == record(1).frame


def test_a_crash_mid_write_loses_no_finished_step(tmp_path):
    writer = RunWriter(tmp_path / "run", {"task": "t"})
    writer.add(record(1))
    with open(tmp_path / "run" / "steps.jsonl", "a") as steps:
        steps.write('{"number": 2, "attem')  # the process died here
    run = load_run(tmp_path / "run")
    assert [s["number"] for s in run.steps] == [1] and run.result is None


def test_a_corrupt_middle_line_is_an_error(tmp_path):
    folder = tmp_path / "run"
    RunWriter(folder, {"task": "t"}).add(record(1))
    lines = (folder / "steps.jsonl").read_text()
    (folder / "steps.jsonl").write_text("{oops\n" + lines)
    with pytest.raises(AgentError, match="not valid JSON"):
        load_run(folder)
    with pytest.raises(AgentError, match="not a run folder"):
        load_run(tmp_path)


def test_secret_values_never_reach_the_disk(tmp_path):
    writer = RunWriter(tmp_path / "run", {"task": "log in with hunter2"}, secrets=("hunter2",))
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
