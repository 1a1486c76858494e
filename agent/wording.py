"""Counts in messages people read: "1 step", "3 steps", never "1 steps" or "0 step(s)"."""

from __future__ import annotations

__all__ = ["plural"]


def plural(count: int, noun: str) -> str:
    """`count` and `noun`, with an "s" unless the count is one (regular nouns only)."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"
