"""One settings model: defaults in one place, one override rule for the CLI, the app and files."""

from __future__ import annotations

import pytest

from agent.errors import AgentError, ModelError, TaskFileError
from agent.settings import AgentConfig, ModelSpec, Settings
from pixelprune import PruneConfig

SERVER = {"server": "http://a/v1", "server_model": "m", "api_key": "sk-a", "timeout": 9.0}


def test_for_task_takes_every_setting_by_its_one_name():
    settings = Settings.for_task(
        "Click OK", scripted="o.json", family="qwen3", mode="auto", max_steps=3, monitor="mouse"
    )
    assert settings.model == ModelSpec(scripted="o.json", family="qwen3")
    assert (settings.agent.mode, settings.agent.max_steps) == ("auto", 3)
    assert settings.agent.capture.monitor == "mouse"
    assert settings.agent.prune == PruneConfig() == AgentConfig().prune  # the one default


def test_an_unknown_setting_is_a_programming_error():
    with pytest.raises(TypeError, match="unknown setting"):
        Settings.for_task("x", scripted="o.json", max_step=3)
    with pytest.raises(TypeError, match="unknown setting"):
        Settings.for_task("x", scripted="o.json").with_overrides(moniter=2)


def test_a_new_model_source_replaces_the_old_one():
    local = Settings.for_task("x", path="m", quantize_vision=True, device_map="cpu")
    scripted = local.with_overrides(scripted="o.json")
    assert (scripted.model.path, scripted.model.scripted) == (None, "o.json")
    assert not scripted.model.quantize_vision and scripted.model.device_map == "auto"
    other = local.with_overrides(path="n")  # another local model keeps the local settings
    assert other.model.quantize_vision and other.model.device_map == "cpu"


def test_a_servers_key_never_goes_to_another_server():
    served = Settings.for_task("x", **SERVER)
    same = served.with_overrides(server="http://a/v1", max_steps=4)
    assert same.model == served.model and same.agent.max_steps == 4
    other = served.with_overrides(server="http://b/v1")
    assert (other.model.api_key, other.model.server_model, other.model.timeout) == (None,) * 3
    keyed = served.with_overrides(server="http://b/v1", api_key="sk-b")
    assert keyed.model.api_key == "sk-b"
    back = served.with_overrides(path="m")
    assert back.model.api_key is None and back.model.server is None


def test_settings_that_belong_to_another_source_are_refused():
    with pytest.raises(ModelError, match="only apply to a model server"):
        Settings.for_task("x", path="m", api_key="sk")
    with pytest.raises(ModelError, match="only apply to a local model"):
        Settings.for_task("x", **SERVER).with_overrides(quantize_vision=True)
    with pytest.raises(ModelError, match="quantization must be one of"):
        ModelSpec(path="m", quantization="2bit")
    assert ModelSpec(path="m", quantization="none").quantization is None


def test_an_override_leaves_the_rest_and_the_original_alone():
    base = Settings.for_task("x", scripted="o.json", history=1, secrets={"pin": "1234"})
    changed = base.with_overrides(task="y", prune=None, kill_hotkey=None, monitor=2)
    assert (changed.task, changed.agent.prune, changed.agent.kill_hotkey) == ("y", None, None)
    assert changed.agent.capture.monitor == 2 and changed.agent.history == 1
    assert changed.secrets == {"pin": "1234"} and "1234" not in repr(changed)
    assert base.agent.prune == PruneConfig() and base.agent.capture.monitor == 1


def test_values_are_checked_on_every_path():
    with pytest.raises(AgentError, match="max_steps"):
        Settings.for_task("x", scripted="o.json").with_overrides(max_steps=0)
    with pytest.raises(AgentError, match="non-empty"):
        Settings.for_task("  ", scripted="o.json")


@pytest.mark.parametrize(
    "run",
    [
        'mode = "sk-live-0123456789"',
        'max_steps = "sk-live-0123456789"',
        "kill_hotkey = 12",
        'record_to = ["sk-live-0123456789"]',
    ],
)
def test_a_task_file_error_never_echoes_the_value(tmp_path, run):
    task = tmp_path / "task.toml"
    task.write_text(f'task = "x"\n[model]\npath = "m"\n[run]\n{run}\n')
    with pytest.raises(TaskFileError) as error:
        Settings.from_toml(task)
    assert "sk-live" not in str(error.value) and "task.toml" in str(error.value)


def test_a_key_put_where_its_variable_belongs_is_not_echoed(tmp_path):
    task = tmp_path / "task.toml"
    task.write_text('task = "x"\n[model]\nserver = "http://h/v1"\napi_key_env = "sk-live-0123"\n')
    with pytest.raises(TaskFileError, match="must name an environment variable") as error:
        Settings.from_toml(task)
    assert "sk-live" not in str(error.value)


def test_scripted_answers_tell_their_convention():
    from agent.backends.scripted import ScriptedBackend

    uitars = "Thought: x\nAction: click(start_box='(1,2)')"
    assert ScriptedBackend([uitars]).convention == "uitars"
    assert ScriptedBackend([uitars], family="qwen2").convention == "uitars-v1"
    tool = '<tool_call>{"name": "computer_use"}</tool_call>'
    assert ScriptedBackend([tool], family="qwen3").convention == "qwen3-computer"
    assert ScriptedBackend([uitars, tool]).convention is None  # mixed: the model's default
    assert ScriptedBackend([lambda prompt: uitars]).convention is None
