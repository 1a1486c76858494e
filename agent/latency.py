"""Latency saved by pruning, measured against the same model on the unpruned input.

Pruning shortens the vision tower and the prefill; decoding a short action costs the same either
way, so "saved" is (vision + prefill unpruned) − (vision + prefill pruned). The unpruned figure
is measured, not modelled: the first time a prompt shape is seen (the sizes of its screenshots,
which also fixes how many there are), the agent asks the model once more without pruning, for
one token, and keeps that time as the baseline of the shape. That step's saving is *measured*
(both runs side by side); later steps of the same shape compare their own pruned time with the
stored baseline and are labelled *estimates*. `clear()` recalibrates (the machine got busier,
the model moved to another device).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["LatencyBaseline", "LatencySaved", "prefill_seconds"]

Shape = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class LatencySaved:
    """One step's saving (seconds) and whether it was measured side by side or estimated."""

    seconds: float
    baseline: float  # unpruned vision + prefill of this prompt shape
    pruned: float  # this step's vision + prefill
    measured: bool  # True: both runs this step; False: against a stored baseline


def prefill_seconds(timings: Mapping[str, float]) -> float | None:
    """Vision + prefill of one reply, or None when the backend did not measure both."""
    if "vision" not in timings or "prefill" not in timings:
        return None
    return timings["vision"] + timings["prefill"]


class LatencyBaseline:
    """Unpruned vision + prefill time per prompt shape, measured once each."""

    def __init__(self) -> None:
        self._seconds: dict[Shape, float] = {}

    @staticmethod
    def shape(sizes: Sequence[tuple[int, int]]) -> Shape:
        return tuple((int(w), int(h)) for w, h in sizes)

    def knows(self, shape: Shape) -> bool:
        return shape in self._seconds

    def record(self, shape: Shape, seconds: float) -> None:
        self._seconds[shape] = seconds

    def saving(self, shape: Shape, pruned: float, *, measured: bool) -> LatencySaved | None:
        """This step's saving against the shape's baseline (None before calibration)."""
        baseline = self._seconds.get(shape)
        if baseline is None:
            return None
        return LatencySaved(baseline - pruned, baseline, pruned, measured)

    def clear(self) -> None:
        """Forget every baseline: the next step of each shape measures again."""
        self._seconds.clear()
