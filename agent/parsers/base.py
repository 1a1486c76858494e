"""What every output convention provides: a prompt layout and a strict parser.

A `Parser` knows one model family's conventions: its system prompt, how the task, the action
history and previous screenshots are laid out as chat messages, and how to read an answer into
actions (points in the model's space). It raises `ParseError` on anything it cannot read
exactly: the loop shows the error to the model and asks again, it never guesses.

Several actions in one answer (ShowUI plans, UI-TARS calls one after another, several Qwen tool
calls or OS-Atlas lines) follow one policy in every parser: `parse_all` returns them in order;
the agent performs them in that order, each mapped, confirmed and checked against the kill
switch like any action, and stops at the first that is not carried out. A final answer
(finished, call user) may only come last. `parse` (grounding evaluation) takes exactly one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from PIL import Image

from agent.actions import Action, Space
from agent.messages import PastStep, Prompt
from agent.parsers.common import expect_one

__all__ = ["Parser"]


class Parser(ABC):
    """One model family's prompt layout and output grammar."""

    name: ClassVar[str]
    space: ClassVar[Space]  # the coordinate space of the points this parser emits
    example: ClassVar[str]  # one well-formed answer, for error messages

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
    def parse_all(self, text: str) -> list[Action]:
        """Every action in `text`, in order (with `raw` and `thought` set); `ParseError` when
        any of them cannot be read, or a final answer is not the last."""

    def parse(self, text: str) -> Action:
        """The one action in `text`; several are a `ParseError` like none."""
        actions = self.parse_all(text)
        expect_one(len(actions), self.example)
        return actions[0]

    def grounding_prompt(self, instruction: str, screenshot: Image.Image) -> Prompt | None:
        """The model's own grounding prompt ("where is …?"), as its authors evaluate it on
        ScreenSpot, or None when it has none (the agent prompt is then the only one)."""
        return None

    def parse_grounding(self, text: str) -> Action:
        """The answer to `grounding_prompt`: one action aiming at the element."""
        return self.parse(text)

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
