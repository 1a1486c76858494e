"""`python main.py pull [MODEL]`: download a model into the Hugging Face cache, once.

    python main.py pull                                  # UI-TARS-1.5-7B
    python main.py pull showlab/ShowUI-2B --yes

Shows the size first and asks (`--yes` for scripts); a cut download resumes where it stopped
when run again. Exit status: 0 downloaded (or already there), 1 not confirmed, 2 no such model,
no connection or offline.

The pieces are public for the desktop app, which asks in a dialog and downloads on a thread:
`needs_download` (a hub id not in the cache), `look_up` (files and size), `download` (with an
optional progress callback that may stop it by raising `DownloadCancelled`). Importing this
module is cheap: huggingface_hub is imported on use, and nothing here needs the loader's torch
and transformers.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import ModelError
from agent.models import DEFAULT_MODEL

__all__ = [
    "DownloadCancelled",
    "HubModel",
    "add_arguments",
    "download",
    "look_up",
    "needs_download",
    "pull",
    "run",
    "size_text",
]


class DownloadCancelled(Exception):
    """Raised by a `download` progress callback to stop it; what was written stays, to resume."""


@dataclass(frozen=True)
class HubModel:
    """A model on the hub as a download: what is asked before fetching it."""

    model: str
    files: int
    size: int  # bytes, all files together

    def __str__(self) -> str:
        return f"{self.model}: {self.files} files, {size_text(self.size)}"


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
    found = look_up(model)
    print(found, file=sys.stderr)
    if not yes and not _confirmed(found, ask):
        print("nothing downloaded", file=sys.stderr)
        return None
    folder = download(model, cache_dir=cache_dir)
    print(f"downloaded: {folder}", file=sys.stderr)
    return folder


def needs_download(path_or_id: str, *, cache_dir: Path | None = None) -> bool:
    """Whether a model argument is a hub id with neither a folder of that name nor a copy in the
    cache: what `run` and the app offer to download (a missing local path is never offered)."""
    from agent.backends.model_dir import cached_snapshot, is_hub_id

    if not is_hub_id(path_or_id) or Path(path_or_id).expanduser().exists():
        return False
    return cached_snapshot(path_or_id, cache_dir=cache_dir) is None


def look_up(model: str) -> HubModel:
    """The model's files and total size on the hub; `ModelError` when it cannot be asked."""
    from huggingface_hub import HfApi

    with _hub_errors(model):
        info = HfApi().model_info(model, files_metadata=True)
    files = info.siblings or []
    return HubModel(model, len(files), sum(file.size or 0 for file in files))


def download(
    model: str,
    *,
    cache_dir: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Download (or resume) `model` into the cache; its snapshot folder.

    `progress(bytes so far)` replaces the console bars; it is called on the download's threads,
    and a `DownloadCancelled` raised there stops the download and is raised here.
    """
    from huggingface_hub import snapshot_download

    bars = None if progress is None else _reporting_bars(progress)
    with _hub_errors(model):
        folder = snapshot_download(model, cache_dir=cache_dir, tqdm_class=bars)
    return Path(folder)


def size_text(count: int) -> str:
    return f"{count / 1e9:.1f} GB" if count >= 1e8 else f"{count / 1e6:.1f} MB"


def _confirmed(found: HubModel, ask: Callable[[str], str]) -> bool:
    try:
        answer = ask(f"download {size_text(found.size)} into the Hugging Face cache? [y/N] ")
    except EOFError:
        answer = ""
    return answer.strip().lower() in ("y", "yes")


@contextmanager
def _hub_errors(model: str) -> Iterator[None]:
    """The hub's failures as one-line `ModelError`s; `DownloadCancelled` passes through."""
    from huggingface_hub.errors import (
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    try:
        yield
    except DownloadCancelled:
        raise
    except RepositoryNotFoundError:
        raise ModelError(f"no model {model!r} on the hub ({endpoint})") from None
    except HFValidationError:
        raise ModelError(
            f"{model!r} is not a hub id (owner/name, letters, digits, - _ .)"
        ) from None
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


def _reporting_bars(report: Callable[[int], None]) -> type[Any]:
    """A silent progress-bar class for `snapshot_download` that calls `report(bytes so far)`.

    huggingface_hub counts the bytes on more than one bar (received, written) and the files on
    another; the furthest byte count is the download's progress, so none is counted twice.
    """
    from huggingface_hub.utils import tqdm as hub_tqdm

    lock = threading.Lock()
    counts: dict[int, float] = {}

    class ReportingBar(hub_tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._counts_bytes = kwargs.get("unit") == "B"
            kwargs["disable"] = True  # no console output; update() below still sees every step
            super().__init__(*args, **kwargs)
            self.update(kwargs.get("initial") or 0)  # a resumed file starts where it stopped

        def update(self, n: float | None = 1) -> bool | None:
            if self._counts_bytes:
                with lock:
                    counts[id(self)] = counts.get(id(self), 0.0) + (n or 0)
                    done = max(counts.values())
                report(int(done))
            return None

    return ReportingBar


def _cannot(model: str, endpoint: str, error: Exception) -> ModelError:
    """No connection at all (nothing to resume) or a transfer cut short (resume it)."""
    if _never_connected(error):
        return ModelError(
            f"cannot reach {endpoint} to download {model!r} ({type(error).__name__}: {error}): "
            "no network here? Connect and run the same command again, or download it on a "
            "machine with internet and give its folder as the model"
        )
    return ModelError(
        f"cannot download {model!r} from {endpoint}: {type(error).__name__}: {error}. Run the "
        "same command again to resume what was downloaded"
    )


def _never_connected(error: BaseException) -> bool:
    """A refused connection, an unknown host or a connect timeout, anywhere in the chain
    (httpx's ConnectError/ConnectTimeout, requests' ConnectionError, socket.gaierror)."""
    seen: BaseException | None = error
    while seen is not None:
        if "Connect" in type(seen).__name__ or isinstance(seen, socket.gaierror):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
