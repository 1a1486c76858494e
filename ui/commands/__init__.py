"""`main.py` subcommands that open a window: `view` (the trajectory viewer), `app`."""
