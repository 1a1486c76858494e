"""The one exception family of `agent`: each message says what is wrong and what to do."""


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
