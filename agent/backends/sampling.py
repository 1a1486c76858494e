"""How the next token is chosen: greedy (the default), or as the model folder's
`generation_config.json` asks.

    decoding = Decoding.from_folder(folder)          # sampling where the folder asks for it
    tokens = decoding.next_tokens(logits, seen)      # (B,) for logits (B, V)

Agent steps are greedy unless the user asks for the folder's settings (`--decoding folder`):
a click should not change from one run to the next. Some model cards (Qwen3-VL's) publish
sampling settings for their chat use; a user reproducing the card's figures can ask for them.
The rules are transformers' (`RepetitionPenaltyLogitsProcessor`, temperature, top-k, then
top-p), applied in its order; a seeded generator makes a sampled run repeatable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from agent.errors import ModelError
from agent.settings import DECODINGS

__all__ = ["Decoding", "decoding_for"]


@dataclass(frozen=True)
class Decoding:
    """Greedy when `sample` is False; else sampled with these settings."""

    sample: bool = False
    temperature: float = 1.0
    top_k: int = 0  # 0: no top-k cut
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.temperature <= 0 or not 0 < self.top_p <= 1 or self.top_k < 0:
            raise ModelError(
                f"unusable sampling settings: temperature {self.temperature} (> 0), "
                f"top_p {self.top_p} (0..1], top_k {self.top_k} (>= 0)"
            )
        if self.repetition_penalty <= 0:
            raise ModelError(f"repetition_penalty {self.repetition_penalty} must be positive")

    @classmethod
    def from_folder(cls, folder: Path, seed: int = 0) -> Decoding:
        """The folder's `generation_config.json` settings; greedy when it has none or says
        `do_sample: false`."""
        path = folder / "generation_config.json"
        if not path.is_file():
            return cls(seed=seed)
        try:
            config: dict[str, Any] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ModelError(f"{path} is unreadable ({error})") from None
        penalty = _setting(config, "repetition_penalty", 1.0)
        if not config.get("do_sample", False):
            return cls(repetition_penalty=penalty, seed=seed)
        return cls(
            sample=True,
            temperature=_setting(config, "temperature", 1.0),
            top_k=int(_setting(config, "top_k", 0)),
            top_p=_setting(config, "top_p", 1.0),
            repetition_penalty=penalty,
            seed=seed,
        )

    def describe(self) -> str:
        """One line for logs and records: what decides each token."""
        if not self.sample:
            penalty = self.repetition_penalty
            return "greedy" + (f", repetition penalty {penalty}" if penalty != 1.0 else "")
        return (
            f"sampled: temperature {self.temperature}, top_k {self.top_k}, top_p {self.top_p}, "
            f"repetition penalty {self.repetition_penalty}, seed {self.seed}"
        )

    def generator(self, device: torch.device) -> torch.Generator | None:
        """A fresh seeded generator for one batch (None when greedy)."""
        return torch.Generator(device=device).manual_seed(self.seed) if self.sample else None

    def next_tokens(
        self,
        logits: torch.Tensor,
        seen: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The next token of each row: `logits` (B, V) for the last position, `seen` (B, N) the
        token ids so far (prompt and answer; padding may be any id the rows share)."""
        scores = logits.float()
        if self.repetition_penalty != 1.0:
            scores = _penalise(scores, seen, self.repetition_penalty)
        if not self.sample:
            return scores.argmax(-1)
        scores = scores / self.temperature
        if self.top_k:
            kth = torch.topk(scores, min(self.top_k, scores.shape[-1]), dim=-1).values[:, -1:]
            scores = scores.masked_fill(scores < kth, float("-inf"))
        if self.top_p < 1.0:
            scores = _nucleus(scores, self.top_p)
        probabilities = torch.softmax(scores, dim=-1)
        return torch.multinomial(probabilities, 1, generator=generator).squeeze(-1)


def decoding_for(name: str, folder: Path) -> Decoding:
    """`greedy`, or `folder`: the settings of `folder`'s generation_config.json."""
    if name == "greedy":
        return Decoding()
    if name == "folder":
        return Decoding.from_folder(folder)
    raise ModelError(f"decoding must be one of {', '.join(DECODINGS)}, got {name!r}")


def _setting(config: dict[str, Any], name: str, default: float) -> float:
    """A number from generation_config.json; absent or null means transformers' default."""
    value = config.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ModelError(f"generation_config.json: {name} must be a number, not {value!r}")
    return float(value)


def _penalise(scores: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """transformers' repetition penalty: a seen token's score divided by `penalty` when
    positive, multiplied when negative."""
    picked = scores.gather(-1, seen)
    picked = torch.where(picked < 0, picked * penalty, picked / penalty)
    return scores.scatter(-1, seen, picked)


def _nucleus(scores: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the fewest most likely tokens whose probability reaches `top_p` (at least one)."""
    ordered, order = torch.sort(scores, descending=False)
    cumulative = ordered.softmax(dim=-1).cumsum(dim=-1)
    drop = cumulative <= 1 - top_p
    drop[:, -1] = False
    return scores.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
