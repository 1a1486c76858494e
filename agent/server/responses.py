"""The chat-completion response body, with the `usage.pixelprune` block the protocol adds.

`usage.prompt_tokens` is what the language model really read: the kept image tokens plus the
text tokens of the chat template. `completion_tokens` counts every token the model generated,
the stop token included when it ended the answer (it cost a decode step like any other).
Stage timings come from the model call; requests answered in one batch share that call, so they
report the same stage times, while `queue` and `total` are each request's own.
"""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import numpy as np

from agent.server.engine import Answer
from agent.server.errors import ApiError
from pixelprune import PruneConfig, Selection

__all__ = ["completion_body", "keep_mask_field"]


def completion_body(
    answer: Answer, prune: PruneConfig | None, model_id: str, arrived: float
) -> dict[str, Any]:
    """The OpenAI response for `answer`; `arrived` is the request's perf_counter at arrival."""
    result = answer.result
    if prune is not None and result.selections is None:
        raise ApiError(500, "pruning was asked for but the model did not prune", "not_pruned")
    completion_tokens = len(result.token_ids)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_id,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.text},
                "finish_reason": answer.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": result.prompt_tokens + completion_tokens,
            "pixelprune": _pixelprune(answer, prune, arrived),
        },
    }


def keep_mask_field(selection: Selection) -> dict[str, Any]:
    """One image's keep mask as the protocol sends it: packed bits of the raster order."""
    rows, cols = selection.grid
    packed = np.packbits(selection.keep.ravel())
    return {
        "rows": rows,
        "cols": cols,
        "cell": selection.cell,
        "keep": base64.b64encode(packed.tobytes()).decode("ascii"),
    }


def _pixelprune(answer: Answer, prune: PruneConfig | None, arrived: float) -> dict[str, Any]:
    result, timings = answer.result, answer.result.timings
    block: dict[str, Any] = {
        "pruned": prune is not None,
        "method": None if prune is None else prune.method,
        "tau": None if prune is None else prune.tau,
        "metric": None if prune is None else prune.metric,  # beyond the protocol's minimum
        "anchored": None if prune is None else prune.anchored,
        "image_tokens_full": result.image_tokens_full,
        "image_tokens_kept": result.image_tokens_kept,
        # the vision cache: images repeated from earlier requests (e.g. a conversation's
        # earlier screenshots) are not encoded again
        "vision_tokens_encoded": result.vision_tokens_encoded,
        "vision_cache_hits": result.vision_cache_hits,
        "vision_cache_ms": round(result.vision_cache_seconds * 1000, 3),
    }
    if result.selections is not None:
        block["images"] = [keep_mask_field(selection) for selection in result.selections]
    seconds = {
        "queue": answer.queue_seconds,
        "preprocess": timings.preprocess,
        "prune": timings.prune,
        "vision": timings.vision,
        "prefill": timings.prefill,
        "decode": timings.decode,
        "total": time.perf_counter() - arrived,
    }
    block["timings_ms"] = {name: round(value * 1000, 3) for name, value in seconds.items()}
    return block
