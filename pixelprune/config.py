"""`PruneConfig`: one pruning setting, checked when it is made, and its one text form.

    PruneConfig(tau=0.05, metric="mae")          # PruneInputError if select would refuse it
    parse_prune_spec("pred_2d:0.05:mae")         # the same, as every command line spells it
    format_prune_spec(config)                    # and back: "pred_2d:0.05:mae"

A config that exists is one `select` accepts: the checks are `select`'s own
(`check_options`), run on construction, so nothing downstream validates again.
"""

from __future__ import annotations

from dataclasses import dataclass

from pixelprune.errors import PruneInputError
from pixelprune.selectors import check_options

__all__ = ["PruneConfig", "format_prune_spec", "parse_prune_spec"]


@dataclass(frozen=True)
class PruneConfig:
    """How to prune a call's images (see `pixelprune.select`)."""

    method: str = "pred_2d"
    tau: float = 0.0
    metric: str = "max"
    anchored: bool = True

    def __post_init__(self) -> None:
        options = check_options(
            self.method, tau=self.tau, metric=self.metric, anchored=self.anchored
        )
        object.__setattr__(self, "tau", options.tau)  # a number given as int or text: float


def parse_prune_spec(text: str) -> PruneConfig:
    """`METHOD[:TAU[:METRIC]]` (`pred_2d`, `pred_2d:0.05`, `pred_2d:0.05:mae`), checked.

    `PruneInputError` (a ValueError) says what is wrong, quoting `text`.
    """
    parts = text.strip().split(":")
    if len(parts) > 3 or not parts[0]:
        raise PruneInputError(f"{text!r}: expected METHOD[:TAU[:METRIC]], e.g. pred_2d:0.05")
    try:
        tau = float(parts[1]) if len(parts) > 1 and parts[1] else 0.0
    except ValueError:
        raise PruneInputError(
            f"{text!r}: τ {parts[1]!r} is not a number, e.g. pred_2d:0.02"
        ) from None
    metric = parts[2] if len(parts) > 2 else "max"
    try:
        return PruneConfig(method=parts[0], tau=tau, metric=metric)
    except PruneInputError as error:
        raise PruneInputError(f"{text!r}: {error}") from None


def format_prune_spec(config: PruneConfig) -> str:
    """The spec `parse_prune_spec` reads back as `config` (metric only when not the default)."""
    metric = "" if config.metric == "max" else f":{config.metric}"
    return f"{config.method}:{config.tau:g}{metric}"
