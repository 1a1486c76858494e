"""The agent on Wayland desktops; `agent.desktop` chooses the route for a session.

- wlroots: `wire` and `protocols` (the Wayland wire format, spoken directly), `wlroots` (outputs,
  virtual pointer and keyboard, `keymap`), `corners` (FAILSAFE), `sway` (the kill binding).
- GNOME: `mutter` (Mutter's remote-desktop and screen-cast D-Bus APIs, the session clipboard) and
  `pipewire` (the screen cast's frames).
- Both: `capture` (one output at a time through the compositor's layout) and `screen` (the
  executor's pyautogui-like screen over a session).
"""
