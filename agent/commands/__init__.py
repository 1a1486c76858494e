"""`main.py` subcommands of the agent: run a task, replay a recorded run, serve the model."""

import logging

__all__ = ["setup_logging"]


def setup_logging(verbose: bool) -> None:
    """Warnings for a user, every detail with `-v`: the one log format of every command.

    Called from a command's `run`, never on import, so a library user keeps their own logging.
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
