"""What `eval-grounding` measures, as dataclasses: each answer, and the summary over them.

    summary = summarise(evaluation, settings)
    summary.groups[0].settings["off"].accuracy      # overall accuracy, unpruned
    summary.to_dict()                                # summary.json

`print_summary` and `write_outputs` (tools/grounding_output.py) read these; summary.json is
`to_dict()`.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pixelprune import PruneConfig
from tools.screenspot import Sample, Skipped

__all__ = [
    "Agreement",
    "DatasetInfo",
    "Evaluation",
    "GroupSummary",
    "Metrics",
    "Result",
    "Setting",
    "Summary",
    "summarise",
]


@dataclass(frozen=True)
class Setting:
    """One way of asking: unpruned (`prune` None) or pruned with a selector configuration."""

    name: str
    prune: PruneConfig | None


@dataclass(frozen=True)
class Result:
    """One sample asked under one setting."""

    sample: Sample
    setting: str
    outcome: str  # "hit", "miss" or "unparsed"
    point: tuple[float, float] | None  # the target point in image pixels
    action: str | None  # the parsed action's type (Click, Move, ...)
    kept_share: float | None  # image tokens sent / image tokens of the full image
    tokens_full: int | None
    tokens_kept: int | None
    pruned: bool  # the backend reports that it pruned (a stock server cannot)
    seconds: float  # the backend call, wall time
    timings: dict[str, float]  # the backend's own stage timings
    output: str  # the model's raw answer
    error: str | None  # why the answer is unparsed

    @property
    def hit(self) -> bool:
        return self.outcome == "hit"

    def to_row(self) -> dict[str, Any]:
        """One line of samples.jsonl: the sample, the setting and everything measured."""
        sample = self.sample
        return {
            "id": sample.id,
            "image": str(sample.image),
            "size": list(sample.size),
            "instruction": sample.instruction,
            "bbox": list(sample.bbox),
            "platform": sample.platform,
            "element": sample.element,
            "source": sample.source,
            "group": sample.group,
            "setting": self.setting,
            "outcome": self.outcome,
            "hit": self.hit,
            "point": None if self.point is None else list(self.point),
            "action": self.action,
            "kept_share": self.kept_share,
            "tokens_full": self.tokens_full,
            "tokens_kept": self.tokens_kept,
            "pruned": self.pruned,
            "seconds": self.seconds,
            "timings": self.timings,
            "output": self.output,
            "error": self.error,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any], sample: Sample) -> Result:
        """A `to_row` line read back for its `sample`; KeyError, TypeError, ValueError or
        IndexError when the row is not one."""
        point = row["point"]
        return cls(
            sample=sample,
            setting=row["setting"],
            outcome=row["outcome"],
            point=None if point is None else (float(point[0]), float(point[1])),
            action=row["action"],
            kept_share=row["kept_share"],
            tokens_full=row["tokens_full"],
            tokens_kept=row["tokens_kept"],
            pruned=bool(row["pruned"]),
            seconds=float(row["seconds"]),
            timings=dict(row["timings"]),
            output=row["output"],
            error=row["error"],
        )


@dataclass
class Evaluation:
    """Every result so far, the samples that could not be asked, and why the run stopped early."""

    results: list[Result] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    stopped: str | None = None  # None: every sample was asked under every setting


@dataclass(frozen=True)
class Metrics:
    """One setting on one group of samples."""

    n: int
    hits: int
    accuracy: float | None  # None: no sample
    unparsed: int
    kept_share: float | None  # mean share of image tokens sent; None: not pruned or unknown
    seconds_mean: float | None
    seconds_median: float | None


@dataclass(frozen=True)
class Agreement:
    """How often a pruned answer hits exactly when the unpruned one does."""

    n: int
    same_outcome: int
    share: float | None
    lost: int  # hit unpruned, missed pruned
    gained: int
    same_output: int


@dataclass(frozen=True)
class GroupSummary:
    """Every setting on one group: overall, a platform, an element type, a Pro group, ..."""

    kind: str
    group: str
    settings: dict[str, Metrics]


@dataclass(frozen=True)
class DatasetInfo:
    """The set that was asked."""

    folder: str
    layout: str
    samples: int
    asked: int
    skipped: list[Skipped]


@dataclass(frozen=True)
class Summary:
    """A whole evaluation: per group and setting, off-vs-on agreement, and what was asked."""

    settings: list[Setting]
    complete: bool
    stopped: str | None
    groups: list[GroupSummary]
    agreement: dict[str, Agreement]
    not_pruned: dict[str, int]  # asked to prune, answered by a backend that did not say it did
    dataset: DatasetInfo | None = None
    model: str = ""
    parser: str = ""
    prompt: str = "agent"  # "agent": the agent's prompt; "grounding": the model's own
    max_new_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        """summary.json (and `--json`)."""
        return dataclasses.asdict(self)


def summarise(evaluation: Evaluation, settings: Sequence[Setting]) -> Summary:
    """Per group and setting: accuracy, unparsed, kept share, seconds; and off-vs-on agreement."""
    names = [s.name for s in settings]
    by_setting = {name: [r for r in evaluation.results if r.setting == name] for name in names}
    groups = []
    for kind, label, keep in _groups([r.sample for r in evaluation.results]):
        metrics = {
            name: _metrics([r for r in by_setting[name] if keep(r.sample)]) for name in names
        }
        groups.append(GroupSummary(kind, label, metrics))
    baseline = {r.sample.id: r for r in by_setting[names[0]]}
    agreement = {name: _agreement(baseline, by_setting[name]) for name in names[1:]}
    not_pruned = {  # asked to prune, answered by a backend that did not say it pruned
        s.name: sum(not r.pruned for r in by_setting[s.name]) for s in settings if s.prune
    }
    return Summary(
        settings=list(settings),
        complete=evaluation.stopped is None,
        stopped=evaluation.stopped,
        groups=groups,
        agreement=agreement,
        not_pruned={name: count for name, count in not_pruned.items() if count},
    )


def _groups(
    samples: Iterable[Sample],
) -> list[tuple[str, str, Callable[[Sample], bool]]]:
    """overall, each platform, each element type, each Pro group (and, on Pro, each application
    and platform × application), each platform × type.

    In the order the set first names them.
    """
    samples = list(samples)
    seen = list(dict.fromkeys((s.platform, s.element) for s in samples))
    platforms = list(dict.fromkeys(p for p, _ in seen))
    elements = list(dict.fromkeys(e for _, e in seen))
    pro_groups = list(dict.fromkeys(s.group for s in samples if s.group is not None))
    groups: list[tuple[str, str, Callable[[Sample], bool]]] = [("overall", "overall", _all)]
    groups += [("platform", p, _field("platform", p)) for p in platforms]
    groups += [("type", e, _field("element", e)) for e in elements]
    groups += [("group", g, _field("group", g)) for g in pro_groups]
    if pro_groups:  # ScreenSpot-Pro: its leaderboard's per-application breakdowns too
        applications = list(dict.fromkeys((s.platform, s.source) for s in samples))
        groups += [
            ("application", a, _field("source", a))
            for a in dict.fromkeys(a for _, a in applications)
        ]
        groups += [
            ("platform×application", f"{p} / {a}", _platform_app(p, a)) for p, a in applications
        ]
    if len(platforms) > 1 and len(elements) > 1:
        groups += [
            ("platform×type", f"{p} / {e}", _both(p, e))
            for p in platforms
            for e in elements
            if (p, e) in seen
        ]
    return groups


def _all(sample: Sample) -> bool:
    return True


def _field(name: str, value: str) -> Callable[[Sample], bool]:
    return lambda sample: getattr(sample, name) == value


def _platform_app(platform: str, application: str) -> Callable[[Sample], bool]:
    return lambda sample: sample.platform == platform and sample.source == application


def _both(platform: str, element: str) -> Callable[[Sample], bool]:
    return lambda sample: sample.platform == platform and sample.element == element


def _metrics(results: list[Result]) -> Metrics:
    seconds = [r.seconds for r in results]
    shares = [r.kept_share for r in results if r.kept_share is not None]
    hits = sum(r.hit for r in results)
    return Metrics(
        n=len(results),
        hits=hits,
        accuracy=hits / len(results) if results else None,
        unparsed=sum(r.outcome == "unparsed" for r in results),
        kept_share=statistics.fmean(shares) if shares else None,
        seconds_mean=statistics.fmean(seconds) if seconds else None,
        seconds_median=statistics.median(seconds) if seconds else None,
    )


def _agreement(baseline: dict[str, Result], pruned: list[Result]) -> Agreement:
    """How often the pruned answer hits exactly when the unpruned one does."""
    pairs = [(baseline[r.sample.id], r) for r in pruned if r.sample.id in baseline]
    same = sum(off.hit == on.hit for off, on in pairs)
    return Agreement(
        n=len(pairs),
        same_outcome=same,
        share=same / len(pairs) if pairs else None,
        lost=sum(off.hit and not on.hit for off, on in pairs),
        gained=sum(on.hit and not off.hit for off, on in pairs),
        same_output=sum(off.output == on.output for off, on in pairs),
    )
