"""The command-line form of a pruning setting, the same in every command that prunes.

    add_prune_options(parser)          # --prune SPEC, --no-prune
    args = parser.parse_args(["--prune", "pred_2d:0.02:mae"])
    args.prune                         # PruneConfig(tau=0.02, metric="mae"); None: --no-prune

SPEC is `parse_prune_spec`'s METHOD[:TAU[:METRIC]]. A bad spec is argparse's usual error
(exit 2) with pixelprune's own reason. The spellings of the previous release (`--method` or
`--prune-method`, `--tau`, `--metric`) still work for one release, hidden, with a deprecation
note (`legacy_prune`).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from pixelprune.config import PruneConfig, parse_prune_spec
from pixelprune.errors import PruneInputError

__all__ = ["SPEC_HELP", "add_prune_options", "legacy_prune", "prune_spec"]

SPEC_HELP = "METHOD[:TAU[:METRIC]], e.g. pred_2d, pred_2d:0.02, raster:0.05:mae"


def prune_spec(text: str) -> PruneConfig:
    """argparse's `type` for a spec: the config, or an error argparse prints as it is."""
    try:
        return parse_prune_spec(text)
    except PruneInputError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_prune_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    *,
    default: str | None = "pred_2d",
    what: str = "pruning",
    off: bool = True,
    legacy_method: str | None = None,
) -> None:
    """`--prune SPEC` and, with `off`, `--no-prune` (dest `prune`: a PruneConfig, or None for
    --no-prune). Without either, `prune` is `default`'s config, or absent
    from the namespace when `default` is None (the caller keeps its own setting).

    `legacy_method` ("--method" or "--prune-method") adds that flag, `--tau` and `--metric`
    hidden, for `legacy_prune`.
    """
    options: dict[str, Any] = {
        "default": argparse.SUPPRESS if default is None else parse_prune_spec(default)
    }
    group = parser.add_mutually_exclusive_group()
    shown = f" (default {default})" if default else ""
    group.add_argument(
        "--prune", type=prune_spec, metavar="SPEC", help=f"{what}: {SPEC_HELP}{shown}", **options
    )
    if off:
        group.add_argument(
            "--no-prune",
            dest="prune",
            action="store_const",
            const=None,
            default=options["default"],  # both share `prune`: the same default
            help="send every patch",
        )
    if legacy_method is not None:
        parser.add_argument(legacy_method, dest="legacy_method", help=argparse.SUPPRESS)
        parser.add_argument("--tau", dest="legacy_tau", type=float, help=argparse.SUPPRESS)
        parser.add_argument("--metric", dest="legacy_metric", help=argparse.SUPPRESS)


def legacy_prune(args: argparse.Namespace, base: PruneConfig) -> PruneConfig | None:
    """`base` with the previous release's flags applied, or None when none was given.

    Prints a deprecation note naming the new spelling; `PruneInputError` for a refused setting
    or for old flags given with `--prune`/`--no-prune`.
    """
    old = {
        "method": getattr(args, "legacy_method", None),
        "tau": getattr(args, "legacy_tau", None),
        "metric": getattr(args, "legacy_metric", None),
    }
    given = {name: value for name, value in old.items() if value is not None}
    if not given:
        return None
    if "prune" in vars(args) and args.prune != base:
        raise PruneInputError("give either --prune SPEC or the old --method/--tau/--metric")
    config = dataclasses.replace(base, **given)
    spec = f"{config.method}:{config.tau:g}" + (
        f":{config.metric}" if config.metric != "max" else ""
    )
    print(
        f"note: --method/--prune-method, --tau and --metric are deprecated; use --prune {spec}",
        file=sys.stderr,
    )
    return config
