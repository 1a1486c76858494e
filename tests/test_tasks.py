"""Task files: a full file, defaults, and every kind of mistake named with file and key."""

from __future__ import annotations

import pytest

from agent.backends.spec import open_backend
from agent.errors import ModelError, TaskFileError
from agent.settings import Settings, load_task_file
from pixelprune import PruneConfig

FULL = """
task = "Open the settings"

[model]
scripted = "outputs.json"
family = "qwen3"
parser = "qwen3-computer"

[prune]
method = "raster"
tau = 0.02

[run]
mode = "auto"
max_steps = 7
max_seconds = 90
history = 1
monitor = "mouse"
desktop = "wlroots"
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
    assert spec.agent.prune == PruneConfig(method="raster", tau=0.02)
    assert (spec.agent.mode, spec.agent.max_steps, spec.agent.max_seconds) == ("auto", 7, 90)
    assert spec.agent.capture.monitor == "mouse" and spec.agent.history == 1
    assert spec.agent.kill_hotkey == "ctrl+alt+k" and spec.agent.desktop == "wlroots"
    assert spec.agent.record_to == str(tmp_path / "runs")
    nested = tmp_path / "examples" / "one"
    nested.mkdir(parents=True)
    (nested / "task.toml").write_text(
        'task = "t"\n[model]\nscripted = "a.json"\n[run]\nrecord_to = "../../runs"\n'
    )
    assert Settings.from_toml(nested / "task.toml").agent.record_to == str(tmp_path / "runs")
    assert spec.secrets == {"password": "hunter2"}


def test_a_missing_script_is_named_where_it_was_looked_for(tmp_path):
    folder = tmp_path / "tasks"
    folder.mkdir()
    task = write(folder, 'task = "x"\n[model]\nscripted = "nope.json"\n')
    spec = load_task_file(task)
    assert spec.model.scripted == str(folder / "nope.json")
    with pytest.raises(ModelError, match="cannot read the script") as error:
        open_backend(spec.model)
    assert str(folder / "nope.json") in str(error.value)


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
        ('task = "x"\n[model]\npath = "m"\n[run]\ndesktop = "mir"\n', "desktop must be one of"),
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


def test_vision_settings_of_a_local_model(tmp_path):
    text = 'task = "x"\n[model]\npath = "m"\nquantize_vision = true\nvision_cache = false\n'
    spec = load_task_file(write(tmp_path, text)).model
    assert spec.quantize_vision is True and spec.vision_cache is False
    plain = load_task_file(write(tmp_path, 'task = "x"\n[model]\npath = "m"\n')).model
    assert plain.quantize_vision is False and plain.vision_cache is True


def test_a_pruning_setting_select_would_refuse_is_refused_on_load(tmp_path):
    text = 'task = "x"\n[model]\npath = "m"\n[prune]\nmethod = "global"\ntau = 0.02\n'
    with pytest.raises(TaskFileError, match="exact duplicates only") as error:
        load_task_file(write(tmp_path, text))
    assert "task.toml" in str(error.value)


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(TaskFileError, match="cannot read task file"):
        load_task_file(tmp_path / "nope.toml")


def test_a_model_server_with_its_key_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_SERVER_KEY", "sk-from-env")
    text = (
        'task = "x"\n[model]\nserver = "http://gpu-box:8000/v1"\n'
        'server_model = "ByteDance-Seed/UI-TARS-1.5-7B"\napi_key_env = "TEST_SERVER_KEY"\n'
        "max_pixels = 1003520\ntimeout = 60\n"
    )
    spec = load_task_file(write(tmp_path, text)).model
    assert spec.server == "http://gpu-box:8000/v1"
    assert spec.server_model == "ByteDance-Seed/UI-TARS-1.5-7B" and spec.api_key == "sk-from-env"
    assert (spec.max_pixels, spec.min_pixels, spec.timeout, spec.path) == (1003520, None, 60, None)
    assert spec.family is None  # inferred from the model id when the backend opens
    assert "sk-from-env" not in repr(spec)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ('server = "http://h/v1"\napi_key_env = "UNSET_TEST_KEY_VARIABLE"', "is not set"),
        ('server = "http://h/v1"\napi_key = "sk-in-clear"', "unknown key model.api_key"),
        ('server = "http://h/v1"\npath = "m"', "exactly one of"),
        ('path = "m"\nserver_model = "x"', "only apply to a model server"),
        ('server = "http://h/v1"\nfamily = "qwen4"', "unknown model family"),
        ('server = "http://h/v1"\nvision_cache = false', "only apply to a local model"),
        ('scripted = "o.json"\nquantize_vision = true', "only apply to a local model"),
        ('path = "m"\nvision_cache = "no"', "vision_cache"),
    ],
)
def test_server_mistakes_name_the_file(tmp_path, monkeypatch, model, message):
    monkeypatch.delenv("UNSET_TEST_KEY_VARIABLE", raising=False)
    with pytest.raises(TaskFileError, match=message) as error:
        load_task_file(write(tmp_path, f'task = "x"\n[model]\n{model}\n'))
    assert "task.toml" in str(error.value) and "sk-in-clear" not in str(error.value)
