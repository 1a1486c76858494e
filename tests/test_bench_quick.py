"""`bench --quick` says what it will take before it starts, as docs/benchmarks.md states it, and
says nothing for plans that were never timed (the time itself is measured by hand, not here)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from tools import bench_all

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def options(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bench_all.add_arguments(parser)
    return parser.parse_args(argv)


def test_quick_states_the_time_the_docs_state():
    assert bench_all.expected_duration(options("--quick")) == bench_all.QUICK_DURATION
    quick_lines = [line for line in DOCS.read_text().splitlines() if "bench --quick" in line]
    assert quick_lines and all(bench_all.QUICK_DURATION in line for line in quick_lines)


def test_skipping_a_benchmark_is_said_to_shorten_it():
    said = bench_all.expected_duration(options("--quick", "--skip", "loop"))
    assert said is not None and said.startswith(bench_all.QUICK_DURATION) and "--skip loop" in said


@pytest.mark.parametrize(
    "argv",
    [
        (),
        ("--quick", "--models", "tiny-qwen2.5"),
        ("--quick", "--depth", "full"),
        ("--quick", "--repeat", "7"),
        ("--quick", "--device", "cuda"),
    ],
)
def test_an_untimed_plan_gets_no_estimate(argv):
    assert bench_all.expected_duration(options(*argv)) is None
