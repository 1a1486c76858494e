"""Grounding answers files: one scripted answer per sample of a set, for `eval-grounding`.

    python -m tools.grounding_answers tests/data/grounding --out answers.json

A plain `--scripted` file is a list of outputs replayed call by call (sample 1 off, then each
`--prune` setting, sample 2 off, ...), so it fits one set of options only. A grounding answers
file names each sample's answer by sample id instead, and `eval-grounding` replays it for every
setting, whatever `--prune`, `--limit` or `--resume` ask:

    {"answers": {"screenspot_web_v2.json#0": "Action: click(start_box='(1232,30)')", ...}}

Run as a module, it writes the oracle file for a set: each box's centre in a parser's own
convention, computed from the box and the processor's resize alone (not through agent.coords,
which the evaluation scores with), so a wrong mapping shows up as misses. The one for
tests/data/grounding is committed beside it (`oracle_uitars.json`: UI-TARS pixels, Qwen2.5-VL
resize), so the command has a runnable example without a model.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Collection, Sequence
from pathlib import Path

from agent.backends.base import input_size
from pixelprune import get_family
from tools.screenspot import GroundingSetError, Sample, load_grounding_set

__all__ = ["AnswersError", "centre_answer", "main", "oracle_answers", "read_answers", "replay"]

CONVENTIONS = ("uitars", "qwen3-computer", "showui")


class AnswersError(ValueError):
    """A grounding answers file that cannot be read or lacks an answer a run needs."""


def read_answers(path: str | Path) -> dict[str, str] | None:
    """The answers by sample id, or None when the file is a plain script (a JSON list)."""
    try:
        content = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise AnswersError(f"cannot read the script {path}: {error}") from error
    if isinstance(content, list):
        return None
    answers = content.get("answers") if isinstance(content, dict) else None
    if not isinstance(answers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in answers.items()
    ):
        raise AnswersError(
            f"the script {path} must be a JSON list of model outputs, or an object whose "
            '"answers" maps sample ids to answers'
        )
    return answers


def replay(
    answers: dict[str, str],
    samples: Sequence[Sample],
    settings: Sequence[str],
    done: Collection[tuple[str, str]] = (),
) -> list[str]:
    """The outputs in the order `eval-grounding` asks: each sample's answer once per setting
    name, leaving out the (sample id, setting name) pairs an interrupted run already holds."""
    missing = [sample.id for sample in samples if sample.id not in answers]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise AnswersError(f"the answers file has no answer for sample {missing[0]}{more}")
    return [
        answers[sample.id]
        for sample in samples
        for setting in settings
        if (sample.id, setting) not in done
    ]


def oracle_answers(samples: Sequence[Sample], convention: str, family: str) -> dict[str, str]:
    """Every sample's box centre, written as a model of `family` answering in `convention`."""
    return {s.id: centre_answer(convention, family, s.size, s.bbox) for s in samples}


def centre_answer(
    convention: str,
    family: str,
    size: tuple[int, int],
    bbox: tuple[float, float, float, float],
    offset: float = 0.0,
) -> str:
    """The box centre, moved `offset` box widths towards the middle, written in `convention`."""
    width, height = size
    x1, y1, x2, y2 = bbox
    towards_middle = -1 if x1 + x2 > width else 1
    fx = ((x1 + x2) / 2 + towards_middle * offset * (x2 - x1)) / width
    fy = (y1 + y2) / 2 / height
    if convention == "uitars":  # pixels of the image as the processor resizes it
        geometry = get_family(family)
        resized_width, resized_height = input_size(
            width,
            height,
            geometry,
            min_pixels=geometry.min_pixels,
            max_pixels=geometry.max_pixels,
        )
        x, y = round(fx * resized_width), round(fy * resized_height)
        return f"Action: click(start_box='({x},{y})')"
    if convention == "qwen3-computer":  # 0..1000
        arguments = {"action": "left_click", "coordinate": [round(fx * 1000), round(fy * 1000)]}
        call = json.dumps({"name": "computer_use", "arguments": arguments})
        return f"<tool_call>{call}</tool_call>"
    if convention == "showui":  # 0..1
        return f"[{fx:.4f}, {fy:.4f}]"
    raise ValueError(f"no oracle for the {convention!r} convention; known: {CONVENTIONS}")


def main(argv: list[str] | None = None) -> int:
    """Write the oracle answers file of a grounding set."""
    parser = argparse.ArgumentParser(prog="python -m tools.grounding_answers", description=__doc__)
    parser.add_argument("data", type=Path, metavar="DATA_DIR", help="the grounding set's folder")
    parser.add_argument("--convention", choices=CONVENTIONS, default="uitars")
    parser.add_argument("--family", choices=["qwen2", "qwen2.5", "qwen3"], default="qwen2.5")
    parser.add_argument("--out", type=Path, required=True, help="the answers file to write")
    args = parser.parse_args(argv)
    try:
        samples = load_grounding_set(args.data).samples
    except GroundingSetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    content = {
        "about": f"box centres of {args.data} in {args.convention} answers, "
        f"{args.family} resize: a harness check, not a model (python -m tools.grounding_answers)",
        "answers": oracle_answers(samples, args.convention, args.family),
    }
    args.out.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(samples)} answers: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
