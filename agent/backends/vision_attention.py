"""One attention call per vision layer: the stock Qwen-VL vision towers, without a call per window.

    enable_one_call_attention(model)   # the vision sub-config only; the language tower keeps sdpa

Registered through transformers' `AttentionInterface` under its own name containing "flash" (so
the whole packed sequence comes with its `cu_seqlens`), selected on one model's vision sub-config;
other models stay stock. It runs torch's varlen kernel on CUDA bf16/fp16 when
`torch.nn.attention.varlen` exists, else one batched SDPA over segments padded to the longest with
a key-padding mask, empty segments dropped (nested tensors were measured 10x slower).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from transformers import AttentionInterface, PreTrainedModel

__all__ = ["ONE_CALL_ATTENTION", "enable_one_call_attention", "one_call_attention"]

# "flash" in the name makes transformers pass cu_seqlens in one call (see the module docstring)
ONE_CALL_ATTENTION = "pixelprune_flash_varlen"
_STOCK = ("sdpa", "eager", None)

_varlen_attn: Callable[..., Any] | None
try:  # torch ≥ 2.9 on CUDA; the CPU build has the module but no kernel behind it
    from torch.nn.attention import varlen

    _varlen_attn = varlen.varlen_attn
except ImportError:  # pragma: no cover - older torch
    _varlen_attn = None
# its first releases had no `scale` (always 1/sqrt(head_dim), which the Qwen-VL towers use)
_VARLEN_SCALE = _varlen_attn is not None and "scale" in inspect.signature(_varlen_attn).parameters


def enable_one_call_attention(model: PreTrainedModel) -> bool:
    """Select the one-call attention for `model`'s vision tower; False if it was left alone.

    A model loaded with a flash-attention implementation already makes one call per layer and
    is left as it is, as is the language tower in every case.
    """
    visual = model.model.visual
    if visual.config._attn_implementation not in _STOCK:
        return False
    AttentionInterface.register(ONE_CALL_ATTENTION, one_call_attention)
    visual.config._attn_implementation = ONE_CALL_ATTENTION
    return True


def one_call_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    *,
    cu_seq_lens_q: torch.Tensor,
    cu_seq_lens_k: torch.Tensor | None = None,
    max_length_q: int | None = None,
    max_length_k: int | None = None,
    **kwargs: object,
) -> tuple[torch.Tensor, None]:
    """Bidirectional attention within each `cu_seq_lens_q` segment of a packed sequence.

    query/key/value: (1, heads, tokens, head_dim), as the Qwen-VL vision attention passes them.
    Returns (1, tokens, heads, head_dim) and no weights, like transformers' attention functions.
    """
    if attention_mask is not None or dropout:
        raise ValueError("the one-call vision attention takes no mask and no dropout")
    if cu_seq_lens_k is not None and not torch.equal(cu_seq_lens_k, cu_seq_lens_q):
        raise ValueError("the one-call vision attention needs the same segments for q and k")
    q, k, v = (t[0].transpose(0, 1) for t in (query, key, value))  # (tokens, heads, head_dim)
    kernel = _varlen_attn
    if kernel is not None and _can_use_varlen(q, scaling):
        # empty segments are fine for the kernel; no host sync unless the longest is unknown
        cu = cu_seq_lens_q.to(torch.int32)
        longest = max_length_q if max_length_q is not None else int(cu.diff().max())
        scale = {"scale": scaling} if _VARLEN_SCALE else {}
        out = kernel(q, k, v, cu, cu, longest, longest, **scale)
    else:
        bounds = torch.unique_consecutive(cu_seq_lens_q.to(torch.int64))  # drops empty segments
        out = _padded_attention(q, k, v, bounds, scaling)
    return out.unsqueeze(0), None


def _can_use_varlen(q: torch.Tensor, scaling: float | None) -> bool:
    default_scale = scaling is None or math.isclose(scaling, q.shape[-1] ** -0.5)
    return (
        _varlen_attn is not None
        and q.is_cuda
        and q.dtype in (torch.bfloat16, torch.float16)
        and q.shape[-1] <= 256
        and (_VARLEN_SCALE or default_scale)
    )


def _padded_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bounds: torch.Tensor, scaling: float | None
) -> torch.Tensor:
    """One SDPA over the segments padded to the longest; (tokens, heads, head_dim) back.

    Segments of one length (one image, or same-size screenshots in a full-attention layer) are
    a view of the packed rows: no copy and no mask.
    """
    tokens, heads, head_dim = q.shape
    lengths = bounds.diff()
    longest = int(lengths.max())
    if int(lengths.min()) == longest:
        qs, ks, vs = (t.view(-1, longest, heads, head_dim).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(qs, ks, vs, scale=scaling)
        return out.transpose(1, 2).reshape(tokens, heads, head_dim)
    offsets = torch.arange(longest, device=q.device)
    valid = offsets[None, :] < lengths[:, None]  # (segments, longest)
    rows = torch.where(valid, bounds[:-1, None] + offsets[None, :], 0).flatten()  # pad: row 0
    # (segments, heads, longest, head_dim), as SDPA takes a batch
    qp, kp, vp = (
        t.index_select(0, rows).view(len(lengths), longest, heads, head_dim).transpose(1, 2)
        for t in (q, k, v)
    )
    out = F.scaled_dot_product_attention(
        qp, kp, vp, attn_mask=valid[:, None, None, :], scale=scaling
    )
    return out.transpose(1, 2)[valid]  # back to the packed rows, in order
