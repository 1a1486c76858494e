"""What bounds a decode step: the bytes of weights (and KV cache) one token reads, over the memory
bandwidth a mat-vec reaches on this device.

    bandwidth = matvec_bandwidth("cpu", torch.float32)       # bytes/s
    floor_ms = decode_floor_ms(model, prompt_tokens, bandwidth)

Each new token multiplies one vector through every weight of the language tower and the head, so
decoding cannot be faster than reading them once per token. The bandwidth is measured the same
way: one mat-vec over a matrix far larger than any cache, in the model's compute dtype.
"""

from __future__ import annotations

import statistics
from typing import Any

import torch

from tools.timing import timed_runs

__all__ = ["decode_bytes", "decode_floor_ms", "matvec_bandwidth"]

MATRIX_BYTES = 1 << 30  # 1 GiB: far past the last-level cache of any CPU or GPU
COLUMNS = 4096


def matvec_bandwidth(device: str, dtype: torch.dtype, repeat: int = 5) -> float:
    """Bytes per second one mat-vec over `MATRIX_BYTES` of `dtype` weights streams (median)."""
    element = torch.tensor([], dtype=dtype).element_size()
    rows = MATRIX_BYTES // (element * COLUMNS)
    matrix = torch.empty(rows, COLUMNS, dtype=dtype, device=device).uniform_(-1, 1)
    vector = torch.empty(COLUMNS, dtype=dtype, device=device).uniform_(-1, 1)
    with torch.no_grad():
        times, _ = timed_runs(repeat, device == "cuda", torch.mv, matrix, vector)
    return rows * COLUMNS * element / (statistics.median(times) / 1e3)


def decode_bytes(model: Any, prompt_tokens: int) -> tuple[int, int]:
    """(weight bytes, KV-cache bytes) one decode step reads after a prompt of `prompt_tokens`.

    Weights as stored (4-bit packed ones at their packed size): the language tower and the head,
    without the input embedding table (a token reads one row of it) unless the head shares it.
    """
    embedding = model.get_input_embeddings().weight
    head = model.lm_head.weight
    language = model.model.language_model
    read = {id(p): p for p in (*language.parameters(), *model.lm_head.parameters())}
    if embedding is not head:
        read.pop(id(embedding), None)
    weights = sum(p.numel() * p.element_size() for p in read.values())
    config = language.config
    heads = config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    element = torch.tensor([], dtype=model.dtype).element_size()
    kv = config.num_hidden_layers * 2 * heads * head_dim * element * prompt_tokens
    return weights, kv


def decode_floor_ms(model: Any, prompt_tokens: int, bandwidth: float) -> float:
    """The fewest ms a decode step can take here: its bytes over `bandwidth` (bytes/s)."""
    return sum(decode_bytes(model, prompt_tokens)) / bandwidth * 1e3
