"""What a person sees: the live overlay, the control app and the trajectory viewer (PyQt6).

`agent/` knows nothing of Qt; `ui.bridge` turns the agent's plain events into Qt signals.
"""
