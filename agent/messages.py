"""What a model is asked: chat messages with screenshots, and the earlier steps shown again.

Parsers lay a step out as a `Prompt`; backends answer one. Neither owns it, so both import it
from here:

    prompt = Prompt(messages=[{"role": "user", "content": [{"type": "image"}, ...]}],
                    images=[screenshot])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PIL import Image

from agent.actions import Action

__all__ = ["PastStep", "Prompt"]


@dataclass(frozen=True)
class PastStep:
    """One earlier step as the model should see it again."""

    output: str  # the model's raw answer at that step
    action: Action | None  # what it was parsed into (None if it could not be parsed)
    image: Image.Image | None  # that step's screenshot, or None once it is beyond `history`


@dataclass(frozen=True)
class Prompt:
    """Chat messages whose image parts are `images`, in order."""

    messages: list[dict[str, Any]]
    images: list[Image.Image]
