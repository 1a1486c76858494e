"""`progress_bar`: the progress bar of the long product commands (report, eval-grounding).

with progress_bar() as progress:
    task = progress.add_task("asking", total=len(samples))
    progress.advance(task)
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["progress_bar"]


def progress_bar() -> Progress:
    """A bar on stderr, so stdout stays for the result; rich draws it plainly when not a TTY.

    Descriptions are file names and model settings, shown as written (no rich markup).
    """
    return Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
