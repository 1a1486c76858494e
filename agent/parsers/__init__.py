"""Output conventions: each model family's prompt layout and strict one-action parser.

    parser = get_parser(parser_for_model(model_type, model_id))
    prompt = parser.build_prompt(task, history, screenshot, model_input)
    action = parser.parse(answer)  # ParseError / CoordinateError on anything else

Registered names and the coordinate space of the points they emit: "uitars" (pixels),
"uitars-v1" (0..1000), "qwen2.5-computer" (pixels), "qwen3-computer" (0..1000), "showui" (0..1),
"osatlas" (0..1000).
"""

from agent.messages import PastStep, Prompt
from agent.parsers.base import Parser
from agent.parsers.registry import PARSERS, get_parser, parser_for_model

__all__ = ["PARSERS", "Parser", "PastStep", "Prompt", "get_parser", "parser_for_model"]
