"""`main.py` subcommands of the agent: run a task, replay a recorded run."""
