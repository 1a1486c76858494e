"""`ScriptedBackend`: replays given model outputs, for tests, demos and replays.

It behaves like a model of the given family in everything but the words: it resizes screenshots
the same way (so absolute-pixel conventions map the same), prunes them when asked (so heatmaps
and kept shares are real), and reports the image token counts. It is never used silently: the
CLI only builds one from an explicit `--scripted FILE`, and trajectories record its name.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from agent.backends.base import (
    MODEL_TYPES,
    Backend,
    ModelReply,
    SelectionCache,
    input_size,
    select_cells,
)
from agent.errors import ModelError
from agent.messages import Prompt
from agent.models import convention_of_answers
from pixelprune import Family, PruneConfig, get_family

__all__ = ["KEEP_PROMPTS", "ScriptExhaustedError", "ScriptedBackend"]

KEEP_PROMPTS = 16


class ScriptExhaustedError(ModelError):
    """The script has no answer left for this call."""


class ScriptedBackend(Backend):
    """Answers with the next scripted output (a string, or a function of the prompt)."""

    def __init__(
        self,
        outputs: Iterable[str | Callable[[Prompt], str]],
        *,
        family: str | Family = "qwen2.5",
        delay: float = 0.0,
        name: str = "scripted",
        min_pixels: int | None = None,
        max_pixels: int | None = None,
    ) -> None:
        """`min_pixels`/`max_pixels`: resize bounds to mirror a model's (default: the family's)."""
        self.family = get_family(family)
        self.min_pixels = min_pixels or self.family.min_pixels
        self.max_pixels = max_pixels or self.family.max_pixels
        self.name = name
        self.model_type = MODEL_TYPES[self.family.name]
        self.delay = delay  # seconds each answer "takes", to exercise stop() mid-call
        # the last prompts asked, for tests and debugging: bounded, as each holds its full
        # screenshots (a ScreenSpot-Pro evaluation would otherwise keep gigabytes of them)
        self.prompts: deque[Prompt] = deque(maxlen=KEEP_PROMPTS)
        self.calls = 0  # every call, kept or not
        self._outputs = list(outputs)
        texts = [output for output in self._outputs if isinstance(output, str)]
        self.convention = convention_of_answers(texts, self.family.name) if texts else None
        self._lock = threading.Lock()
        self._selections = SelectionCache()

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """The family's processor resize, within the backend's pixel bounds."""
        return input_size(
            width, height, self.family, min_pixels=self.min_pixels, max_pixels=self.max_pixels
        )

    def complete(
        self, prompt: Prompt, *, prune: PruneConfig | None, max_new_tokens: int = 256
    ) -> ModelReply:
        """The next scripted answer; `ScriptExhaustedError` when there is none."""
        start = time.perf_counter()
        with self._lock:
            self.prompts.append(prompt)
            self.calls += 1
            if not self._outputs:
                raise ScriptExhaustedError(f"the script has no answer left for call {self.calls}")
            output = self._outputs.pop(0)
        selections = None
        if prune is not None:
            selections = tuple(
                select_cells(
                    prompt.images,
                    self.family,
                    prune,
                    min_pixels=self.family.min_pixels,
                    max_pixels=self.family.max_pixels,
                    cache=self._selections,
                )
            )
        pruned = time.perf_counter()
        full = sum(self._tokens(image.width, image.height) for image in prompt.images)
        kept = full if selections is None else sum(s.n_kept for s in selections)
        if self.delay:
            time.sleep(self.delay)
        text = output(prompt) if callable(output) else output
        return ModelReply(
            text=text,
            image_tokens_full=full,
            image_tokens_kept=kept,
            selections=selections,
            timings={"prune": pruned - start, "total": time.perf_counter() - start},
        )

    def _tokens(self, width: int, height: int) -> int:
        resized_width, resized_height = self.input_size(width, height)
        return (resized_width // self.family.cell) * (resized_height // self.family.cell)
