"""The options every `main.py` command spells the same way: pruning, `--out DIR`, `--json FILE`.

    add_prune_options(parser)          # --prune SPEC, --no-prune
    args = parser.parse_args(["--prune", "pred_2d:0.02:mae"])
    args.prune                         # PruneConfig(tau=0.02, metric="mae"); None: --no-prune

SPEC is `parse_prune_spec`'s METHOD[:TAU[:METRIC]]; `add_prune_list` takes several (commands
that compare settings). A bad spec is argparse's usual error (exit 2) with pixelprune's own
reason. The previous release's `--method`/`--prune-method`, `--tau`, `--metric` still work for
one release, hidden, with a deprecation note (`legacy_prune`). `-v/--verbose` is added to every
command by `main.py` itself.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from pixelprune.config import PruneConfig, format_prune_spec, parse_prune_spec
from pixelprune.errors import PruneInputError
from pixelprune.families import FAMILIES

__all__ = [
    "FAMILY_NAMES",
    "OFF",
    "SPEC_HELP",
    "add_family_option",
    "add_json_option",
    "add_out_option",
    "add_prune_list",
    "add_prune_options",
    "legacy_prune",
    "prune_spec",
    "write_json",
]

SPEC_HELP = "METHOD[:TAU[:METRIC]], e.g. pred_2d, pred_2d:0.02, raster:0.05:mae"
OFF = "off"  # the spec of "no pruning" in a list of settings
# the model families by their short names (FAMILIES also knows "qwen2.5-vl" and the like)
FAMILY_NAMES = tuple(dict.fromkeys(family.name for family in FAMILIES.values()))


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
    print(
        "note: --method/--prune-method, --tau and --metric are deprecated; "
        f"use --prune {format_prune_spec(config)}",
        file=sys.stderr,
    )
    return config


def add_prune_list(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    *,
    default: str,
    what: str,
    off: bool = False,
) -> None:
    """`--prune SPEC [SPEC ...]`, repeatable (dest `prune`): a list of configs, with `None` for
    `off` where `off` is allowed; `default`'s specs (separated by spaces) when none is given."""

    def one(text: str) -> PruneConfig | None:
        if off and text.strip().lower() in (OFF, "none"):
            return None
        return prune_spec(text)

    parser.add_argument(
        "--prune",
        nargs="+",
        action=_Given,
        type=one,
        default=[one(text) for text in default.split()],
        metavar="SPEC",
        help=f"{what}: {SPEC_HELP}{' or off' if off else ''} (default {default})",
    )


class _Given(argparse.Action):
    """Like `extend`, but the first use replaces the default instead of adding to it."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        current = getattr(namespace, self.dest)
        setattr(namespace, self.dest, [*([] if current is self.default else current), *values])


def add_out_option(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    *,
    what: str,
    default: str | None = None,
    aliases: tuple[str, ...] = (),
) -> None:
    """`--out DIR`: the folder this command writes its files into (dest `out`, a Path)."""
    shown = f" (default {default}/)" if default else ""
    parser.add_argument(
        "--out",
        *aliases,
        dest="out",
        type=Path,
        default=None if default is None else Path(default),
        metavar="DIR",
        help=f"{what}{shown}",
    )


def add_json_option(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, what: str
) -> None:
    """`--json FILE`: the command's results as JSON in FILE (`-`, or no FILE: standard output).

    FILE must end in .json, so an old `--json IMAGE ...` can never overwrite an input.
    """

    def target(text: str) -> str:
        if text != "-" and not text.endswith(".json"):
            raise argparse.ArgumentTypeError(f"{text!r}: give a FILE.json, or - for the terminal")
        return text

    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        type=target,
        metavar="FILE",
        help=f"write {what} as JSON to FILE (- or no FILE: standard output)",
    )


def write_json(target: str, data: Any) -> None:
    """`data` as indented JSON into `target` (a `--json` value; "-" is standard output)."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if target == "-":
        sys.stdout.write(text)
    else:
        Path(target).write_text(text, encoding="utf-8")


def add_family_option(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    *,
    default: str | None = "qwen2.5",
    what: str = "model family whose resize and cell size to use",
) -> None:
    """`--family qwen2|qwen2.5|qwen3` (dest `family`)."""
    shown = f" (default {default})" if default else ""
    parser.add_argument("--family", default=default, choices=FAMILY_NAMES, help=f"{what}{shown}")
