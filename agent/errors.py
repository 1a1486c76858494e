"""The one exception family of `agent`: each message says what is wrong and what to do."""

from PIL import Image, UnidentifiedImageError

# What PIL raises for bytes it cannot decode: unknown format, truncated or corrupt data (OSError,
# and SyntaxError/EOFError from some format plugins), bad header values, or too many pixels.
UNREADABLE_IMAGE = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    EOFError,
    ValueError,
    Image.DecompressionBombError,
)


class AgentError(Exception):
    """Base of every error the agent runtime raises on purpose."""


class ModelError(AgentError):
    """A model cannot be used; subclasses say why."""


class ModelNotFoundError(ModelError):
    """No model at the given path, and none under that id in the local Hugging Face cache."""


class IncompleteModelError(ModelError):
    """The model folder lacks files it needs (config, weight shards, tokenizer, processor)."""


class UnsupportedModelError(ModelError):
    """The folder holds a model of an architecture this runtime cannot prune and drive."""


class ActionError(AgentError):
    """A model answer cannot become an action: malformed, ambiguous or out of range.

    The loop records it, shows it to the model and asks again (a bounded number of times);
    it is never guessed into a click.
    """


class ParseError(ActionError):
    """The model's text does not follow the parser's output convention."""


class CoordinateError(ActionError):
    """A coordinate lies outside the image the model saw, or outside the target monitor."""


class CaptureError(AgentError):
    """The screen cannot be captured: no display, or no monitor with that index."""


class ExecutionError(AgentError):
    """An action could not be carried out on the screen."""


class TaskFileError(AgentError):
    """A task file is missing, not valid TOML, or has unknown or ill-typed keys."""


class HotkeyError(AgentError):
    """The global kill hotkey cannot be set up: no X11 display, an unknown key name, or a combo
    another program already holds. FAILSAFE (mouse to a screen corner) and stop() still work."""
