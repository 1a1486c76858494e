"""Which folder a model argument names: a local folder, or a hub id in the local cache.

    folder = resolve_model_dir("ByteDance-Seed/UI-TARS-1.5-7B")   # or ModelNotFoundError

Apart from the loader (`agent.backends.loading`) because it needs no torch or transformers: a
command checks its model argument with it first, so a mistyped folder is told in a second, not
after the ~20 s those imports take. Nothing is downloaded here.
"""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import snapshot_download
from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError
from huggingface_hub.utils import validate_repo_id

from agent.errors import ModelNotFoundError

__all__ = ["SUPPORTED_HELP", "cached_snapshot", "is_hub_id", "resolve_model_dir"]

SUPPORTED_HELP = (
    "supported: Qwen2-VL (e.g. OS-Atlas, ShowUI), Qwen2.5-VL (e.g. UI-TARS-1.5, Qwen2.5-VL "
    "computer use) and Qwen3-VL models"
)


def is_hub_id(path_or_id: str) -> bool:
    """Whether a model argument names a hub repository ("owner/name", in the hub's own rules for
    names), not a folder: only such a name is looked up in the cache or offered for download."""
    if path_or_id.count("/") != 1 or path_or_id.startswith((".", "/", "~")):
        return False
    try:
        validate_repo_id(path_or_id)
    except HFValidationError:
        return False
    return True


def cached_snapshot(model_id: str, *, cache_dir: str | Path | None = None) -> Path | None:
    """The local Hugging Face cache's folder for a hub id (`is_hub_id`), or None; no network."""
    try:
        return Path(snapshot_download(model_id, cache_dir=cache_dir, local_files_only=True))
    except LocalEntryNotFoundError:
        return None


def resolve_model_dir(path_or_id: str, *, cache_dir: str | None = None) -> Path:
    """The model folder for a local path, or for a hub id found in the local cache."""
    local = Path(path_or_id).expanduser()
    if local.is_dir():
        return local
    if local.exists():
        raise ModelNotFoundError(f"{path_or_id} is a file, not a model folder")
    if not is_hub_id(path_or_id):
        raise ModelNotFoundError(
            f"model {path_or_id!r} not found: no such folder. Give the folder that holds the "
            "model's config.json, or a hub id (owner/name) to take it from the Hugging Face "
            f"cache; {SUPPORTED_HELP}"
        )
    if (snapshot := cached_snapshot(path_or_id, cache_dir=cache_dir)) is not None:
        return snapshot
    raise ModelNotFoundError(
        f"model {path_or_id!r} not found: no such folder, and it is not in the local Hugging "
        f"Face cache. Download it once on a machine with internet, e.g. `python main.py pull "
        f"{path_or_id}` (or `hf download {path_or_id}`), then pass its id or folder; "
        + SUPPORTED_HELP
    )
