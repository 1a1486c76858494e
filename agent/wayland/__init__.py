"""The agent on Wayland desktops; `agent.desktop` chooses the route for a session.

- wlroots: `wire` and `protocols` (the Wayland wire format, spoken directly), `wlroots` (outputs,
  virtual pointer and keyboard, `keymap`), `corners` (FAILSAFE), `sway` (the kill binding).
- GNOME: `mutter` (Mutter's remote-desktop and screen-cast D-Bus APIs, the session clipboard),
  `gnome_shortcut` (the kill hotkey as a custom shortcut), `cursor_corners` (FAILSAFE).
- Portal (KDE Plasma, others): `portal` (the desktop portal's ScreenCast and RemoteDesktop, the
  stored grant).
- GNOME and portal: `pipewire` (a screen cast's frames), `bus` (which services are on D-Bus).
- All: `capture` (one output at a time through the compositor's layout) and `screen` (the
  executor's pyautogui-like screen over a session).
"""
