"""The output conventions by name, and the default one for a model.

`parser_for_model` looks at the model id or folder first, because fine-tunes keep their base
model's `model_type` while answering in their own convention (UI-TARS-1.5 is a `qwen2_5_vl`,
ShowUI and OS-Atlas are `qwen2_vl`), and falls back to the base model's own convention:

    ui-tars / uitars / ui_tars  → "uitars" (UI-TARS-1.5, pixels), or "uitars-v1" (0..1000) for
                                  the v1 releases: a `qwen2_vl` model, or an id with SFT/DPO and
                                  no "1.5" (UI-TARS-2B-SFT, UI-TARS-7B-DPO, UI-TARS-72B-SFT)
    showui                      → "showui"
    os-atlas / os_atlas / osatlas → "osatlas"
    otherwise by model_type: qwen2_5_vl → "qwen2.5-computer", qwen3_vl(_moe) → "qwen3-computer",
                             qwen2_vl → "osatlas" (Qwen2-VL has no computer-use tool format)

The whole path is searched, not only its last part, so Hugging Face cache folders
(`models--ByteDance-Seed--UI-TARS-1.5-7B/snapshots/<hash>`) are recognised.
"""

from __future__ import annotations

import re

from agent.errors import AgentError
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
_BY_MODEL_TYPE = {
    "qwen2_5_vl": "qwen2.5-computer",
    "qwen3_vl": "qwen3-computer",
    "qwen3_vl_moe": "qwen3-computer",
    "qwen2_vl": "osatlas",
}
_VERSION_15 = re.compile(r"1[._-]5")


def get_parser(name: str) -> Parser:
    """A new parser for the named convention; an unknown name lists the known ones."""
    try:
        return PARSERS[name]()
    except (KeyError, TypeError):
        raise AgentError(
            f"unknown output convention {name!r}; choose one of: {', '.join(sorted(PARSERS))}"
        ) from None


def parser_for_model(model_type: str, name_or_path: str) -> str:
    """The default convention for a model, from its id or folder, then its `model_type`."""
    name = name_or_path.lower()
    if any(marker in name for marker in ("ui-tars", "uitars", "ui_tars")):
        v1_name = ("sft" in name or "dpo" in name) and not _VERSION_15.search(name)
        return "uitars-v1" if model_type == "qwen2_vl" or v1_name else "uitars"
    if "showui" in name:
        return "showui"
    if any(marker in name for marker in ("os-atlas", "os_atlas", "osatlas")):
        return "osatlas"
    if model_type in _BY_MODEL_TYPE:
        return _BY_MODEL_TYPE[model_type]
    raise AgentError(
        f"no default output convention for model type {model_type!r} ({name_or_path}); "
        f"choose one of: {', '.join(sorted(PARSERS))}"
    )
