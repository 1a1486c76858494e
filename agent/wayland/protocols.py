"""The Wayland messages the agent sends and reads, as the protocols' XML defines them.

Each interface lists its requests and events in opcode order (a message's opcode is its place
in the list), each with its argument kinds: `u` uint, `i` int, `f` fixed, `s` string, `o`
object, `a` array, `h` file descriptor, `n:interface` a new object. Messages are listed up to
the last one the agent uses, so the opcodes stay right; later ones are not needed.

Sources: wayland.xml (wl_display, wl_registry, wl_callback, wl_seat, wl_pointer, wl_output,
wl_compositor, wl_surface, wl_region, wl_shm, wl_shm_pool, wl_buffer; Wayland 1.21),
wlr-layer-shell-unstable-v1.xml,
xdg-output-unstable-v1.xml (wayland-protocols), wlr-virtual-pointer-unstable-v1.xml and
wlr-screencopy-unstable-v1.xml (wlr-protocols), virtual-keyboard-unstable-v1.xml (wlroots'
copy of the input-method protocol family).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["INTERFACES", "Message"]


@dataclass(frozen=True)
class Message:
    """One request or event: its name, opcode and argument kinds (with a new object's
    interface); `destructor`: the object is gone once the request is sent."""

    name: str
    opcode: int
    arguments: tuple[tuple[str, str | None], ...]
    destructor: bool = False


def _messages(*specs: str) -> tuple[Message, ...]:
    """Messages from "name kind kind ..." specs, in opcode order; "name!" is a destructor."""
    messages = []
    for opcode, spec in enumerate(specs):
        name, *kinds = spec.split()
        arguments = tuple(
            (kind[0], kind[2:] or None) if kind.startswith("n") else (kind, None) for kind in kinds
        )
        messages.append(Message(name.rstrip("!"), opcode, arguments, name.endswith("!")))
    return tuple(messages)


INTERFACES: dict[str, dict[str, tuple[Message, ...]]] = {
    "wl_display": {
        "requests": _messages("sync n:wl_callback", "get_registry n:wl_registry"),
        "events": _messages("error o u s", "delete_id u"),
    },
    "wl_registry": {
        "requests": _messages("bind u s u n"),
        "events": _messages("global u s u", "global_remove u"),
    },
    "wl_callback": {"requests": (), "events": _messages("done u")},
    "wl_seat": {
        "requests": _messages("get_pointer n:wl_pointer"),
        "events": _messages("capabilities u", "name s"),
    },
    "wl_pointer": {"requests": (), "events": _messages("enter u o f f", "leave u o")},
    "wl_compositor": {
        "requests": _messages("create_surface n:wl_surface", "create_region n:wl_region"),
        "events": (),
    },
    "wl_region": {"requests": _messages("destroy!", "add i i i i"), "events": ()},
    "wl_surface": {
        "requests": _messages(
            "destroy!",
            "attach o i i",
            "damage i i i i",
            "frame n:wl_callback",
            "set_opaque_region o",
            "set_input_region o",
            "commit",
        ),
        "events": _messages("enter o", "leave o"),
    },
    "wl_shm": {"requests": _messages("create_pool n:wl_shm_pool h i"), "events": ()},
    "wl_shm_pool": {
        "requests": _messages("create_buffer n:wl_buffer i i i i u", "destroy!"),
        "events": (),
    },
    "wl_buffer": {"requests": _messages("destroy!"), "events": _messages("release")},
    "zwlr_layer_shell_v1": {
        "requests": _messages("get_layer_surface n:zwlr_layer_surface_v1 o o u s"),
        "events": (),
    },
    "zwlr_layer_surface_v1": {
        "requests": _messages(
            "set_size u u",
            "set_anchor u",
            "set_exclusive_zone i",
            "set_margin i i i i",
            "set_keyboard_interactivity u",
            "get_popup o",
            "ack_configure u",
            "destroy!",
        ),
        "events": _messages("configure u u u", "closed"),
    },
    "wl_output": {
        "requests": _messages("release!"),
        "events": _messages(
            "geometry i i i i i s s i", "mode u i i i", "done", "scale i", "name s", "description s"
        ),
    },
    "zxdg_output_manager_v1": {
        "requests": _messages("destroy!", "get_xdg_output n:zxdg_output_v1 o"),
        "events": (),
    },
    "zxdg_output_v1": {
        "requests": _messages("destroy!"),
        "events": _messages("logical_position i i", "logical_size i i", "done", "name s"),
    },
    "zwlr_virtual_pointer_manager_v1": {
        "requests": _messages(
            "create_virtual_pointer o n:zwlr_virtual_pointer_v1",
            "destroy!",
            "create_virtual_pointer_with_output o o n:zwlr_virtual_pointer_v1",
        ),
        "events": (),
    },
    "zwlr_virtual_pointer_v1": {
        "requests": _messages(
            "motion u f f",
            "motion_absolute u u u u u",
            "button u u u",
            "axis u u f",
            "frame",
            "axis_source u",
            "axis_stop u u",
            "axis_discrete u u f i",
            "destroy!",
        ),
        "events": (),
    },
    "zwp_virtual_keyboard_manager_v1": {
        "requests": _messages("create_virtual_keyboard o n:zwp_virtual_keyboard_v1"),
        "events": (),
    },
    "zwp_virtual_keyboard_v1": {
        "requests": _messages("keymap u h u", "key u u u", "modifiers u u u u", "destroy!"),
        "events": (),
    },
    "zwlr_screencopy_manager_v1": {"requests": (), "events": ()},
}
