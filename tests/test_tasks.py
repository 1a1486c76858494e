"""Task files: a full file, defaults, and every kind of mistake named with file and key."""

from __future__ import annotations

import pytest

from agent.backends.base import PruneConfig
from agent.errors import TaskFileError
from agent.tasks import load_task_file

FULL = """
task = "Open the settings"

[model]
scripted = "outputs.json"
family = "qwen3"
parser = "qwen3-computer"

[prune]
method = "global"
tau = 0.02

[run]
mode = "auto"
max_steps = 7
max_seconds = 90
history = 1
monitor = "mouse"
kill_hotkey = "ctrl+alt+k"
record_to = "runs"

[secrets]
password = "hunter2"
"""


def write(tmp_path, text: str):
    path = tmp_path / "task.toml"
    path.write_text(text)
    return path


def test_a_full_task_file(tmp_path):
    (tmp_path / "outputs.json").write_text("[]")
    spec = load_task_file(write(tmp_path, FULL))
    assert spec.task == "Open the settings"
    assert spec.model.scripted == str(tmp_path / "outputs.json")
    assert spec.model.family == "qwen3" and spec.agent.parser == "qwen3-computer"
    assert spec.agent.prune == PruneConfig(method="global", tau=0.02)
    assert (spec.agent.mode, spec.agent.max_steps, spec.agent.max_seconds) == ("auto", 7, 90)
    assert spec.agent.capture.monitor == "mouse" and spec.agent.history == 1
    assert spec.agent.kill_hotkey == "ctrl+alt+k"
    assert spec.agent.record_to == str(tmp_path / "runs")
    assert spec.secrets == {"password": "hunter2"}


def test_defaults_are_safe(tmp_path):
    spec = load_task_file(write(tmp_path, 'task = "x"\n[model]\npath = "some/model"\n'))
    assert spec.agent.mode == "confirm" and spec.agent.kill_hotkey == "ctrl+shift+f12"
    assert spec.agent.prune == PruneConfig() and spec.model.quantization == "4bit"
    off = load_task_file(
        write(
            tmp_path,
            'task = "x"\n[model]\npath = "m"\nquantization = "none"\n'
            "[prune]\nenabled = false\n[run]\nkill_hotkey = false\n",
        )
    )
    assert off.agent.prune is None and off.model.quantization is None
    assert off.agent.kill_hotkey is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('task = "x"\n[model]\npath = "m"\n[run]\nmax_step = 3\n', "unknown key run.max_step"),
        ('task = "x"\n[model]\npath = "m"\n[run]\nmax_steps = "3"\n', "run.max_steps must be"),
        ('task = "x"\n[model]\npath = "m"\n[run]\nmax_steps = true\n', "run.max_steps must be"),
        ('task = "x"\n[model]\npath = "m"\n[run]\nmode = "yolo"\n', "mode must be"),
        ('task = "x"\n[model]\npath = "m"\n[run]\nmax_steps = 0\n', "max_steps must be"),
        ('task = "x"\n[modle]\npath = "m"\n', "unknown key"),
        ('[model]\npath = "m"\n', "'task' must be"),
        ('task = "x"\n[model]\n', "exactly one of"),
        ('task = "x"\n[model]\npath = "m"\n[secrets]\npin = 1234\n', "secret 'pin'"),
        ('task = "x"\n[model\n', "not valid TOML"),
        ('task = "x"\nmodel = 3\n', "must be a table"),
    ],
)
def test_mistakes_name_the_file_and_key(tmp_path, text, message):
    with pytest.raises(TaskFileError, match=message) as error:
        load_task_file(write(tmp_path, text))
    assert "task.toml" in str(error.value)


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(TaskFileError, match="cannot read task file"):
        load_task_file(tmp_path / "nope.toml")
