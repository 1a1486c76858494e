"""What every output convention provides: a prompt layout and a strict parser.

A `Parser` knows one model family's conventions: its system prompt, how the task, the action
history and previous screenshots are laid out as chat messages, and how to read one answer into
one `Action` (points in the model's space). `parse` raises `ParseError` on anything it cannot
read exactly: the loop shows the error to the model and asks again, it never guesses.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from PIL import Image

from agent.actions import Action, Space
from agent.messages import PastStep, Prompt

__all__ = ["Parser"]


class Parser(ABC):
    """One model family's prompt layout and output grammar."""

    name: ClassVar[str]
    space: ClassVar[Space]  # the coordinate space of the points this parser emits

    @abstractmethod
    def build_prompt(
        self,
        task: str,
        history: Sequence[PastStep],
        screenshot: Image.Image,
        model_input: tuple[int, int],
    ) -> Prompt:
        """Messages for the next step: task, history and the current screenshot (last image).

        `model_input` is the (width, height) the model's processor resizes the screenshot to:
        the resolution conventions with absolute pixels must tell the model.
        """

    @abstractmethod
    def parse(self, text: str) -> Action:
        """The one action in `text` (with `raw` and `thought` set); `ParseError` otherwise."""

    def correction(self, prompt: Prompt, output: str, error: str) -> Prompt:
        """The prompt again, followed by the bad answer and what was wrong with it."""
        note = (
            f"Your answer could not be used: {error}. Reply again with exactly one action in "
            "the required format."
        )
        messages = [
            *prompt.messages,
            {"role": "assistant", "content": [{"type": "text", "text": output}]},
            {"role": "user", "content": [{"type": "text", "text": note}]},
        ]
        return Prompt(messages, list(prompt.images))
