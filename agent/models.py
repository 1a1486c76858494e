"""What a model's id (or folder) and `model_type` tell: its output convention and its family.

    convention_for_model("qwen2_5_vl", "ByteDance-Seed/UI-TARS-1.5-7B")   # "uitars"

The id is looked at first, as fine-tunes keep their base model's `model_type` (UI-TARS-1.5 is a
`qwen2_5_vl`); then `model_type` gives the base model's convention. The whole path is searched,
so Hugging Face cache folders (`models--ByteDance-Seed--UI-TARS-1.5-7B/...`) are recognised.
Parsers (which implement the conventions) and backends (a server's model id) both ask here.
"""

from __future__ import annotations

import re

from agent.errors import AgentError

__all__ = [
    "CARD_PIXEL_BOUNDS",
    "CONVENTIONS",
    "DEFAULT_MODEL",
    "card_pixel_bounds",
    "convention_for_model",
    "convention_of_answers",
    "family_for_model",
]

# every output convention `agent.parsers` implements (its registry is checked against this)
# what `main.py pull` downloads and `LocalVLM.from_pretrained` loads when no model is named
DEFAULT_MODEL = "ByteDance-Seed/UI-TARS-1.5-7B"
CONVENTIONS = ("uitars", "uitars-v1", "qwen2.5-computer", "qwen3-computer", "showui", "osatlas")
_BY_MODEL_TYPE = {
    "qwen2_5_vl": "qwen2.5-computer",
    "qwen3_vl": "qwen3-computer",
    "qwen3_vl_moe": "qwen3-computer",
    "qwen2_vl": "osatlas",
}
# the base family of the fine-tunes recognised by name
_CONVENTION_FAMILY = {
    "uitars": "qwen2.5",
    "uitars-v1": "qwen2",
    "showui": "qwen2",
    "osatlas": "qwen2",
}
_VERSION_15 = re.compile(r"1[._-]5")
# (min, max) image pixels a model card runs its model at, where that differs from the bounds
# its folder's preprocessor config states (ShowUI's card: 256 to 1344 cells of 28 x 28 pixels,
# 1344x756 for a 1080p screen, against the folder's 12.8 MP)
CARD_PIXEL_BOUNDS = {"showui": (256 * 28 * 28, 1344 * 28 * 28)}


def convention_for_model(model_type: str, name_or_path: str) -> str:
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
        f"choose one of: {', '.join(sorted(CONVENTIONS))}"
    )


def family_for_model(model: str) -> str | None:
    """The Qwen-VL family a model id or path names, or None when it does not tell.

    Base models name theirs; fine-tunes are recognised by their convention's markers
    (UI-TARS-1.5 is Qwen2.5-VL; UI-TARS v1, ShowUI and OS-Atlas are Qwen2-VL).
    """
    name = model.lower().replace("_", "-")
    if "qwen3" in name:
        return "qwen3"
    if any(marker in name for marker in ("qwen2.5", "qwen2-5", "qwen25")):
        return "qwen2.5"
    if any(marker in name for marker in ("qwen2-vl", "qwen2vl")):
        return "qwen2"
    try:
        convention = convention_for_model("", model)
    except AgentError:
        return None
    return _CONVENTION_FAMILY.get(convention)


def card_pixel_bounds(model_type: str, name_or_path: str) -> tuple[int, int] | None:
    """The pixel bounds the model's card runs it at, when they are not its folder's."""
    try:
        return CARD_PIXEL_BOUNDS.get(convention_for_model(model_type, name_or_path))
    except AgentError:
        return None


_ANSWER_MARKS = (  # what an answer looks like, per convention (the first that matches wins)
    (re.compile(r"<tool_call>"), "qwen-computer"),
    (re.compile(r"(?:^|\s)Action\s*[:：]\s*[a-z_]+\("), "uitars"),
    (re.compile(r"^\s*\[?\s*\{\s*['\"]action['\"]\s*:"), "showui"),
    (re.compile(r"(?im)^[ \t*#]*actions?[ \t*]*:|^[A-Z_]+ <point>\[\["), "osatlas"),
)


def convention_of_answers(answers: list[str], family: str) -> str | None:
    """The convention scripted answers are written in, when they all agree (else None), for a
    model of `family`: UI-TARS answers are "uitars" (v1 on qwen2), tool calls the family's."""
    found = set()
    for answer in answers:
        kind = next((name for mark, name in _ANSWER_MARKS if mark.search(answer)), None)
        if kind is None:
            return None
        found.add(kind)
    if len(found) != 1:
        return None
    kind = found.pop()
    if kind == "qwen-computer":
        return "qwen3-computer" if family == "qwen3" else "qwen2.5-computer"
    if kind == "uitars" and family == "qwen2":
        return "uitars-v1"
    return kind
