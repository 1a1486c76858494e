"""The agent on Wayland desktops: a wire-level client (wire, protocols) and one route per
compositor family; `agent.desktop` chooses the route for this session."""
