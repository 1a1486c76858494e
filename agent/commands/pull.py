"""`python main.py pull [MODEL]`: download a model into the Hugging Face cache, once.

    python main.py pull                                  # UI-TARS-1.5-7B
    python main.py pull showlab/ShowUI-2B --yes

Shows the size first and asks (`--yes` for scripts); a cut download resumes where it stopped
when run again. Exit status: 0 downloaded (or already there), 1 not confirmed, 2 no such model,
no connection or offline.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from agent.backends.loading import DEFAULT_MODEL
from agent.errors import ModelError

__all__ = ["add_arguments", "pull", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", nargs="?", default=DEFAULT_MODEL, help=f"hub id ({DEFAULT_MODEL})")
    parser.add_argument("-y", "--yes", action="store_true", help="download without asking")
    parser.add_argument("--cache-dir", type=Path, help="the Hugging Face cache to fill (default)")


def run(args: argparse.Namespace) -> int:
    try:
        return 0 if pull(args.model, yes=args.yes, cache_dir=args.cache_dir) else 1
    except ModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 1


def pull(
    model: str,
    *,
    yes: bool = False,
    cache_dir: Path | None = None,
    ask: Callable[[str], str] = input,
) -> Path | None:
    """Download `model` (its size shown and, unless `yes`, confirmed); the folder, or None when
    the person said no. `ModelError` says why it cannot (no such model, offline, no network)."""
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    try:
        info = HfApi().model_info(model, files_metadata=True)
        files = info.siblings or []
        size = sum(file.size or 0 for file in files)
        print(f"{model}: {len(files)} files, {_size(size)}", file=sys.stderr)
        if not yes:
            try:
                answer = ask(f"download {_size(size)} into the Hugging Face cache? [y/N] ")
            except EOFError:
                answer = ""
            if answer.strip().lower() not in ("y", "yes"):
                print("nothing downloaded", file=sys.stderr)
                return None
        folder = snapshot_download(model, cache_dir=cache_dir)
    except RepositoryNotFoundError:
        raise ModelError(f"no model {model!r} on the hub ({endpoint})") from None
    except (OfflineModeIsEnabled, LocalEntryNotFoundError) as error:
        raise ModelError(
            f"cannot download {model!r}: offline ({error}); unset HF_HUB_OFFLINE or download "
            "on a machine with internet"
        ) from None
    except HfHubHTTPError as error:
        if error.response is not None and error.response.status_code == 404:
            raise ModelError(f"no model {model!r} on the hub ({endpoint})") from None
        raise _cannot(model, endpoint, error) from None
    except Exception as error:  # the network's own errors (refused, reset, timed out, DNS)
        raise _cannot(model, endpoint, error) from None
    print(f"downloaded: {folder}", file=sys.stderr)
    return Path(folder)


def _cannot(model: str, endpoint: str, error: Exception) -> ModelError:
    return ModelError(
        f"cannot download {model!r} from {endpoint}: {type(error).__name__}: {error}. Run the "
        "same command again to resume what was downloaded"
    )


def _size(count: int) -> str:
    return f"{count / 1e9:.1f} GB" if count >= 1e8 else f"{count / 1e6:.1f} MB"
