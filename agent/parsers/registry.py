"""The output conventions by name (`PARSERS`), and the default one for a model.

`parser_for_model` is `agent.models.convention_for_model`: which convention a model id or
`model_type` implies is a fact about models, asked by backends too.
"""

from __future__ import annotations

from agent.errors import AgentError
from agent.models import convention_for_model as parser_for_model
from agent.parsers.base import Parser
from agent.parsers.osatlas import OSAtlasParser
from agent.parsers.qwen_tools import Qwen3ComputerParser, Qwen25ComputerParser
from agent.parsers.showui import ShowUIParser
from agent.parsers.uitars import UITarsParser, UITarsV1Parser

__all__ = ["PARSERS", "get_parser", "parser_for_model"]

PARSERS: dict[str, type[Parser]] = {
    parser.name: parser
    for parser in (
        UITarsParser,
        UITarsV1Parser,
        Qwen25ComputerParser,
        Qwen3ComputerParser,
        ShowUIParser,
        OSAtlasParser,
    )
}


def get_parser(name: str) -> Parser:
    """A new parser for the named convention; an unknown name lists the known ones."""
    try:
        return PARSERS[name]()
    except (KeyError, TypeError):
        raise AgentError(
            f"unknown output convention {name!r}; choose one of: {', '.join(sorted(PARSERS))}"
        ) from None
